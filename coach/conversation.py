"""The conversation around a question: history, the person's situation, and the query they imply."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from coach.guard import QuestionError, readable
from ingest.chunking import split_sentences

ROLES = ("user", "assistant")
MAX_HISTORY_TURNS = 12
MAX_TURN_CHARS = 4000
MAX_NOTE_CHARS = 2000
# A follow-up leans on what came before when it is short or points back ("it", "that", "there").
_ANAPHORA = re.compile(r"\b(it|that|this|these|those|them|they|there|he|she|his|her|same|more|else)\b", re.IGNORECASE)
_SHORT_WORDS = 12

Turn = tuple[str, str]


@dataclass(frozen=True)
class Situation:
    """Optional intake: who the person is, what they want, how things are with their manager, and anything else
    they chose to note (a saved profile's free note; it joins the retrieval query, never the reflection)."""

    level: str = ""
    goal: str = ""
    manager: str = ""
    note: str = ""

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any] | None) -> Situation:
        data = data or {}
        fields = {k: readable(str(data.get(k) or "")).strip()[:500] for k in ("level", "goal", "manager")}
        return cls(**fields, note=readable(str(data.get("note") or "")).strip()[:MAX_NOTE_CHARS])

    def describe(self) -> str:
        parts = [
            f"I am {self.level}." if self.level else "",
            f"My goal: {self.goal}." if self.goal else "",
            f"With my manager: {self.manager}." if self.manager else "",
        ]
        return " ".join(p for p in parts if p)

    def __bool__(self) -> bool:
        return bool(self.level or self.goal or self.manager or self.note)


def normalize_history(history: Iterable[Any] | None) -> list[Turn]:
    """Accept (role, text) pairs or {"role", "content"} dicts; keep the recent, bounded part."""
    turns: list[Turn] = []
    for item in history or []:
        if isinstance(item, Mapping):
            role, text = item.get("role"), item.get("content", item.get("text"))
        elif isinstance(item, Sequence) and not isinstance(item, str) and len(item) == 2:
            role, text = item
        else:
            raise QuestionError("history must be a list of [role, text] pairs, role being 'user' or 'assistant'")
        role = str(role).lower()
        if role not in ROLES:
            raise QuestionError(f"history role {role!r} is not 'user' or 'assistant'")
        if isinstance(text, str) and text.strip():
            turns.append((role, readable(text).strip()[:MAX_TURN_CHARS]))
    return turns[-MAX_HISTORY_TURNS:]


def is_follow_up(question: str, history: Sequence[Turn]) -> bool:
    return any(r == "user" for r, _ in history) and (
        len(question.split()) <= _SHORT_WORDS or bool(_ANAPHORA.search(question))
    )


def condense(text: str, max_sentences: int = 6) -> str:
    """A long message as its distinct sentences, opening and closing ones kept (where the ask usually is).

    Pasted or repeated text otherwise drowns the embedding, which only sees 256 word pieces.
    """
    distinct = list(dict.fromkeys(s.strip() for s in split_sentences(text) if s.strip()))
    if len(distinct) <= max_sentences:
        return " ".join(distinct)
    half = max_sentences // 2
    return " ".join(distinct[:half] + distinct[-half:])


def retrieval_query(
    question: str, history: Sequence[Turn], situation: Situation | None = None, follow_up: bool | None = None
) -> str:
    """What to search for: the question, plus the last user turn when it is a follow-up, plus the intake.
    `follow_up` when the caller has already decided it."""
    parts = []
    if follow_up if follow_up is not None else is_follow_up(question, history):
        parts.append(condense(next(t for r, t in reversed(history) if r == "user"), 2))
    parts.append(condense(question))
    if situation:
        parts.append(situation.describe())
    if situation and situation.note:
        parts.append(condense(situation.note, 2))  # a long note would drown the question in the embedding
    return " ".join(p for p in parts if p)
