"""Timestamp syntax shared by both source formats, and the one scanner that finds the notes' anchors."""

from __future__ import annotations

import re
from collections.abc import Iterator

# HH:MM:SS or MM:SS (hours may have one or two digits, minutes one or two).
TIME = r"(?:\d{1,2}:)?\d{1,2}:\d{2}"
TIME_RE = re.compile(rf"^{TIME}$")
# No episode runs a day: a later time is a typo or a hostile file, and would become an absurd `&t=` link.
MAX_SECONDS = 24 * 3600


class TimeRangeError(ValueError):
    """A well-formed time past MAX_SECONDS."""


def parse_time(text: str) -> int:
    """Seconds in `HH:MM:SS` or `MM:SS`; ValueError for anything else (minutes ≥ 60, past 24 hours)."""
    text = text.strip()
    if not TIME_RE.match(text):
        raise ValueError(f"not a timestamp: {text!r}")
    parts = [int(p) for p in text.split(":")]
    if len(parts) == 2:
        parts.insert(0, 0)
    hours, minutes, seconds = parts
    if minutes >= 60 or seconds >= 60:
        raise ValueError(f"timestamp out of range: {text!r}")
    total = hours * 3600 + minutes * 60 + seconds
    if total > MAX_SECONDS:
        raise TimeRangeError(f"timestamp past 24 hours: {text!r}")
    return total


def format_time(seconds: int) -> str:
    """`H:MM:SS` for an hour or more, else `M:SS` — the way YouTube shows times."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


# The notes' anchors, as one regex would say it (and did, until hostile files made it quadratic):
#   <a\b[^>]*?data-t=["'](TIME)["'][^>]*>(?:\s*\[?(?:TIME)?\]?\s*)</a>   |   \[(TIME)\]      (ignoring case)
# `find_anchors` matches exactly that, left to right without overlaps, in linear time.
_CANDIDATE = re.compile(rf"<a\b|\[(?P<bare>{TIME})\]", re.I)
_BARE = re.compile(rf"\[(?P<bare>{TIME})\]")
_DATA_T = re.compile(rf"data-t=[\"'](?P<t>{TIME})[\"']", re.I)
# Possessive whitespace: nothing after it can start with whitespace, so giving none back changes no match.
_ANCHOR_CLOSE = re.compile(rf"\s*+\[?(?:{TIME})?\]?\s*+</a>", re.I)


def find_anchors(text: str) -> Iterator[tuple[int, int, str]]:
    """(start, end, time as written) of each anchor — `<a … data-t="00:06:02">[00:06:02]</a>`, the same
    tag empty, or a bare `[00:06:02]` — in linear time.

    A tag's attributes end at the first `>` after its `<a`, so every `<a` before the same `>` shares one
    verdict: the first well-formed `data-t` inside decides the time, and the text after that `>` must close
    the anchor. A `<a` that fails condemns the others before its `>` without a second scan.
    """
    pos = 0
    gt = -1  # the first ">" after the latest "<a" tried (len(text) when there is none)
    dead_until = -1  # every "<a" before this position shares a ">" with one that already failed
    while True:
        if pos < dead_until:  # only bare stamps can match before that ">" (and none spans it)
            if bare := _BARE.search(text, pos, dead_until):
                yield bare.start(), bare.end(), bare.group("bare")
                pos = bare.end()
                continue
            pos = dead_until
        if not (m := _CANDIDATE.search(text, pos)):
            return
        start = m.start()
        if m.group("bare"):
            yield start, m.end(), m.group("bare")
            pos = m.end()
            continue
        pos = start + 1
        if gt <= start:
            found = text.find(">", start + 2)
            gt = found if found >= 0 else len(text)
        attr = _DATA_T.search(text, start + 2, gt) if gt < len(text) else None
        close = _ANCHOR_CLOSE.match(text, gt + 1) if attr else None
        if attr and close:
            yield start, close.end(), attr.group("t")
            pos = close.end()
        else:
            dead_until = gt
