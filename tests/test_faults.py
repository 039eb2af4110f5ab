"""Faults: a Chroma server that dies or freezes mid-conversation, a store folder that cannot be created,
a read-only store and a store whose disk refuses writes. Each gives one clear line (StoreUnavailable in
Python, `error: …` from the CLI), never a traceback, and never damages the index already there.

What is simulated, and how (we run as root in CI, where chmod alone changes nothing):
- server death: SIGKILL of a real `chroma run`, then a restart on the same path and port;
- frozen server: SIGSTOP (requests would hang forever without the client timeout), then SIGCONT;
- read-only store: chmod a-w on a built store, opened by a child process that has dropped
  CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH, so root obeys file permissions like any user;
- full disk: a child process with RLIMIT_FSIZE at the store's current file sizes (SIGXFSZ ignored), so
  every write that grows a file fails with EFBIG — what SQLite sees on a full disk (an I/O error on
  write). A real ENOSPC needs a tiny filesystem (tmpfs/loop mount), which needs privileges CI lacks.
Not simulated: a store that turns read-only while a process has it open (open file descriptors keep
write access, so nothing fails), and network partitions other than a dead or frozen server.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ingest.store import StoreUnavailable
from tests.conftest import ROOT
from tests.support import ChromaServer, free_port

MANAGER = "My manager never talks about my career growth. What should I do?"
FOLLOW_UP = "What should I do first?"
SENIOR = "How do I get past senior manager?"
NEW_NOTE = (
    "---\ntitle: Zorblax ladder\nvideoId: AAAAAAAAAAA\n---\n# The Zorblax ladder\n\n"
    "The Zorblax ladder says you should write down every promise your manager makes. [00:01:05] "
    "Review the list together every quarter so nothing is forgotten. [00:02:10]\n"
)


def _settings(cache_dir: Path, **update: Any):  # type: ignore[no-untyped-def]
    from coach.settings import Settings

    return Settings(cache_dir=cache_dir, data_dir=ROOT / "data", **update)


def _ids(passages: list[Any]) -> list[str]:
    return [p.id for p in passages]


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "NO_COLOR": "1"}
    for name in ("COACH_DEBUG", "COACH_CHROMA_URL", "COACH_STORE_DIR"):  # only what the test itself sets
        env.pop(name, None)
    return {**env, **extra}


def _one_error_line(stderr: str, starts: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one error line, got: {stderr!r}"
    assert lines[0].startswith(starts), lines[0]
    assert "Traceback" not in stderr
    return lines[0]


# ---- a Chroma server that dies or freezes ----------------------------------------------------------
@pytest.fixture
def server(tmp_path: Path):  # type: ignore[no-untyped-def]
    srv = ChromaServer(tmp_path / "chroma-data").start()
    yield srv
    srv.stop()


def test_server_killed_mid_conversation_is_a_clear_error_and_the_same_coach_recovers(
    server: ChromaServer, tmp_path: Path, cache_dir: Path, bundled
) -> None:  # type: ignore[no-untyped-def]
    from coach import Coach

    settings = _settings(cache_dir, chroma_url=server.url, store_dir=tmp_path / "unused")
    coach = Coach.open(settings=settings)
    first = coach.ask(MANAGER)
    assert first.citations
    history = [("user", MANAGER), ("assistant", first.text)]

    server.kill()
    down = rf"the Chroma server at {server.url} is not reachable \(connection refused\)"
    with pytest.raises(StoreUnavailable, match=down) as info:
        coach.ask(FOLLOW_UP, history=history)
    assert "\n" not in str(info.value)
    with pytest.raises(StoreUnavailable, match=down):
        coach.retrieve(SENIOR)
    with pytest.raises(StoreUnavailable, match=down):
        list(coach.ask_stream(SENIOR))
    with pytest.raises(StoreUnavailable, match=down):
        coach.ingest([settings.data_dir])
    with pytest.raises(StoreUnavailable, match=down):
        Coach.open(settings=settings)

    server.start()  # same path, same port: the same Coach object answers again
    again = coach.ask(FOLLOW_UP, history=history)
    assert again.to_dict() == bundled.ask(FOLLOW_UP, history=history).to_dict()
    assert again.citations
    assert _ids(coach.retrieve(SENIOR, k=8)) == _ids(bundled.retrieve(SENIOR, k=8))
    report = coach.ingest([settings.data_dir])  # nothing was lost or half-written
    assert (report.chunks_added, report.chunks_removed, report.errors) == (0, 0, [])


def test_frozen_server_times_out_instead_of_hanging_then_recovers(
    server: ChromaServer, tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from coach import Coach
    from ingest import store

    settings = _settings(cache_dir, chroma_url=server.url, store_dir=tmp_path / "unused")
    Coach.open(settings=settings)  # build with the normal timeouts
    monkeypatch.setattr(store, "HTTP_TIMEOUT_S", 2.0)
    monkeypatch.setattr(store, "CONNECT_TIMEOUT_S", 2.0)
    coach = Coach.open(settings=settings)
    expected = _ids(coach.retrieve(SENIOR))

    server.freeze()
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=rf"the Chroma server at {server.url} is not reachable \(timed out\)"):
        coach.ask(SENIOR)
    assert time.monotonic() - started < 20, "a frozen server must not hang a question"

    server.thaw()
    assert _ids(coach.retrieve(SENIOR)) == expected
    assert coach.ask(SENIOR).citations


def test_cli_says_one_line_when_the_server_is_down(tmp_path: Path, cache_dir: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = _env(COACH_CHROMA_URL=url, COACH_CACHE_DIR=str(cache_dir), COACH_STORE_DIR=str(tmp_path / "unused"))
    run = subprocess.run(
        [sys.executable, "-m", "coach.cli", "ask", SENIOR], capture_output=True, text=True, env=env, cwd=ROOT, timeout=300
    )
    assert run.returncode == 1
    line = _one_error_line(run.stderr, f"error: the Chroma server at {url} is not reachable (connection refused)")
    assert "COACH_DEBUG" not in line, "a store outage is a readable error, not an internal one"
    assert run.stdout.strip() == ""


# ---- local store folders -----------------------------------------------------------------------------
def test_store_folder_under_a_regular_file_is_a_clear_error(tmp_path: Path, cache_dir: Path) -> None:
    from coach import Coach

    blocker = tmp_path / "notes.txt"
    blocker.write_text("I am a file, not a folder", encoding="utf-8")
    store_dir = blocker / "store"
    with pytest.raises(StoreUnavailable, match=rf"{blocker} is a file, not a folder") as info:
        Coach.open(settings=_settings(cache_dir, store_dir=store_dir))
    assert "\n" not in str(info.value)
    assert blocker.read_text(encoding="utf-8") == "I am a file, not a folder"

    run = subprocess.run(
        [sys.executable, "-m", "coach.cli", "retrieve", SENIOR, "--store", str(store_dir)],
        capture_output=True, text=True, env=_env(COACH_CACHE_DIR=str(cache_dir)), cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert run.returncode == 1
    _one_error_line(run.stderr, f"error: cannot use {store_dir} as the store folder: {blocker} is a file")


_CHILD = r"""
import ctypes, faulthandler, json, os, resource, signal, sys
from pathlib import Path

