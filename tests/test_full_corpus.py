"""The team deployment at scale: the bundled notes plus all 303 transcripts in one store.

Building it embeds the whole corpus (~950 s on this machine's 2 cores, 52,565 chunks at ~55 a second), so the
store is built once per key by the `corpus_store` fixture and kept between runs outside the checkout; the key
is everything the build depends on (tests/support.py, store_key), so a kept store is the store a fresh build
would make. This module works on its own copy. What must hold: nothing crashes, duplicate episodes are stored
once, every chunk's seconds sit inside its episode, answers cite the right episodes (the corpus suite, gold =
video ids read from the transcripts), answers drawing on several episodes name their guests, and the Magic
Loop still comes from Ethan Evans.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT

ETHAN = "GB0P0_nFPTA"
# A cold cache builds the whole-corpus index in the first test's setup: past the suite's default 900 s per test.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(3600)]


@pytest.fixture(scope="module")
def full(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path, corpus_store: Path) -> dict[str, Any]:
    from coach import Coach
    from coach.settings import Settings
    from tests.support import built_reports, copy_store

    store = copy_store(corpus_store, tmp_path_factory.mktemp("full") / "store")
    coach = Coach.open(settings=Settings(store_dir=store, cache_dir=cache_dir, data_dir=ROOT / "data"))
    assert coach.startup_report is None, "the cached corpus store was not complete"
    _bundled, report = built_reports(corpus_store)  # Coach.open built the notes first, then the corpus came in
    return {"coach": coach, "report": report}


def test_all_transcripts_ingest_and_duplicates_are_stored_once(full: dict[str, Any], corpus: Path) -> None:
    report = full["report"]
    assert len(report.files) == len(list(corpus.glob("*/transcript.md"))) == 303
    assert report.errors == []
    status = {Path(f.path).parent.name: f.status for f in report.files}
    # Hand-checked copies (tests/test_corpus.py): the plainer folder name is the one indexed.
    for kept, copy in [("ethan-evans", "ethan-evans-20"), ("wes-kao", "wes-kao-20"), ("andy-raskin", "andy-raskin_")]:
        assert (status[kept], status[copy]) == ("added", "duplicate"), (kept, copy)
    assert report.chunks_added > 30_000
    assert full["coach"].ingest([corpus]).chunks_added == 0, "re-ingesting the unchanged corpus adds nothing"


def test_every_stored_chunk_sits_inside_its_episode(full: dict[str, Any]) -> None:
    """Within the episode as parsed: a transcript whose times run past its front-matter duration keeps its times
    (and says so in a warning), so the parsed duration is the longer of the two."""
    from ingest.sources import parse_file

    coach = full["coach"]
    records = {k: r for k, r in coach.store.records().items() if not r.duplicate_of}
    durations = {k: parse_file(Path(r.path), 10**8).duration_s for k, r in records.items() if r.format == "transcript"}
    assert len(durations) >= 295
    chunks = coach.store.all_chunks()
    assert len(chunks) == coach.store.count()
    assert {c.meta["source_key"] for c in chunks} == set(records)
    bad = [
        (c.meta["source_name"], c.meta["start"], c.meta["end"], durations.get(c.meta["source_key"]))
        for c in chunks
        if not 0 <= int(c.meta["start"]) <= int(c.meta["end"]) <= (durations.get(c.meta["source_key"]) or 10**9)
    ]
    assert bad == []


def test_corpus_suite_finds_the_right_episodes(full: dict[str, Any]) -> None:
    from evals import suites

    result = suites.corpus_suite(full["coach"], suites.corpus_cases())
    assert result.notes[0].startswith("28 of 28 cases")
    # Measured 0.75 (README); the floor sits just under it, as the CI gate's do. The goal is 0.8.
    assert result.metrics["hit@5"] >= 0.7, result.metrics
    # The answers, not only the passages: measured 0.50 (14 of 28) of answers cite a gold episode since they
    # follow the retriever's sources (0.43 before), and every answer citing several guests names each of them.
    assert result.metrics["answer cites a gold episode"] >= 0.5, result.metrics
    assert result.metrics["answers citing several guests"] >= 10
    assert result.metrics["several guests cited: all named"] == 1.0, result.metrics


def test_dense_search_is_exact_over_the_whole_corpus(full: dict[str, Any]) -> None:
    """Dense retrieval must rank by true cosine: Chroma's approximate (HNSW) top 10 held 92 % of the exact one
    over these questions and, in one store built by this module, none of Ethan Evans' passages for "What is
    the Magic Loop?". The exact ranking here is computed from the stored vectors with plain numpy."""
    import numpy as np

    from evals.suites import corpus_cases
    from ingest.store import read_all

    coach = full["coach"]
    committed = coach.store.committed_ids()
    got = read_all(coach.store.chunks, ["embeddings"])
    keep = [i for i, cid in enumerate(got["ids"]) if cid in committed]
    ids = [got["ids"][i] for i in keep]
    vectors = np.asarray([got["embeddings"][i] for i in keep], dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    questions = ["What is the Magic Loop?", *(c.question for c in corpus_cases())]
    spread = coach.retriever.per_source_first
    for question in questions:
        qvec = coach.embedder.encode([question])[0]
        scores = vectors @ (qvec / np.linalg.norm(qvec))
        best = [ids[i] for i in np.argsort(-scores)[:10]]
        coach.retriever.per_source_first = None  # the raw dense ranking, before the spread over sources
        try:
            got_ids = [p.id for p in coach.retrieve(question, k=10, mode="dense")]
        finally:
            coach.retriever.per_source_first = spread
        assert got_ids[:3] == best[:3], question
        assert len(set(got_ids) & set(best)) >= 9, question


def test_the_magic_loop_still_comes_from_ethan_evans(full: dict[str, Any]) -> None:
    coach = full["coach"]
    for question in ("What is the Magic Loop?", "How does the magic loop help my career?"):
        hits = coach.retrieve(question, k=5)
        assert hits[0].video_id == ETHAN, [(h.video_id, h.title) for h in hits]
    answer = coach.ask("How do I get past senior manager?")
    assert answer.framework is not None
    assert "Senior Manager" in answer.framework.name
    assert answer.framework.video_id == ETHAN
    assert answer.citations
    assert answer.citations[0].video_id == ETHAN


def test_a_manager_situation_still_gets_the_magic_loop(full: dict[str, Any]) -> None:
    """Over 303 episodes the notes' Magic Loop passage ranks behind other episodes' (retrieval spreads over
    sources), yet it is still the notes' best passage: the framework card must still come."""
    answer = full["coach"].ask("My manager never talks about my career or growth. What should I do?")
    assert answer.framework is not None, answer.text
    assert "Magic Loop" in answer.framework.name
    assert answer.framework.video_id == ETHAN
    assert [s.n for s in answer.framework.steps] == [1, 2, 3, 4, 5]


@pytest.mark.parametrize(
    "question",
    [
        "How do I know if we have product-market fit?",
        "How should I prepare for a job interview?",
        "How do I deal with a difficult manager?",
    ],
)
def test_answers_drawing_on_several_episodes_name_their_guests(full: dict[str, Any], question: str) -> None:
    answer = full["coach"].ask(question)
    assert not answer.refused
    guests = {c.guest for c in answer.citations if c.guest}
    assert len({c.video_id for c in answer.citations}) >= 2, "these questions are answered by several episodes"
    assert len(guests) >= 2
    for guest in guests:
        first_name = re.split(r"\s+", guest.strip())[0]
        assert first_name in answer.text, f"{guest} is cited but not named in: {answer.text}"
