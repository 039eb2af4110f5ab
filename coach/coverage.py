"""What the sources do cover, nearest to a question first: said when the coach declines."""

from __future__ import annotations

import numpy as np

from coach.types import Passage


def topic_of(p: Passage) -> str:
    """Notes sections are topics; a transcript's topic is its episode."""
    if p.heading:
        return p.heading.split(" > ")[0]
    return f"{p.title} ({p.guest})" if p.guest else p.title


def covered_topics(passages: list[Passage], vectors: np.ndarray, query_vector: np.ndarray, n: int = 5) -> list[str]:
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(passages):
        groups.setdefault(topic_of(p), []).append(i)
    if not groups:
        return []
    names = list(groups)
    centroids = np.stack([vectors[groups[name]].mean(axis=0) for name in names])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True) + 1e-9
    order = np.argsort(-(centroids @ query_vector))[:n]
    return [names[i] for i in order]