faulthandler.dump_traceback_later(240, exit=True)  # a hang shows where it is stuck, then ends the child

mode, store_dir, cache_dir, data_dir, new_file = sys.argv[1:6]
out = {}


def drop_dac() -> None:
    # Root ignores file permissions through CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH: give both up.
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        libc.prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP (fails harmlessly when not root)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    header, data = Header(0x20080522, 0), (Data * 2)()
    if libc.capget(ctypes.byref(header), data) == 0:
        for field in ("effective", "permitted", "inheritable"):
            setattr(data[0], field, getattr(data[0], field) & ~0b110)
        libc.capset(ctypes.byref(header), data)


if mode == "readonly":
    drop_dac()
    try:
        open(os.path.join(store_dir, "chroma.sqlite3"), "ab").close()
        out["can_write"] = True
    except OSError:
        out["can_write"] = False
elif mode == "diskfull":
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    biggest = max(p.stat().st_size for p in Path(store_dir).rglob("*") if p.is_file())
    resource.setrlimit(resource.RLIMIT_FSIZE, (biggest, biggest))

from coach import Coach
from coach.settings import Settings
from ingest.store import StoreUnavailable

settings = Settings(store_dir=Path(store_dir), cache_dir=Path(cache_dir), data_dir=Path(data_dir))
try:
    coach = Coach.open(settings=settings)
    out["opened"] = True
