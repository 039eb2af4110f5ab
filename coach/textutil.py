"""Small text helpers shared by the answer path, the UI and the evals: one home each."""

from __future__ import annotations

import re

from ingest.chunking import split_sentences

MARKER_PATTERN = r"\[(\d{1,3})\]"  # a citation marker, "[3]": every pattern that finds markers is built on it
# A citation marker as the answer text carries it (the optional space before it belongs to it).
MARKER = re.compile(r"\s?" + MARKER_PATTERN)
NUMBER_WORDS = {
    w: i for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
        "seventeen eighteen nineteen twenty".split()
    )
}  # fmt: skip
_TYPED_MARKER = re.compile(MARKER_PATTERN)


def inert(text: str) -> str:
    """The person's words are echoed into answers; a typed "[2]" must not read as citation 2, so it becomes "(2)"."""
    return _TYPED_MARKER.sub(r"(\1)", text)


def strip_end(text: str) -> str:
    """Without the closing punctuation a sentence or label ends on, so a marker and a full stop can follow."""
    return text.strip().rstrip(".:;,").strip()


def without_label(text: str, label: str) -> str:
    """Step text often repeats its bold label ("Repeat: Continuously…"); say it once."""
    bare = strip_end(label).rstrip("…").strip('"“”')
    if bare and text.lower().lstrip('"“').startswith(bare.lower()):
        rest = text.lstrip('"“')[len(bare) :].lstrip('"”').lstrip(" :—-").strip()
        return rest[:1].upper() + rest[1:] if rest else text
    return text


def first_sentences(text: str, n: int) -> str:
    return " ".join(split_sentences(text)[:n]).strip()

