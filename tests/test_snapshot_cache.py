"""The retriever's snapshot saved between processes: reused only for the very same index version, never
stale after an ingest, and a damaged one is rebuilt rather than trusted."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

QUESTION = "How do I get past senior manager?"


def _fresh_retriever(coach: Any) -> Any:
    """What a new process gets: a Retriever with nothing in memory, on the same store and cache."""
    from coach.retrieval import Retriever

    return Retriever(coach.store, coach.retriever.embedder, snapshot_dir=coach.retriever.snapshot_dir)


def _no_chroma_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    import coach.retrieval

    def refuse(*_: Any, **__: Any) -> None:
        raise AssertionError("the snapshot should have come from the cache, not from Chroma")

    monkeypatch.setattr(coach.retrieval, "read_all", refuse)


def test_a_new_process_reuses_the_snapshot_and_gets_the_same_answers(settings, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from coach import Coach

    coach = Coach.open(settings=settings)
    first = [(p.id, p.score) for p in coach.retrieve(QUESTION, k=5)]
    assert coach.retriever.snapshot_dir is not None
    assert list(coach.retriever.snapshot_dir.glob("*/vectors.npy")), "the snapshot was saved"
    _no_chroma_reads(monkeypatch)
    again = _fresh_retriever(coach)
    assert [(p.id, p.score) for p in again.retrieve(QUESTION, k=5)] == first
    assert [p.id for p in again.retrieve(QUESTION, k=5, mode="bm25")] == [
        p.id for p in coach.retrieve(QUESTION, k=5, mode="bm25")
    ]


def test_an_ingest_makes_the_saved_snapshot_unused_and_drops_it(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from coach import Coach

    coach = Coach.open(settings=settings)
    coach.retrieve(QUESTION, k=5)
    before = set(coach.retriever.snapshot_dir.iterdir())
    note = tmp_path / "zorblax.md"
    note.write_text(
        "---\ntitle: Zorblax\nvideoId: CCCCCCCCCCC\n---\n\n## The zorblax ritual\n"
        "Every Friday the team writes one zorblax note about what surprised them [00:02:00].\n",
        encoding="utf-8",
    )
    assert coach.ingest([note]).chunks_added > 0
    hits = _fresh_retriever(coach).retrieve("zorblax note", k=3)
    assert hits
    assert hits[0].video_id == "CCCCCCCCCCC", "a process after the ingest sees the new source"
    after = set(coach.retriever.snapshot_dir.iterdir())
    assert after, "the new version's snapshot is saved"
    assert not (after & before), "the old version's snapshot is gone"


def test_a_damaged_snapshot_is_rebuilt_not_trusted(settings) -> None:  # type: ignore[no-untyped-def]
    from coach import Coach

    coach = Coach.open(settings=settings)
    expected = [p.id for p in coach.retrieve(QUESTION, k=5)]
    (saved,) = list(coach.retriever.snapshot_dir.glob("*/vectors.npy"))
    saved.write_bytes(b"not an array")
    assert [p.id for p in _fresh_retriever(coach).retrieve(QUESTION, k=5)] == expected


def test_server_mode_keeps_no_snapshot_on_disk(settings) -> None:  # type: ignore[no-untyped-def]
    """Replicas are stateless: with a Chroma URL the retriever has nowhere to save (no server is needed
    to check the wiring, since Coach.__init__ does not connect)."""
    from coach.api import Coach

    class _Unused:
        def for_queries(self) -> _Unused:  # the query runtime Coach asks its embedder for
            return self

        def for_sources(self) -> _Unused:
            return self

    coach = Coach(settings.model_copy(update={"chroma_url": "http://127.0.0.1:9"}), _Unused(), _Unused())  # type: ignore[arg-type]
    assert coach.retriever.snapshot_dir is None