except StoreUnavailable as exc:
    out["opened"], out["open_error"] = False, str(exc)
if out["opened"]:
    try:
        report = coach.ingest([new_file])
        out["ingest"] = {"added": report.chunks_added, "errors": [f.message for f in report.errors]}
    except StoreUnavailable as exc:
        out["ingest_error"] = str(exc)
    out["ids_after"] = [p.id for p in coach.retrieve("How do I get past senior manager?", k=5)]
print("RESULT " + json.dumps(out), flush=True)
if mode == "diskfull":
    # The CLI runs in a fresh process, as a user runs it (_cli_with_full_disk): a second Chroma client
    # opened in this process after the failed write can wait forever on the first one's connection.
    sys.exit(0)
from coach.cli import main
sys.stderr.write("--- cli ---\n")
sys.stderr.flush()
try:
    main(["ingest", new_file, "--store", store_dir])
except SystemExit as exc:
    print("CLI_EXIT " + str(exc.code), flush=True)
"""


def _child(mode: str, store_dir: Path, cache_dir: Path, new_file: Path) -> tuple[dict[str, Any], int, str]:
    run = subprocess.run(
        [sys.executable, "-c", _CHILD, mode, str(store_dir), str(cache_dir), str(ROOT / "data"), str(new_file)],
        capture_output=True, text=True, env=_env(COACH_CACHE_DIR=str(cache_dir)), cwd=ROOT, timeout=300,
    )  # fmt: skip
    result = next((json.loads(line[7:]) for line in run.stdout.splitlines() if line.startswith("RESULT ")), None)
    assert result is not None, f"child failed: {run.stdout[-2000:]} {run.stderr[-3000:]}"
    code = next((int(line.split()[1]) for line in run.stdout.splitlines() if line.startswith("CLI_EXIT ")), -1)
    return result, code, run.stderr.split("--- cli ---\n", 1)[-1]


def _cli_with_full_disk(store_dir: Path, cache_dir: Path, new_file: Path) -> subprocess.CompletedProcess[str]:
    """`coach ingest` in its own process whose files cannot grow past the store's current sizes."""
    biggest = max(p.stat().st_size for p in store_dir.rglob("*") if p.is_file())

    def no_room() -> None:
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # stays ignored across exec: writes fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (biggest, biggest))

    return subprocess.run(
        [sys.executable, "-X", "faulthandler", "-m", "coach.cli", "ingest", str(new_file), "--store", str(store_dir)],
        capture_output=True, text=True, env=_env(COACH_CACHE_DIR=str(cache_dir)), cwd=ROOT, timeout=300,
        preexec_fn=no_room,
    )  # fmt: skip


