"""Quality on the hand-written question sets: retrieval hit@5 and the calibrated thresholds.

The figures are computed from the ranked passages and the dataset's gold seconds; the
thresholds in the code must be the ones `python -m evals.calibrate` derives from dev.
"""

from __future__ import annotations

import pytest

from evals import calibrate
from evals.datasets import load
from evals.retrieval import score_retrieval


def test_notes_question_set_is_big_enough() -> None:
    answerable = [c for c in load("notes") if c.gold_times]
    assert len(answerable) >= 30


def test_hybrid_retrieval_hits_at_five(bundled) -> None:  # type: ignore[no-untyped-def]
    hybrid = score_retrieval(bundled.retriever, load("notes"), "hybrid")
    assert hybrid.n >= 30
    assert hybrid.hit5 >= 0.9, f"hit@5 {hybrid.hit5}, misses {hybrid.misses}"
    bm25 = score_retrieval(bundled.retriever, load("notes"), "bm25")
    assert hybrid.mrr > bm25.mrr  # fusion earns its keep over keywords alone


@pytest.fixture(scope="module")
def calibration(bundled):  # type: ignore[no-untyped-def]
    return {
        "evidence": (calibrate.evidence_scores(bundled, "dev"), calibrate.evidence_scores(bundled, "test")),
        "support": (calibrate.support_scores(bundled, "dev"), calibrate.support_scores(bundled, "test")),
    }


def test_refusal_threshold_is_the_calibrated_one_and_holds_on_test(calibration) -> None:  # type: ignore[no-untyped-def]
    from coach.advisor import REFUSE_BELOW

    dev, test = calibration["evidence"]
    assert calibrate.choose(dev) == pytest.approx(REFUSE_BELOW, abs=0.01)
    assert calibrate.balanced_accuracy(test, REFUSE_BELOW) >= 0.9


def test_support_threshold_is_the_calibrated_one_and_beats_chance(calibration) -> None:  # type: ignore[no-untyped-def]
    from coach.citations import SUPPORT_THRESHOLD

    dev, test = calibration["support"]
    assert calibrate.choose(dev) == pytest.approx(SUPPORT_THRESHOLD, abs=0.01)
    assert calibrate.balanced_accuracy(test, SUPPORT_THRESHOLD) > 0.6


def test_wrong_numbers_are_never_supported(bundled) -> None:  # type: ignore[no-untyped-def]
    from coach.citations import CitationChecker

    passage = next(p for p in bundled.retriever.snapshot().passages if "five-step" in p.text)
    checker = CitationChecker(bundled.embedder)
    claims = ["The Magic Loop is a five-step framework for career growth.", "The Magic Loop is a 3-step framework."]
    (right, _), (wrong, _) = checker.support(claims, passage)
    assert right >= checker.threshold
    assert wrong < checker.threshold


def test_framework_threshold_is_calibrated_and_the_right_framework_is_chosen(bundled) -> None:  # type: ignore[no-untyped-def]
    from coach.frameworks import FIT_THRESHOLD

    dev, _ = calibrate.framework_scores(bundled, "dev")
    _, test_accuracy = calibrate.framework_scores(bundled, "test")
    assert calibrate.choose_for_recall(dev, 0.9) == pytest.approx(FIT_THRESHOLD, abs=0.01)
    assert test_accuracy >= 0.8
