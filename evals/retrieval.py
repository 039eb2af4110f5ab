"""Retrieval quality on a dataset: hit@1, hit@k, recall@k, MRR and nDCG@k of any search, from the ranked items
(the metric functions themselves are in evals/metrics.py)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from coach.conversation import normalize_history, retrieval_query
from evals.datasets import Case
from evals.metrics import first_hit_rank, hit_at, mean, ndcg_at, recall_at, reciprocal_rank

Search = Callable[[str, int], Sequence[Any]]  # (query, k) → ranked items with video_id, start, end
DEPTH = 10  # items read per question, so MRR still counts a first hit below k


def retrieval_metrics(
    search: Search, cases: Sequence[Case], k: int = 5, tolerance_s: int = 0
) -> tuple[dict[str, float], list[dict[str, Any]]]:
    """hit@1, hit@k, recall@k, MRR, nDCG@k over every answerable case that has gold, and one row per case."""
    rows = []
    for case in cases:
        if case.expect_refusal or not (case.gold_times or case.gold_video_ids):
            continue
        query = retrieval_query(case.question, normalize_history(case.history))
        items = list(search(query, max(k, DEPTH)))
        rank = first_hit_rank(items, case.gold_times, case.gold_video_ids, tolerance_s)
        rows.append({
            "id": case.id, "kind": case.kind, "rank": rank,
            "recall": recall_at(items, case.gold_times, k, tolerance_s) if case.gold_times else hit_at(rank, k),
            "ndcg": ndcg_at(items, case.gold_times, k, tolerance_s) if case.gold_times else reciprocal_rank(rank),
        })  # fmt: skip
    metrics = {
        "n": float(len(rows)),
        "hit@1": mean([hit_at(r["rank"], 1) for r in rows]),
        f"hit@{k}": mean([hit_at(r["rank"], k) for r in rows]),
        f"recall@{k}": mean([r["recall"] for r in rows]),
        "mrr": mean([reciprocal_rank(r["rank"]) for r in rows]),
        f"ndcg@{k}": mean([r["ndcg"] for r in rows]),
    }
    return metrics, rows


@dataclass(frozen=True)
class RetrievalScore:
    mode: str
    n: int
    hit1: float
    hit5: float  # hit@k for the k asked (5 unless given)
    mrr: float
    misses: tuple[str, ...]

    def row(self) -> dict[str, Any]:
        return {"mode": self.mode, "n": self.n, "hit@1": self.hit1, "hit@5": self.hit5, "mrr": self.mrr}


def score_retrieval(retriever: Any, cases: Sequence[Case], mode: str = "hybrid", k: int = 5) -> RetrievalScore:
    """`retriever.retrieve(query, k=, mode=)` scored by retrieval_metrics, rounded, with the cases it missed."""
    metrics, rows = retrieval_metrics(lambda q, n: retriever.retrieve(q, k=n, mode=mode), cases, k)
    return RetrievalScore(
        mode=mode,
        n=len(rows),
        hit1=round(metrics["hit@1"], 3),
        hit5=round(metrics[f"hit@{k}"], 3),
        mrr=round(metrics["mrr"], 3),
        misses=tuple(r["id"] for r in rows if not hit_at(r["rank"], k)),
    )