def _fingerprint(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def built_store(tmp_path: Path, cache_dir: Path) -> dict[str, Any]:
    """A store built from the bundled corpus in this process, and what it answers."""
    from coach import Coach

    store_dir = tmp_path / "store"
    coach = Coach.open(settings=_settings(cache_dir, store_dir=store_dir))
    new_file = tmp_path / "zorblax.md"
    new_file.write_text(NEW_NOTE, encoding="utf-8")
    return {"dir": store_dir, "coach": coach, "ids": _ids(coach.retrieve(SENIOR, k=5)), "new_file": new_file}


def _verify_copy(store_dir: Path, tmp_path: Path, cache_dir: Path, ids: list[str], new_file: Path) -> None:
    """A copy of the store, opened fresh (nothing cached from the process that built it): still whole."""
    from coach import Coach

    copy = tmp_path / "verify-copy"
    shutil.copytree(store_dir, copy)
    coach = Coach.open(settings=_settings(cache_dir, store_dir=copy))
    assert coach.startup_report is None, "the index must still be complete"
    assert _ids(coach.retrieve(SENIOR, k=5)) == ids
    assert coach.ask(SENIOR).citations
    report = coach.ingest([new_file])  # and it takes writes again once the fault is gone
    assert report.chunks_added > 0
    assert coach.retrieve("Zorblax ladder promises", k=1)[0].video_id == "AAAAAAAAAAA"


def test_read_only_store_answers_refuses_writes_in_one_line_and_is_untouched(
    built_store: dict[str, Any], tmp_path: Path, cache_dir: Path
) -> None:
    store_dir: Path = built_store["dir"]
    before = _fingerprint(store_dir)
    modes: dict[Path, int] = {}
    try:
        for p in [store_dir, *store_dir.rglob("*")]:
            modes[p] = p.stat().st_mode
            p.chmod(stat.S_IMODE(modes[p]) & ~0o222)
        result, cli_code, cli_err = _child("readonly", store_dir, cache_dir, built_store["new_file"])
    finally:
        for p, mode in modes.items():
            p.chmod(stat.S_IMODE(mode))
    if result["can_write"]:
        pytest.skip("could not make the store read-only for the child process (capabilities not droppable here)")
    assert result["opened"] is True, result  # answered from a copy
    assert result["ids_after"] == built_store["ids"], "a read-only store answers as before"
    assert result["ingest_error"].startswith(
        f"the Chroma store at {store_dir} cannot take new sources (the store is read-only)"
    ), result
    assert cli_code == 1
    _one_error_line(cli_err, f"error: the Chroma store at {store_dir} cannot take new sources (the store is read-only)")
    assert _fingerprint(store_dir) == before, "a read-only open must not change a byte of the store"
    _verify_copy(store_dir, tmp_path, cache_dir, built_store["ids"], built_store["new_file"])


def test_full_disk_during_ingestion_is_a_clear_error_and_the_index_survives(
    built_store: dict[str, Any], tmp_path: Path, cache_dir: Path
) -> None:
    store_dir: Path = built_store["dir"]
    # The fault is "no file may grow": the new source must need new pages, not fit in SQLite's free ones.
    big = built_store["new_file"]
    big.write_text(NEW_NOTE + "".join(
        f"Zorblax rung {i} asks for a note of what was promised and when. [00:{3 + i // 60:02d}:{i % 60:02d}]\n\n"
        for i in range(400)
    ), encoding="utf-8")  # fmt: skip
    result, _, _ = _child("diskfull", store_dir, cache_dir, big)
    assert result["opened"] is True, result  # reading needs no room
    assert "ingest" not in result, f"the ingest must fail, not report success: {result}"
    assert result["ingest_error"].startswith(f"the Chroma store at {store_dir} cannot be used ("), result
    assert "disk has space" in result["ingest_error"]
    assert result["ids_after"] == built_store["ids"], "the failing process still answers from the old index"
    cli = _cli_with_full_disk(store_dir, cache_dir, built_store["new_file"])
    assert cli.returncode == 1, cli.stderr[-6000:]
    _one_error_line(cli.stderr, f"error: the Chroma store at {store_dir} cannot be used (")
    _verify_copy(store_dir, tmp_path, cache_dir, built_store["ids"], built_store["new_file"])


def test_unwritable_model_cache_is_a_clear_error(tmp_path: Path) -> None:
    """The ONNX backends' one-off export needs a writable cache folder; without one the CLI says where and what to do."""
    blocker = tmp_path / "cache-is-a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    env = _env(COACH_CACHE_DIR=str(blocker / "coach"), COACH_EMBED_BACKEND="onnx-int8")
    run = subprocess.run(
        [sys.executable, "-m", "coach.cli", "retrieve", SENIOR, "--store", str(tmp_path / "store")],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert run.returncode == 1
    line = _one_error_line(run.stderr, f"error: cannot write the embedding model to {blocker / 'coach'}")
    assert "COACH_CACHE_DIR" in line
    assert "COACH_DEBUG" not in line
    assert not list(tmp_path.rglob("*.tmp")), "no half-written model file is left behind"
