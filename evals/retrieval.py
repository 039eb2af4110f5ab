"""Retrieval quality on a dataset: hit@k and MRR per mode, computed from the ranked passages."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from coach.conversation import normalize_history, retrieval_query
from evals.datasets import Case
from evals.metrics import first_hit_rank, hit_at, mean, reciprocal_rank


@dataclass(frozen=True)
class RetrievalScore:
    mode: str
    n: int
    hit1: float
    hit5: float
    mrr: float
    misses: tuple[str, ...]

    def row(self) -> dict[str, Any]:
        return {"mode": self.mode, "n": self.n, "hit@1": self.hit1, "hit@5": self.hit5, "mrr": self.mrr}


def score_retrieval(retriever: Any, cases: Sequence[Case], mode: str = "hybrid", k: int = 5) -> RetrievalScore:
    """`retriever.retrieve(query, k=, mode=)` over every answerable case that has gold."""
    ranks: list[tuple[str, int | None]] = []
    for case in cases:
        if case.expect_refusal or not (case.gold_times or case.gold_video_ids):
            continue
        query = retrieval_query(case.question, normalize_history(case.history))
        hits = retriever.retrieve(query, k=k, mode=mode)
        ranks.append((case.id, first_hit_rank(hits, case.gold_times, case.gold_video_ids)))
    return RetrievalScore(
        mode=mode,
        n=len(ranks),
        hit1=round(mean([hit_at(r, 1) for _, r in ranks]), 3),
        hit5=round(mean([hit_at(r, k) for _, r in ranks]), 3),
        mrr=round(mean([reciprocal_rank(r) for _, r in ranks]), 3),
        misses=tuple(cid for cid, r in ranks if not hit_at(r, k)),
    )
