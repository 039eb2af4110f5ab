"""One store, many processes: writers take turns, readers keep answering while another process writes.

Every process here is a real `python -m coach.cli …` (or a `coach serve` answering a gradio_client), on
a real embedded store or a real `chroma run` server, as people run them side by side.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.support import ChromaServer, cli_env, error_lines, free_port, run_cli, start_cli

WORDS = ["Quorvex", "Blentara", "Smiddle", "Tharnok", "Vexlund", "Prazzle", "Gorbant", "Wimsey"]


def _note(tag: str, i: int) -> str:
    """A small notes file whose made-up framework can only be found in it."""
    name = f"{tag} {WORDS[i % len(WORDS)]} {i}"
    lines = [f"---\ntitle: The {name} method\nvideoId: {tag[:3].upper()}{i:08d}\n---\n# The {name} method\n"]
    for s in range(6):
        lines.append(
            f"The {name} method asks you to {['write', 'share', 'review', 'plan', 'measure', 'celebrate'][s]} "
            f"your weekly {tag.lower()} goals with a peer. [00:{s + 1:02d}:1{s}] "
            f"People who tried the {name} method said the {tag.lower()} habit stuck after step {s + 1}. "
            f"[00:{s + 1:02d}:4{s}]\n"
        )
    return "\n".join(lines)


def _folder(root: Path, tag: str, n: int) -> Path:
    folder = root / tag
    folder.mkdir(parents=True)
    for i in range(n):
        (folder / f"{tag.lower()}-{i}.md").write_text(_note(tag, i), encoding="utf-8")
    return folder


def _finish(proc: subprocess.Popen[str], timeout: float = 600) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _check_whole(settings: Any, tags: list[str], per_tag: int) -> None:
    """A fresh process's view: every committed chunk has its vector, and each writer's files answer."""
    from coach import Coach
    from ingest.store import read_all

    coach = Coach.open(settings=settings)
    records = coach.store.records()
    committed = coach.store.committed_ids(records)
    with coach.store.reading():
        got = read_all(coach.store.chunks, ["embeddings"])
    with_vectors = {cid for cid, vec in zip(got["ids"], got["embeddings"], strict=True) if vec is not None}
    assert committed <= with_vectors, f"{len(committed - with_vectors)} committed chunks have no vector"
    for tag in tags:
        mine = [r for r in records.values() if Path(r.path).parent.name == tag]
        assert len(mine) == per_tag, f"{tag}: {len(mine)} of {per_tag} files recorded"
        name = f"{tag} {WORDS[1]} 1"
        hits = coach.retrieve(f"the {name} method weekly goals", k=3)
        assert any(name in h.text for h in hits), [h.text[:80] for h in hits]


def _two_writers(store_args: list[str], env: dict[str, str], root: Path) -> list[tuple[int, str, str]]:
    first, second = _folder(root, "Alpha", 6), _folder(root, "Bravo", 6)
    procs = [start_cli("ingest", str(first), *store_args, env=env)]
    time.sleep(1.0)  # the second starts while the first is loading its model or writing
    procs.append(start_cli("ingest", str(second), *store_args, env=env))
    return [_finish(p) for p in procs]


def test_two_ingests_at_once_on_a_local_store_end_with_both(
    tmp_path: Path, cache_dir: Path, settings, prebuilt_store: Path
) -> None:  # type: ignore[no-untyped-def]
    # the bundled index is in place (prebuilt_store = settings.store_dir), as after a user's first run
    runs = _two_writers(["--store", str(settings.store_dir)], cli_env(cache_dir), tmp_path)
    for code, _out, err in runs:
        assert code == 0, err[-3000:]
        assert "Traceback" not in err
    _check_whole(settings, ["Alpha", "Bravo"], 6)


def test_two_ingests_at_once_on_a_chroma_server_end_with_both(
    tmp_path: Path, cache_dir: Path, empty_chroma: ChromaServer
) -> None:
    from coach.settings import Settings

    env = cli_env(cache_dir, COACH_CHROMA_URL=empty_chroma.url)
    runs = _two_writers([], env, tmp_path)
    for code, _, err in runs:
        assert code == 0, err[-3000:]
    settings = Settings(chroma_url=empty_chroma.url, cache_dir=cache_dir, data_dir=ROOT / "data")
    _check_whole(settings, ["Alpha", "Bravo"], 6)


def test_a_second_writer_waits_and_says_who_holds_the_store(
    tmp_path: Path, cache_dir: Path, settings, prebuilt_store: Path
) -> None:  # type: ignore[no-untyped-def]
    from ingest.locking import LocalLocks

    folder = _folder(tmp_path, "Charlie", 1)
    store = ["--store", str(settings.store_dir)]
    locks = LocalLocks(settings.store_dir)
    with locks.writer(wait_s=0):
        code, _, err = run_cli("ingest", str(folder), *store, env=cli_env(cache_dir, COACH_WRITER_WAIT_S="0"))
        assert code == 1
        lines = error_lines(err)
        assert len(lines) == 1, err
        assert lines[0].startswith("error: another process is writing to this store"), err
        assert f"pid {os.getpid()}" in lines[0]
        waiting = start_cli("ingest", str(folder), *store, env=cli_env(cache_dir))
        time.sleep(12)  # long enough to load the model and reach the lock
        assert waiting.poll() is None, "the second writer must wait while the lock is held"
    code, out, err = _finish(waiting)
    assert code == 0, err[-3000:]
    assert "waiting for the store" in err
    assert f"pid {os.getpid()}" in err
    assert "Charlie" in out or "charlie-0.md" in out


@pytest.mark.timeout(900)
def test_serve_keeps_answering_while_another_process_ingests_twice(
    tmp_path: Path, cache_dir: Path, settings, prebuilt_store: Path
) -> None:  # type: ignore[no-untyped-def]
    from gradio_client import Client

    port = free_port()
    env = cli_env(cache_dir)
    serve = subprocess.Popen(
        [sys.executable, "-m", "coach.cli", "serve", "--port", str(port), "--store", str(settings.store_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=ROOT, start_new_session=True,
    )  # fmt: skip
    try:
        url = _wait_for_url(serve, port)
        client = Client(url, verbose=False)
        failures: list[str] = []
        answered = 0
        stop = threading.Event()

        def load() -> None:
            nonlocal answered
            while not stop.is_set():
                try:
                    reply = client.predict("How do I get past senior manager?", [], "", "", "", api_name="/chat")
                    if not reply.get("citations"):
                        failures.append(f"no citations: {str(reply)[:200]}")
                    answered += 1
                except Exception as exc:  # every failure counts, whatever its kind
                    failures.append(repr(exc)[:300])

        worker = threading.Thread(target=load, daemon=True)
        worker.start()
        for tag in ("Delta", "Echo"):
            code, _, err = run_cli("ingest", str(_folder(tmp_path, tag, 3)), "--store", str(settings.store_dir), env=env)
            assert code == 0, err[-3000:]
        time.sleep(2)
        stop.set()
        worker.join(timeout=120)
        assert answered >= 5, f"only {answered} answers during the ingests"
        assert failures == [], failures[:5]
        for tag in ("Delta", "Echo"):
            name = f"{tag} {WORDS[1]} 1"
            reply = client.predict(f"How does the {name} method work?", [], "", "", "", api_name="/chat")
            assert any(name in c["quote"] or name in c["title"] for c in reply["citations"]), reply["citations"]
    finally:
        os.killpg(serve.pid, 15)
        serve.wait(timeout=30)


def _wait_for_url(proc: subprocess.Popen[str], port: int, timeout: float = 240) -> str:
    import urllib.request

    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"coach serve exited with {proc.returncode}: {proc.stdout.read() if proc.stdout else ''}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return url
        except OSError:
            time.sleep(0.5)
    pytest.fail("coach serve did not answer in time")
