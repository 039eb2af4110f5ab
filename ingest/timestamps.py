"""Timestamp syntax shared by both source formats."""

from __future__ import annotations

import re

# HH:MM:SS or MM:SS (hours may have one or two digits, minutes one or two).
TIME = r"(?:\d{1,2}:)?\d{1,2}:\d{2}"
TIME_RE = re.compile(rf"^{TIME}$")


def parse_time(text: str) -> int:
    """Seconds in `HH:MM:SS` or `MM:SS`; ValueError for anything else (e.g. minutes ≥ 60)."""
    text = text.strip()
    if not TIME_RE.match(text):
        raise ValueError(f"not a timestamp: {text!r}")
    parts = [int(p) for p in text.split(":")]
    if len(parts) == 2:
        parts.insert(0, 0)
    hours, minutes, seconds = parts
    if minutes >= 60 or seconds >= 60:
        raise ValueError(f"timestamp out of range: {text!r}")
    return hours * 3600 + minutes * 60 + seconds


def format_time(seconds: int) -> str:
    """`H:MM:SS` for an hour or more, else `M:SS` — the way YouTube shows times."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
