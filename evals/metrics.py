"""Metric functions. Each takes what the system returned and the gold; none knows the answers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Timed(Protocol):
    video_id: str
    start: int
    end: int


def covers(item: Timed, gold_times: Sequence[int], tolerance_s: int = 0) -> bool:
    """A passage or citation hits when its [start, end] seconds cover a gold second. Items that know
    only a set of seconds (a baseline's raw text chunk with its anchors) hit when one is near."""
    times = getattr(item, "times", None)
    if times is not None:
        return any(abs(t - g) <= tolerance_s for t in times for g in gold_times)
    return any(item.start - tolerance_s <= g <= item.end + tolerance_s for g in gold_times)


def first_hit_rank(
    items: Sequence[Timed], gold_times: Sequence[int], gold_video_ids: Sequence[str] = (), tolerance_s: int = 0
) -> int | None:
    """1-based rank of the first hit (by time, or by episode when gold is given as video ids)."""
    for rank, item in enumerate(items, start=1):
        if (gold_video_ids and item.video_id in gold_video_ids) or (gold_times and covers(item, gold_times, tolerance_s)):
            return rank
    return None


def recall_at(items: Sequence[Timed], gold_times: Sequence[int], k: int, tolerance_s: int = 0) -> float:
    """Share of the gold seconds covered by the top k."""
    if not gold_times:
        return 0.0
    top = items[:k]
    return sum(any(covers(i, [g], tolerance_s) for i in top) for g in gold_times) / len(gold_times)


def ndcg_at(items: Sequence[Timed], gold_times: Sequence[int], k: int, tolerance_s: int = 0) -> float:
    """Binary-gain nDCG: an item gains when it covers a gold second no earlier item covered."""
    import math

    seen: set[int] = set()
    dcg = 0.0
    for rank, item in enumerate(items[:k], start=1):
        new = {g for g in gold_times if g not in seen and covers(item, [g], tolerance_s)}
        if new:
            seen |= new
            dcg += 1.0 / math.log2(rank + 1)
    ideal = sum(1.0 / math.log2(r + 1) for r in range(1, min(len(gold_times), k) + 1))
    return dcg / ideal if ideal else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    if not values:
        return 0.0
    import math

    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, math.ceil(q / 100 * len(ordered)) - 1))
    return ordered[index]


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
