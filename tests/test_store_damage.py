"""A damaged or unwritable store: one accurate line, nothing deleted or rebuilt over data without the
user's say-so, `coach repair` mends what can be mended, and a store that cannot be written still answers.

Faults are real: a manifest collection dropped through chromadb, a database cut to nothing or to half,
chunk rows deleted behind the manifest's back, a read-only bind mount and a full tmpfs (mounted by the
test, which runs as root in CI like here).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.support import cli_env, error_lines, run_cli

SENIOR = "How do I get past senior manager?"
NOTE = (
    "---\ntitle: Zorblax ladder\nvideoId: AAAAAAAAAAA\n---\n# The Zorblax ladder\n\n"
    "The Zorblax ladder says you should write down every promise your manager makes. [00:01:05] "
    "Review the list together every quarter so nothing is forgotten. [00:02:10]\n"
)


def _raw(store_dir: Path) -> Any:
    import chromadb
    from chromadb.config import Settings

    return chromadb.PersistentClient(path=str(store_dir), settings=Settings(anonymized_telemetry=False))


def _counts(store_dir: Path) -> dict[str, int]:
    """Rows per collection, read in a fresh process so nothing cached here answers for the files."""
    code = (
        "import chromadb, json, sys\nfrom chromadb.config import Settings\n"
        "c = chromadb.PersistentClient(path=sys.argv[1], settings=Settings(anonymized_telemetry=False))\n"
        "print(json.dumps({x.name: x.count() for x in c.list_collections()}))"
    )
    import sys

    run = subprocess.run([sys.executable, "-c", code, str(store_dir)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr[-2000:]
    return dict(json.loads(run.stdout))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    """A store with the bundled notes and one more source, built once by the CLI as a user builds it."""
    folder = tmp_path_factory.mktemp("damage")
    note = folder / "zorblax.md"
    note.write_text(NOTE, encoding="utf-8")
    code, _, err = run_cli("ingest", str(ROOT / "data"), str(note), "--store", str(folder / "store"),
                           env=cli_env(cache_dir))  # fmt: skip
    assert code == 0, err[-3000:]
    return folder / "store"


@pytest.fixture
def store(built: Path, tmp_path: Path) -> Path:
    """This test's own copy of `built` (the files of a finished `coach ingest`), to damage as it likes."""
    (tmp_path / "zorblax.md").write_text(NOTE, encoding="utf-8")
    shutil.copytree(built, tmp_path / "store")
    return tmp_path / "store"


def _retrieve(store_dir: Path, cache_dir: Path, query: str = SENIOR) -> tuple[int, str, str]:
    return run_cli("retrieve", query, "-k", "3", "--store", str(store_dir), env=cli_env(cache_dir))


def _one_line(stderr: str, *parts: str) -> str:
    lines = error_lines(stderr)
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


def test_lost_manifest_is_reported_then_repaired_without_losing_a_chunk(store: Path, cache_dir: Path) -> None:
    before = _counts(store)
    chunks_name = next(n for n in before if not n.endswith("_manifest"))
    _raw(store).delete_collection(f"{chunks_name}_manifest")
    code, _, err = _retrieve(store, cache_dir)
    assert code == 1
    _one_line(err, f"the store at {store} is damaged", "manifest is missing", "coach repair")
    assert _counts(store)[chunks_name] == before[chunks_name], "a refused open must not delete chunks"

    code, out, err = run_cli("repair", "--store", str(store), env=cli_env(cache_dir))
    assert code == 0, err[-3000:]
    assert "rebuilt the lost manifest: 2 source(s)" in out
    after = _counts(store)
    assert after[chunks_name] == before[chunks_name]
    assert after[f"{chunks_name}_manifest"] == before[f"{chunks_name}_manifest"]
    code, out, err = _retrieve(store, cache_dir, "Zorblax ladder promises")
    assert code == 0, err
    assert "Zorblax" in out
    code, out, err = run_cli("ask", SENIOR, "--json", "--store", str(store), env=cli_env(cache_dir))
    assert code == 0, err
    card = json.loads(out)["framework"]
    assert card, "the frameworks came back with the re-read sources"
    assert card["name"].startswith("Breaking Through"), card["name"]


