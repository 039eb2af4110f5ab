"""Retrieval quality of the bundled notes for several chunk sizes, on the notes question set.

    python -m evals.chunk_sizes [--sizes 64 128 256 512] [--json]

Each size gets its own fresh index (overlap = size / 8); hit@5 and MRR are computed from the
ranked passages against the hand-read gold seconds in evals/datasets/notes.jsonl.

hit@5 alone flatters big chunks (five 512-token chunks are a third of these notes), so the fair
column is hit@budget: as many passages as fit in the same 640-token reading budget (5 × 128).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

from evals.datasets import load
from evals.retrieval import score_retrieval

BUDGET_TOKENS = 640


def measure(sizes: list[int], cache_dir: Path | None = None) -> list[dict[str, Any]]:
    from coach import Coach
    from coach.settings import Settings

    cases = load("notes")
    rows = []
    for size in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            update: dict[str, Any] = {"store_dir": Path(tmp) / "store", "chunk_tokens": size,
                                      "chunk_overlap_tokens": size // 8}  # fmt: skip
            if cache_dir:
                update["cache_dir"] = cache_dir
            coach = Coach.open(settings=Settings(**update))
            passages = coach.retriever.snapshot().passages
            row: dict[str, Any] = {"chunk_tokens": size, "overlap": size // 8, "chunks": len(passages)}
            for mode in ("hybrid", "dense", "bm25"):
                score = score_retrieval(coach.retriever, cases, mode)
                row[f"{mode} hit@5"], row[f"{mode} mrr"], row["n"] = score.hit5, score.mrr, score.n
            budget_k = max(1, round(BUDGET_TOKENS / size))
            row["k@budget"] = budget_k
            row["hybrid hit@budget"] = score_retrieval(coach.retriever, cases, "hybrid", k=budget_k).hit5
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128, 256, 512])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from coach.cli import quiet_libraries

    quiet_libraries()
    rows = measure(args.sizes)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    cols = list(rows[0])
    print(" | ".join(cols))
    for row in rows:
        print(" | ".join(f"{row[c]:.3f}" if isinstance(row[c], float) else str(row[c]) for c in cols))


if __name__ == "__main__":
    main()
