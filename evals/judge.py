"""Optional LLM judge for citation precision, for people who have an endpoint (COACH_LLM=openai and
its settings). Never required; its figures are labelled as the judge's in the report."""

from __future__ import annotations

from typing import Any

from coach.prompts import render
from coach.textutil import MARKER
from evals.suites import SuiteResult, _claims


def judge_suite(llm: Any, answered: list[tuple[Any, Any, str]], model: str, limit: int = 60) -> SuiteResult:
    """Share of (sentence, cited quote) pairs the LLM says are supported, over at most `limit` pairs."""
    from langchain_core.messages import HumanMessage

    verdicts: list[float] = []
    errors = 0
    for _, answer, _ in answered:
        if answer is None or answer.refused:
            continue
        cites = {c.n: c for c in answer.citations}
        for sentence in _claims(answer.text):
            for n in dict.fromkeys(int(m) for m in MARKER.findall(sentence)):
                if len(verdicts) + errors >= limit or n not in cites:
                    continue
                prompt = render("judge_support", passage=cites[n].quote, sentence=MARKER.sub("", sentence))
                try:
                    reply = str(llm.invoke([HumanMessage(prompt)]).content).strip().upper()
                except Exception:  # an unreachable judge is reported, never fatal
                    errors += 1
                    continue
                verdicts.append(1.0 if reply.startswith("YES") else 0.0)
    metrics = {"judged pairs": float(len(verdicts)), "judge errors": float(errors)}
    if verdicts:
        metrics["LLM-judged citation precision"] = sum(verdicts) / len(verdicts)
    return SuiteResult("llm judge", metrics, notes=[f"optional LLM judge: {model} (not used by the CI gate)"])
