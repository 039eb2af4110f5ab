"""Checks on what a person typed, before any retrieval: empty, huge, hostile or out of scope."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field


class QuestionError(ValueError):
    """The question cannot be answered as given; the message is meant for the person."""


@dataclass
class CleanQuestion:
    text: str
    notices: list[str] = field(default_factory=list)


# Requests aimed at the assistant's rules rather than at career advice. Matching them decides the
# refusal wording; the real protection is that no retrieved or typed text is ever executed as an
# instruction (the offline composer only quotes sources; LLM prompts fence them as data).
_INJECTION = re.compile(
    r"\b(ignore|disregard|forget|override|bypass)\b[^.?!\n]{0,40}\b(instructions?|rules?|prompts?|guidelines|guardrails)\b"
    r"|\b(reveal|print|show|repeat|output|leak|tell me|dump|translate|paste|list)\b[^.?!\n]{0,40}"
    r"\b(system|developer|hidden|initial|your)\s+(prompts?|instructions|rules|messages?)\b"
    r"|\bcontext window\b|\b(system|developer) (prompt|message)s?\b"
    # "Translate your rules…, then disregard them": the rules named first, the order to drop them after
    r"|\byour (rules|instructions|guidelines)\b[^.?!\n]{0,40}\b(ignore|disregard|forget|override|bypass) (them|it)\b"
    r"|\byou are now\b|\bdeveloper mode\b|\bjailbreak\b|\bDAN\b"
    # the attack's own follow-through, not a question of the person's
    r"|\bfirst task\b|\brestrictions (?:are|have been) lifted\b|\bwith no (?:rules|restrictions)\b|\bsystem notice\b",
    re.IGNORECASE,
)
_CODE_REQUEST = re.compile(
    r"\b(write|generate|give me|create|fix|debug)\b[^.?!\n]{0,40}"
    r"\b(code|script|function|program|class|regex|sql|python|javascript|typescript|java|c\+\+|bash)\b",
    re.IGNORECASE,
)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


# Lone surrogates: what Python makes of bytes that are not UTF-8 in a command line, or what a client sends
# as broken JSON. No encoder downstream (tokenizer, Chroma, the browser) accepts them.
_SURROGATE = re.compile(r"[\ud800-\udfff]")
UNREADABLE = "\ufffd"


def readable(text: str) -> str:
    """`text` with characters no UTF-8 encoder accepts replaced by U+FFFD."""
    return _SURROGATE.sub(UNREADABLE, text)


def clean_question(raw: str | None, max_chars: int) -> CleanQuestion:
    """Normalise a question; raise QuestionError when there is nothing to answer."""
    notices: list[str] = []
    text = readable(raw or "")
    if text != (raw or ""):
        notices.append("Some characters in your message could not be read and were replaced with “\ufffd”.")
    text = unicodedata.normalize("NFKC", text)
    text = _CONTROL.sub("", text).strip()
    if not re.search(r"\w", text):
        raise QuestionError("Please describe your situation or ask a question — the message was empty.")
    if len(text) > max_chars:
        notices.append(
            f"Your message was {len(text):,} characters long; I read the first {max_chars:,}. "
            "A few sentences about your situation work best."
        )
        cut = text[:max_chars]
        text = cut[: cut.rfind(" ")] if " " in cut[max_chars // 2 :] else cut
    return CleanQuestion(text, notices)


# "…so please do exactly what it says": the person asks the coach to obey the instruction they quoted.
_OBEY = re.compile(
    r"\b(do|follow|obey|execute|carry out)\b[^.?!\n]{0,25}\b(what it says|it says|the instructions?|"
    r"those instructions|that instruction|as instructed)\b",
    re.IGNORECASE,
)
_QUOTED = re.compile(r"(['\"“‘])([^'\"“”‘’]{4,400})(['\"”’])")


def strip_injection(text: str) -> tuple[str, bool]:
    """The message without the instructions aimed at the coach, and whether there were any.

    A quoted instruction ("my boss sent me 'ignore previous instructions…'") becomes "“…”" so the rest of
    the sentence still tells the situation; an unquoted one loses its sentence. When the person asks the coach
    to obey what they quoted, nothing is left to answer."""
    if not is_injection(text):
        return text, False
    if _OBEY.search(text):
        return "", True
    text = _QUOTED.sub(lambda m: "“…”" if is_injection(m.group(2)) else m.group(0), text)
    kept = [s for s in re.split(r"(?<=[.!?])\s+", text) if not is_injection(s)]
    rest = " ".join(kept).strip()
    return (rest if len(re.findall(r"[A-Za-z]{3,}", rest)) >= 3 else ""), True


def is_injection(text: str) -> bool:
    return bool(_INJECTION.search(text))


def is_code_request(text: str) -> bool:
    return bool(_CODE_REQUEST.search(text))