@pytest.mark.parametrize("cut", ["empty", "half"])
def test_a_damaged_database_is_refused_not_replaced_and_repair_sets_it_aside(
    store: Path, cache_dir: Path, cut: str
) -> None:
    database = store / "chroma.sqlite3"
    size = database.stat().st_size
    os.truncate(database, 0 if cut == "empty" else size // 2)
    left = sorted(p.name for p in store.iterdir())
    code, _, err = _retrieve(store, cache_dir)
    assert code == 1
    what = "is empty (0 bytes)" if cut == "empty" else "is not a readable SQLite database"
    _one_line(err, f"the store at {store} is damaged", what, "nothing was changed", "coach repair")
    assert "writable" not in err, "damage is not a permissions problem"
    assert database.stat().st_size == (0 if cut == "empty" else size // 2), "the database must not be replaced"
    assert sorted(p.name for p in store.iterdir()) == left

    code, out, err = run_cli("repair", "--store", str(store), env=cli_env(cache_dir))
    assert code == 0, err[-3000:]
    aside = [p for p in store.parent.iterdir() if p.name.startswith("store.damaged-")]
    assert len(aside) == 1, out
    assert str(aside[0]) in out.replace("\n", "")
    assert sorted(p.name for p in aside[0].iterdir()) == left, "the damaged store is kept whole"
    code, out, err = _retrieve(store, cache_dir)
    assert code == 0, err
    assert "senior manager" in out.lower()


def test_chunks_gone_behind_the_manifest_are_dropped_and_ingested_again(store: Path, cache_dir: Path) -> None:
    from ingest.store import SourceRecord

    client = _raw(store)
    name = next(c.name for c in client.list_collections() if not c.name.endswith("_manifest"))
    manifest = client.get_collection(f"{name}_manifest")
    got = manifest.get(include=["documents"])
    bundled = next(
        SourceRecord(**json.loads(doc)) for rid, doc in zip(got["ids"], got["documents"], strict=True)
        if not rid.startswith("__") and "ethan-evans" in rid
    )  # fmt: skip
    client.get_collection(name).delete(ids=bundled.chunk_ids[:5])
    del client, manifest
    code, out, err = run_cli("repair", "--store", str(store), env=cli_env(cache_dir))
    assert code == 0, err[-3000:]
    assert f"5 of {len(bundled.chunk_ids)} chunk(s) had no vector" in out
    assert _counts(store)[name] >= len(bundled.chunk_ids), "the source was ingested again in full"
    code, out, err = run_cli("repair", "--store", str(store), env=cli_env(cache_dir))
    assert code == 0
    assert "nothing to repair" in out


@contextlib.contextmanager
def _mounted(target: Path, *options: str) -> Iterator[None]:
    target.mkdir(parents=True, exist_ok=True)
    run = subprocess.run(["mount", *options, str(target)], capture_output=True, text=True)
    if run.returncode != 0:  # tests/test_faults.py covers the same faults without mounting (capabilities, rlimit)
        pytest.skip(f"cannot mount here (needs root with CAP_SYS_ADMIN): {run.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True)


def test_a_read_only_store_answers_and_refuses_new_sources_in_one_line(
    store: Path, tmp_path: Path, cache_dir: Path
) -> None:
    view = tmp_path / "read-only-view"
    with _mounted(view, "--bind", "-o", "ro", str(store)):
        code, out, err = run_cli("ask", SENIOR, "--store", str(view), env=cli_env(cache_dir))
        assert code == 0, err
        assert "senior manager" in out.lower()
        assert "cannot be written (the store is read-only): answering from a temporary copy" in err
        code, out, err = _retrieve(view, cache_dir, "Zorblax ladder promises")
        assert code == 0, err
        assert "Zorblax" in out
        code, _, err = run_cli("ingest", str(tmp_path / "zorblax.md"), "--store", str(view), env=cli_env(cache_dir))
        assert code == 1
        _one_line(err, f"the Chroma store at {view} cannot take new sources (the store is read-only)")


def test_a_full_disk_keeps_the_old_index_answering(store: Path, tmp_path: Path, cache_dir: Path) -> None:
    disk = tmp_path / "small-disk"
    with _mounted(disk, "-t", "tmpfs", "-o", "size=16m", "tmpfs"):
        shutil.copytree(store, disk / "store")
        with contextlib.suppress(OSError), (disk / "filler").open("wb", buffering=0) as filler:
            while True:  # until the disk refuses
                filler.write(b"\0" * (1 << 20))
        assert shutil.disk_usage(disk).free < 64 * 1024
        code, out, err = run_cli("ask", SENIOR, "--store", str(disk / "store"), env=cli_env(cache_dir))
        assert code == 0, err
        assert "senior manager" in out.lower()
        assert "cannot be written (database or disk is full)" in err
        extra = tmp_path / "extra.md"
        extra.write_text(
            "---\ntitle: Quibbix review\nvideoId: BBBBBBBBBBB\n---\n# The Quibbix review\n\n"
            "The Quibbix review asks you to list three wins before every quarterly check-in. [00:03:05]\n",
            encoding="utf-8",
        )
        code, _, err = run_cli("ingest", str(extra), "--store", str(disk / "store"), env=cli_env(cache_dir))
        assert code == 1
        _one_line(err, f"the Chroma store at {disk / 'store'} cannot take new sources (database or disk is full)")
        (disk / "filler").unlink()  # room again: the same store takes the new source
        code, out, err = run_cli("ingest", str(extra), "--store", str(disk / "store"), env=cli_env(cache_dir))
        assert code == 0, err
        code, out, err = _retrieve(disk / "store", cache_dir, "Quibbix review wins")
        assert code == 0, err
        assert "Quibbix" in out
