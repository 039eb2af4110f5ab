"""SIGKILL mid-ingestion, and the `coach` command as a user runs it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from ingest.pipeline import ingest_paths
from ingest.store import ChunkStore, IndexConfig, connect
from tests.conftest import CORPUS, NOTES, ROOT
from tests.support import coach_cli as _coach

_INGEST_SCRIPT = """
import sys
from pathlib import Path
from ingest.embedding import LocalEmbedder
from ingest.pipeline import ingest_paths
from ingest.store import ChunkStore, IndexConfig, connect
emb = LocalEmbedder("auto", cache_dir=Path(sys.argv[2]))
store = ChunkStore(connect(sys.argv[1], None), IndexConfig(emb.model_id, 128, 16))
def progress(done, total, name):
    print("PROGRESS", done, total, flush=True)
ingest_paths(sys.argv[3:], store, emb, progress=progress)
print("DONE", flush=True)
"""


def _env(**extra: str) -> dict[str, str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), **extra}
    env.pop("COACH_DEBUG", None)
    return env


def test_sigkill_mid_ingestion_keeps_previous_index_and_next_run_completes(
    tmp_path: Path, embedder, cache_dir: Path
) -> None:  # type: ignore[no-untyped-def]
    # Each run in its own process, as `coach ingest` would be (a persistent Chroma directory
    # caches state per process, so the checking process must not hold it open meanwhile).
    store_dir = tmp_path / "store"
    first = subprocess.run(
        [sys.executable, "-c", _INGEST_SCRIPT, str(store_dir), str(cache_dir), str(NOTES)],
        capture_output=True, text=True, env=_env(), cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert "DONE" in first.stdout, first.stderr
    episodes = [str(CORPUS / n / "transcript.md") for n in ("ada-chen-rekhi", "ethan-evans", "wes-kao", "julie-zhuo")]
    proc = subprocess.Popen(
        [sys.executable, "-c", _INGEST_SCRIPT, str(store_dir), str(cache_dir), *episodes],
        stdout=subprocess.PIPE, text=True, env=_env(), cwd=ROOT,
    )  # fmt: skip
    assert proc.stdout is not None
    deadline = time.monotonic() + 300
    for line in proc.stdout:  # kill once the second file is being embedded and written
        if line.startswith("PROGRESS 2 ") or time.monotonic() > deadline:
            time.sleep(0.3)
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    reopened = ChunkStore(connect(str(store_dir), None), IndexConfig(embedder.model_id, 128, 16))
    notes_key = str(NOTES.resolve())
    assert notes_key in reopened.records()  # the previous index is intact
    before = set(reopened.records()[notes_key].chunk_ids)
    assert before <= {c.id for c in reopened.all_chunks()}
    from coach.retrieval import Retriever

    hits = Retriever(reopened, embedder).retrieve("steps of the magic loop", k=3)
    assert hits
    assert all(h.id in reopened.committed_ids() for h in hits)

    report = ingest_paths(episodes, reopened, embedder)
    assert not report.errors
    assert {c.id for c in reopened.all_chunks()} == reopened.committed_ids()  # no orphans left
    names = {c.meta["source_name"] for c in reopened.all_chunks()}
    assert {"ada-chen-rekhi", "ethan-evans", "wes-kao", "julie-zhuo"} <= names


def test_cli_retrieve_json_and_ingest_summary(tmp_path: Path, cache_dir: Path) -> None:
    store = tmp_path / "store"
    res = _coach("retrieve", "how do I get past senior manager", "-k", "3", "--json", store=store, cache=cache_dir)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert len(data["passages"]) == 3
    first = data["passages"][0]
    assert {"text", "video_id", "start", "end", "title", "guest", "score", "source", "url"} <= first.keys()
    assert first["url"] == f"https://www.youtube.com/watch?v={first['video_id']}&t={first['start']}s"
    assert any("senior manager" in p["text"].lower() for p in data["passages"])

    bad = tmp_path / "bad.md"
    bad.write_bytes(b"PK\x03\x04\x00\x00 a zip archive renamed .md")
    res = _coach("ingest", str(NOTES.parent), str(bad), "--json", store=store, cache=cache_dir)
    assert res.returncode == 1, "a file that failed makes the run fail, though the others were ingested"
    summary = json.loads(res.stdout)
    assert summary["chunks_added"] == 0
    assert summary["chunks_unchanged"] > 0
    assert len(summary["errors"]) == 1
    assert "binary" in summary["errors"][0]["message"]

    res = _coach("ingest", str(NOTES.parent), store=store, cache=cache_dir)
    assert res.returncode == 0
    assert "unchanged" in res.stdout
    assert "Traceback" not in res.stdout + res.stderr


def test_cli_errors_are_one_line_not_tracebacks(tmp_path: Path, cache_dir: Path) -> None:
    res = _coach("retrieve", "   ", store=tmp_path / "s", cache=cache_dir)
    assert res.returncode == 2
    assert "query is empty" in res.stderr
    assert "Traceback" not in res.stderr
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    res = _coach("retrieve", "magic loop", store=blocker / "store", cache=cache_dir)
    assert res.returncode == 1
    assert "error:" in res.stderr
    assert "Traceback" not in res.stderr
