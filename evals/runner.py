"""Run eval suites against a Coach and write the report (used by `coach eval`)."""

from __future__ import annotations

import platform
import shutil
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals import suites
from evals.report import baseline_for, saved_baseline, write
from evals.suites import SuiteResult

DEFAULT_SUITES = ("retrieval", "citations", "answers", "coaching", "conversations", "latency")


def run(
    coach: Any,
    names: Sequence[str] = DEFAULT_SUITES,
    split: str | None = None,
    corpus_coach: Any = None,
    with_langchain: bool = True,
    judge: Any = None,
) -> list[SuiteResult]:
    """Run the named suites. `corpus_coach` is a Coach over the 303 transcripts (for the corpus suite);
    `judge` an optional LangChain chat model that also grades citation precision."""
    unknown = set(names) - set(suites.SUITES)
    if unknown:
        raise ValueError(f"unknown suite(s) {', '.join(sorted(unknown))}; choose from {', '.join(suites.SUITES)}")
    cases = suites.notes_cases(split)
    results: list[SuiteResult] = []
    answered = None
    if {"citations", "answers"} & set(names):
        answered = suites.ask_all(coach, cases)
    for name in names:
        if name == "retrieval":
            baselines = {}
            if with_langchain:
                from evals.baselines import langchain_search

                files = sorted(Path(coach.settings.data_dir).glob("*.md"))
                baselines["langchain plain"] = langchain_search(files, coach.embedder)
            results.append(suites.retrieval_suite(coach, cases, baselines))
        elif name == "citations":
            results.append(suites.citation_suite(coach, answered or []))
            if judge is not None:
                from evals.judge import judge_suite

                model = str(getattr(judge, "model_name", None) or type(judge).__name__)
                results.append(judge_suite(judge, answered or [], model))
        elif name == "answers":
            results.append(suites.answer_suite(coach, answered or []))
        elif name == "coaching":
            results.append(suites.coaching_suite(coach, suites.coaching_cases(split)))
        elif name == "conversations":
            results.append(suites.conversation_suite(coach, cases))
        elif name == "latency":
            results.append(suites.latency_suite(coach, cases))
        elif name == "corpus":
            if corpus_coach is None:
                results.append(SuiteResult("corpus", {}, notes=["skipped: no full-corpus store given (--corpus-store)"]))
            else:
                results.append(suites.corpus_suite(corpus_coach, suites.corpus_cases(split)))
    return results


def save(results: list[SuiteResult], coach: Any, split: str | None, out: Path, as_baseline: bool = False) -> Path:
    """Write the report under `out`; with `as_baseline`, also keep it as the baseline later runs in `out` compare with."""
    meta = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "split": split or "all",
        "llm": coach.settings.llm,
        "embed_backend": coach.settings.embed_backend,
        "chunk_tokens": coach.settings.chunk_tokens,
        "python": platform.python_version(),
    }
    folder = write(results, meta, out, baseline_for(out))
    if as_baseline:
        target = saved_baseline(out)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(folder / "report.json", target)
    return folder
