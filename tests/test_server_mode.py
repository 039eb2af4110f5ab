"""Server mode: the same Coach against a real `chroma run` server behaves like the embedded store.

The server is the session's (tests/conftest.py `chroma_server`), emptied when this module starts; the module's
tests then build on each other's state, in order, as one deployment's life does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT
from tests.support import ChromaServer

QUESTIONS = [
    "How do I get past senior manager?",
    "My manager never talks about my career growth. What should I do?",
    "What did Ethan learn from the App Store launch failure?",
    "What's a good recipe for lasagna?",  # declined the same way in both modes
]


# ---- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server_settings(chroma_server: ChromaServer, tmp_path_factory: pytest.TempPathFactory, cache_dir: Path):  # type: ignore[no-untyped-def]
    from coach.settings import Settings

    chroma_server.wipe()

    unused = tmp_path_factory.mktemp("server-mode") / "local-store"  # must stay untouched in server mode
    return Settings(chroma_url=chroma_server.url, store_dir=unused, cache_dir=cache_dir, data_dir=ROOT / "data")


@pytest.fixture(scope="module")
def served(server_settings):  # type: ignore[no-untyped-def]
    """A Coach whose index lives on the Chroma server (built there on first use)."""
    from coach import Coach

    return Coach.open(settings=server_settings)


def _ids(passages: list[Any]) -> list[str]:
    return [p.id for p in passages]


def _where(p: Any) -> tuple[Any, ...]:
    return p.start, p.end, p.video_id, p.title, p.text


# ---- tests ------------------------------------------------------------------------------------------
def test_first_open_builds_the_bundled_index_on_the_server(
    served, bundled, server_settings, chroma_server: ChromaServer
) -> None:  # type: ignore[no-untyped-def]
    from coach import Coach

    report = served.startup_report
    assert report is not None, "the first open against an empty server must build the bundled index"
    assert report.chunks_added == bundled.store.count() > 0
    assert not report.errors
    assert served.store.place.server
    assert served.store.place.where == chroma_server.url
    assert served.store.committed_ids() == bundled.store.committed_ids()
    assert (chroma_server.path / "chroma.sqlite3").is_file(), "the vectors live in the server's directory"
    assert not server_settings.store_dir.exists(), "server mode must not create a local store"
    again = Coach.open(settings=server_settings)
    assert again.startup_report is None, "a complete index on the server is not rebuilt"
    assert again.store.count() == bundled.store.count()


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_retrieve_is_the_same_as_with_the_embedded_store(served, bundled, mode: str) -> None:  # type: ignore[no-untyped-def]
    for question in QUESTIONS:
        remote, local = served.retrieve(question, k=8, mode=mode), bundled.retrieve(question, k=8, mode=mode)
        assert _ids(remote) == _ids(local), question
        assert [p.score for p in remote] == pytest.approx([p.score for p in local], abs=1e-3)
        assert [_where(p) for p in remote] == [_where(p) for p in local]


def test_ask_is_the_same_as_with_the_embedded_store(served, bundled) -> None:  # type: ignore[no-untyped-def]
    answered = 0
    for question in QUESTIONS:
        remote, local = served.ask(question), bundled.ask(question)
        assert remote.text == local.text, question
        assert [c.to_dict() for c in remote.citations] == [c.to_dict() for c in local.citations], question
        assert (remote.refused, remote.framework, remote.notices) == (local.refused, local.framework, local.notices)
        answered += bool(remote.citations)
    assert answered >= 3, "the comparison must cover cited answers, not only refusals"

    history = [("user", QUESTIONS[1]), ("assistant", bundled.ask(QUESTIONS[1]).text)]
    follow_up = "What should I do first?"
    assert served.ask(follow_up, history=history).to_dict() == bundled.ask(follow_up, history=history).to_dict()
    final = [e.answer for e in served.ask_stream(QUESTIONS[0]) if e.kind == "final"]
    assert len(final) == 1
    assert final[0].to_dict() == bundled.ask(QUESTIONS[0]).to_dict()


def test_reingesting_unchanged_files_adds_nothing(served, bundled) -> None:  # type: ignore[no-untyped-def]
    before = served.store.count()
    report = served.ingest([served.settings.data_dir])
    assert (report.chunks_added, report.chunks_removed, report.errors) == (0, 0, [])
    assert report.chunks_unchanged == before == bundled.store.count()
    assert served.store.count() == before


def test_cli_switches_to_the_server_with_COACH_CHROMA_URL(served, bundled, tmp_path: Path, cache_dir: Path) -> None:  # type: ignore[no-untyped-def]
    local_store = tmp_path / "never-created"
    env = {
        **os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "COACH_CHROMA_URL": served.settings.chroma_url,
        "COACH_STORE_DIR": str(local_store), "COACH_CACHE_DIR": str(cache_dir), "COACH_DATA_DIR": str(ROOT / "data"),
    }  # fmt: skip
    env.pop("COACH_DEBUG", None)
    run = subprocess.run(
        [sys.executable, "-m", "coach.cli", "retrieve", QUESTIONS[0], "-k", "5", "--json"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    assert [p["id"] for p in got["passages"]] == _ids(bundled.retrieve(QUESTIONS[0], k=5))
    assert not local_store.exists()


def test_new_source_round_trips_through_the_server(served, server_settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from coach import Coach

    folder = tmp_path / "extra"
    folder.mkdir()
    note = folder / "zorblax-notes.md"
    note.write_text(
        "---\ntitle: Zorblax ladder\nvideoId: AAAAAAAAAAA\n---\n# The Zorblax ladder\n\n"
        "The Zorblax ladder says you should write down every promise your manager makes. [00:01:05] "
        "Review the list together every quarter so nothing is forgotten. [00:02:10]\n",
        encoding="utf-8",
    )
    before = served.store.count()
    added = served.ingest([folder])
    assert added.chunks_added > 0
    assert not added.errors
    hits = served.retrieve("Zorblax ladder promises", k=3)
    assert hits
    assert hits[0].video_id == "AAAAAAAAAAA"
    assert hits[0].start == 65

    assert served.ingest([folder]).chunks_added == 0
    reopened = Coach.open(settings=server_settings)  # a second client sees what the first one committed
    assert reopened.retrieve("Zorblax ladder promises", k=1)[0].id == hits[0].id

    note.unlink()  # deleting over HTTP too; leaves the server as the other tests found it
    removed = served.ingest([folder])
    assert removed.chunks_removed == added.chunks_added
    assert served.store.count() == before
    assert all(p.video_id != "AAAAAAAAAAA" for p in served.retrieve("Zorblax ladder promises", k=5))


def test_eval_is_the_same_as_with_the_embedded_store(served, bundled, cache_dir: Path) -> None:  # type: ignore[no-untyped-def]
    from evals import gate, suites

    remote, local = gate.fast_suites(served), gate.fast_suites(bundled)
    assert [r.name for r in remote] == [r.name for r in local] == ["retrieval", "answers", "citations", "coaching"]
    for r, here in zip(remote, local, strict=True):
        assert r.metrics == pytest.approx(here.metrics, abs=1e-9), r.name
    assert gate.failures(remote) == []
    cases = suites.notes_cases("dev")
    assert suites.conversation_suite(served, cases).metrics == suites.conversation_suite(bundled, cases).metrics

    env = {
        **os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "COACH_CHROMA_URL": served.settings.chroma_url,
        "COACH_CACHE_DIR": str(cache_dir), "COACH_DATA_DIR": str(ROOT / "data"),
    }  # fmt: skip
    run = subprocess.run(
        [sys.executable, "-m", "coach.cli", "eval", "retrieval", "--no-langchain", "--gate", "--json"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    assert got["gate_failures"] == []
    assert got["suites"]["retrieval"] == pytest.approx(local[0].metrics, abs=1e-9)
