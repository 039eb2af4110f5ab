"""Metric functions. Each takes what the system returned and the gold; none knows the answers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Timed(Protocol):
    video_id: str
    start: int
    end: int


def covers(item: Timed, gold_times: Sequence[int], tolerance_s: int = 0) -> bool:
    """A passage or citation hits when its [start, end] seconds cover a gold second."""
    return any(item.start - tolerance_s <= g <= item.end + tolerance_s for g in gold_times)


def first_hit_rank(items: Sequence[Timed], gold_times: Sequence[int], gold_video_ids: Sequence[str] = ()) -> int | None:
    """1-based rank of the first hit (by time, or by episode when gold is given as video ids)."""
    for rank, item in enumerate(items, start=1):
        if (gold_video_ids and item.video_id in gold_video_ids) or (gold_times and covers(item, gold_times)):
            return rank
    return None


def hit_at(rank: int | None, k: int) -> float:
    return 1.0 if rank is not None and rank <= k else 0.0


def reciprocal_rank(rank: int | None) -> float:
    return 1.0 / rank if rank else 0.0


def mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def mentions(text: str, phrases: Sequence[str]) -> float:
    """Share of must-mention phrases present in the answer (case-insensitive)."""
    if not phrases:
        return 1.0
    low = text.lower()
    return sum(p.lower() in low for p in phrases) / len(phrases)
