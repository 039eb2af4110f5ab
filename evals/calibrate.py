"""Calibrate the coach's three thresholds on the dev split and report them on the test split.

    python -m evals.calibrate [--json]

- evidence to answer at all (advisor.REFUSE_BELOW): answerable questions vs off-topic ones;
- framework fit (frameworks.FIT_THRESHOLD): is the best framework's card on target (a passage under it
  covers a gold second)? Set to keep 90% of on-target cards on dev rather than for balanced accuracy;
- support of a claim by the passage it cites (citations.SUPPORT_THRESHOLD): evals/datasets/claims.jsonl.

Each threshold is the midpoint of the widest gap among those that maximise balanced accuracy on dev.
The constants in the code are set from this output; the tests check they still separate the test split.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from evals.datasets import DATASETS, load


@dataclass(frozen=True)
class Threshold:
    name: str
    value: float
    dev_accuracy: float
    test_accuracy: float
    n_dev: int
    n_test: int


def balanced_accuracy(scores: Sequence[tuple[float, bool]], threshold: float) -> float:
    """Mean of recall on positives (score ≥ threshold) and on negatives (score < threshold)."""
    pos = [s for s, label in scores if label]
    neg = [s for s, label in scores if not label]
    recall_pos = sum(s >= threshold for s in pos) / len(pos) if pos else 1.0
    recall_neg = sum(s < threshold for s in neg) / len(neg) if neg else 1.0
    return (recall_pos + recall_neg) / 2


def choose(scores: Sequence[tuple[float, bool]]) -> float:
    values = sorted({round(s, 4) for s, _ in scores})
    cuts = [(a + b) / 2 for a, b in itertools.pairwise(values)] or values
    best = max(balanced_accuracy(scores, c) for c in cuts)
    good = [c for c in cuts if balanced_accuracy(scores, c) == best]
    # Of equally accurate cuts, the one in the widest gap generalises best.
    gaps = {c: min(abs(c - v) for v in values) for c in good}
    return round(max(good, key=lambda c: gaps[c]), 3)


def choose_for_recall(scores: Sequence[tuple[float, bool]], recall: float) -> float:
    """The highest cut that still keeps `recall` of the positives (for the framework card: a missing
    card costs the person the framework walk-through, a loosely fitting one costs little)."""
    pos = sorted(s for s, label in scores if label)
    keep = max(1, round(recall * len(pos)))
    return round(pos[len(pos) - keep] - 0.001, 3) if pos else 0.0


def calibrate(
    name: str, dev: list[tuple[float, bool]], test: list[tuple[float, bool]], recall: float | None = None
) -> Threshold:
    value = choose(dev) if recall is None else choose_for_recall(dev, recall)
    return Threshold(
        name, value, round(balanced_accuracy(dev, value), 3), round(balanced_accuracy(test, value), 3), len(dev), len(test)
    )


def evidence_scores(coach: Any, split: str) -> list[tuple[float, bool]]:
    """The evidence the advisor itself computes for each question (its one pass), labelled answerable or not:
    the notes questions (short, some off-topic) and the coaching situations (long stories, all answerable,
    which the threshold must not refuse: people describe their situation at length)."""
    from coach.conversation import Situation

    out = []
    for case in load("notes", split):
        if case.kind == "injection":
            continue  # declined by the guard before retrieval, whatever the evidence
        reading = coach.advisor.read(case.question, case.history)
        if not reading.declined:
            out.append((reading.evidence, case.answerable))
    for case in load("coaching", split):
        if case.kind == "situation":
            reading = coach.advisor.read(case.question, None, Situation(**case.intake) if case.intake else None)
            out.append((reading.evidence, True))
    return out


def framework_scores(coach: Any, split: str) -> tuple[list[tuple[float, bool]], float]:
    """Score of the best-fitting framework per answerable question, labelled by whether its card would
    be on target: some passage under the framework's heading covers a gold second of the question.
    Also returns how often framework/situation questions get the framework their case names."""
    from evals.metrics import covers

    passages = coach.retriever.snapshot().passages
    out: list[tuple[float, bool]] = []
    right = total = 0
    for case in load("notes", split):
        if case.expect_refusal or not case.gold_times or case.history:
            continue
        qvec = coach.embedder.encode([case.question])[0]
        top = coach.retriever.retrieve(case.question, k=coach.settings.top_k, vector=qvec)
        best = coach.frameworks.best(qvec, top)
        if best is None:
            continue
        under = " > ".join(best.item.framework.heading_path)
        on_target = any(p.heading.startswith(under) and covers(p, case.gold_times) for p in passages)
        out.append((best.score, on_target))
        if case.framework:
            total += 1
            right += best.item.framework.name == case.framework
    return out, (right / total if total else 0.0)


def support_scores(coach: Any, split: str) -> list[tuple[float, bool]]:
    """Each claim against the passage that holds its time (supported) or that it would likely cite."""
    from coach.citations import CitationChecker

    checker = CitationChecker(coach.embedder)
    passages = coach.retriever.snapshot().passages
    out = []
    for row in _claims(split):
        if row["time"] is not None:
            cited = min(
                (p for p in passages if p.start <= row["time"] <= p.end), key=lambda p: p.end - p.start, default=None
            )
        else:
            cited = None
        cited = cited or coach.retrieve(row["claim"], k=1)[0]
        score, _ = checker.support([row["claim"]], cited)[0]
        out.append((score, bool(row["supported"])))
    return out


def _claims(split: str) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in (DATASETS / "claims.jsonl").read_text(encoding="utf-8").splitlines() if line]
    return [r for r in rows if r["split"] == split]


def run(store_dir: Path | None = None) -> dict[str, Any]:
    from coach import Coach
    from coach.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        coach = Coach.open(settings=Settings(store_dir=store_dir or Path(tmp) / "store", llm="offline"))
        fw_dev, fw_acc_dev = framework_scores(coach, "dev")
        fw_test, fw_acc_test = framework_scores(coach, "test")
        results = [
            calibrate("REFUSE_BELOW (evidence)", evidence_scores(coach, "dev"), evidence_scores(coach, "test")),
            calibrate("FIT_THRESHOLD (framework)", fw_dev, fw_test, recall=0.9),
            calibrate("SUPPORT_THRESHOLD (claim)", support_scores(coach, "dev"), support_scores(coach, "test")),
        ]
    return {
        "thresholds": [r.__dict__ for r in results],
        "framework_choice_accuracy": {"dev": round(fw_acc_dev, 3), "test": round(fw_acc_test, 3)},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from coach.cli import quiet_libraries

    quiet_libraries()
    result = run()
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{'threshold':28} {'value':>6} {'dev bal.acc':>11} {'test bal.acc':>12} {'n dev/test':>10}")
    for t in result["thresholds"]:
        print(f"{t['name']:28} {t['value']:6.3f} {t['dev_accuracy']:11.3f} {t['test_accuracy']:12.3f} "
              f"{t['n_dev']:>4}/{t['n_test']}")  # fmt: skip
    acc = result["framework_choice_accuracy"]
    print(f"right framework chosen for framework/situation questions: dev {acc['dev']:.3f}, test {acc['test']:.3f}")


if __name__ == "__main__":
    main()
