"""One question, read once: the person's words, the conversation, their situation and the vectors.

Everything downstream (retrieval, framework fit, advice ranking, premise checks, the LLM prompt and its
fallback) reads this object, so no step re-derives or re-embeds what another already has.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from coach.conversation import Situation, Turn, is_follow_up, normalize_history, retrieval_query
from coach.guard import clean_question, is_code_request, strip_injection
from coach.textutil import inert
from ingest.chunking import split_sentences
from ingest.embedding import LocalEmbedder


@dataclass(frozen=True)
class Query:
    """An immutable reading of one message.

    `text` is what the person asked (an instruction aimed at the coach and pasted HTML removed); `search` is what retrieval
    looks for (the follow-up's earlier turn and the intake added); `vector` embeds `search` and
    `focus_vector` embeds `text` alone for a follow-up (else it is `vector`): the conversation finds the
    passages, the follow-up itself picks the sentence that leads, and the conversation the ones after it."""

    text: str
    turns: tuple[Turn, ...]
    situation: Situation
    follow_up: bool
    search: str
    vector: np.ndarray = field(repr=False)
    focus_vector: np.ndarray = field(repr=False)
    # One row per sentence of a message that tells a story in several (empty otherwise): a long message's
    # cosine to any one source sentence is diluted by its other sentences, so evidence also asks how well
    # its best-covered sentence is covered ("…I never have any headspace" vs "time away from distractions").
    parts: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32), repr=False)
    notices: tuple[str, ...] = ()
    injection: bool = False  # the message held an instruction aimed at the coach (removed from `text`)
    code_request: bool = False


def read_query(
    question: str,
    history: Sequence[Any] | None,
    situation: Situation | None,
    embedder: LocalEmbedder,
    max_chars: int,
) -> Query:
    """Clean, bound and embed a message (one embedding batch). Raises QuestionError for an empty message or
    malformed history."""
    cleaned = clean_question(question, max_chars)
    turns = tuple(normalize_history(history))
    situation = _inert_situation(situation or Situation())
    text, injection = strip_injection(inert(cleaned.text))
    text = without_markup(text)
    notices = list(cleaned.notices)
    if injection and text:
        notices.append("Your message included an instruction aimed at me; I ignored it and answered the rest.")
    follow_up = bool(text) and is_follow_up(text, turns)
    search = retrieval_query(text, turns, situation, follow_up=follow_up) if text else ""
    # A message that was all instruction still gets a vector of its own words: declining says what the sources
    # cover nearest to what was asked.
    texts = [search or inert(cleaned.text), text] if follow_up else [search or inert(cleaned.text)]
    parts = message_parts(text)
    vectors = embedder.encode(texts + parts)
    return Query(
        text=text,
        turns=turns,
        situation=situation,
        follow_up=follow_up,
        search=search,
        vector=vectors[0],
        focus_vector=vectors[len(texts) - 1],
        parts=vectors[len(texts) :] if parts else np.zeros((0, vectors.shape[1]), dtype=np.float32),
        notices=tuple(notices),
        injection=injection,
        code_request=bool(text) and is_code_request(text),
    )


_SCRIPT = re.compile(r"<(script|style)\b[^>]*>.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"</?[A-Za-z][^>]{0,300}>")


def message_parts(text: str) -> list[str]:
    """The sentences of a message that says several things (each of at least PART_WORDS words), else none."""
    parts = [x for x in split_sentences(text) if len(x.split()) >= PART_WORDS]
    return parts if len(parts) > 1 else []


PART_WORDS = 6  # "Is it even realistic for me?" is part of the story; "Thanks, one question." is not


def without_markup(text: str) -> str:
    """The person's words without pasted HTML: a `<script>` block or an `<img …>` tag says nothing about their
    situation and only pulls the embedding away from it. (The text itself is kept, and shown literally.)"""
    return " ".join(_TAG.sub(" ", _SCRIPT.sub(" ", text)).split())


def _inert_situation(situation: Situation) -> Situation:
    return replace(
        situation, level=inert(situation.level), goal=inert(situation.goal), manager=inert(situation.manager),
        note=inert(situation.note),
    )  # fmt: skip
