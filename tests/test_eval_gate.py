"""The eval gate in CI: the coach passes it, and a deliberately degraded retriever fails it."""

from __future__ import annotations

import random
from typing import Any

from evals import gate, suites


def test_the_coach_passes_the_gate(bundled) -> None:  # type: ignore[no-untyped-def]
    results = gate.fast_suites(bundled)
    assert gate.failures(results) == []


class _Degraded:
    """The real retriever with its ranking thrown away: same passages, shuffled order."""

    def __init__(self, real: Any) -> None:
        self.real = real
        self.rng = random.Random(7)

    def retrieve(self, query: str, k: int = 5, mode: str = "hybrid", vector: Any = None) -> list[Any]:
        pool = list(self.real.snapshot().passages)
        self.rng.shuffle(pool)
        return pool[:k]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def test_the_gate_fails_when_retrieval_is_degraded(bundled, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(bundled, "retriever", _Degraded(bundled.retriever))
    results = [suites.retrieval_suite(bundled, suites.notes_cases(), baselines={})]
    failed = gate.failures(results)
    assert any("hit@5" in f for f in failed)
    assert any("mrr" in f for f in failed)


def test_report_is_written_with_deltas(tmp_path, bundled) -> None:  # type: ignore[no-untyped-def]
    import json

    from evals.report import write

    results = [suites.retrieval_suite(bundled, suites.notes_cases("dev"), baselines={})]
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"suites": {"retrieval": {"metrics": {"hybrid (coach): mrr": 0.5}}}}))
    folder = write(results, {"when": "now"}, out=tmp_path, baseline=baseline)
    assert folder.parent == tmp_path
    data = json.loads((folder / "report.json").read_text())
    mrr = data["suites"]["retrieval"]["metrics"]["hybrid (coach): mrr"]
    assert data["deltas"]["retrieval"]["hybrid (coach): mrr"] == mrr - 0.5
    assert (folder / "retrieval.png").stat().st_size > 1000
    assert "Δ vs baseline" in (folder / "report.md").read_text()


def test_coach_eval_cli_prints_json_and_writes_a_report(tmp_path, cache_dir) -> None:  # type: ignore[no-untyped-def]
    """Reports go under the folder the user runs `coach eval` from (or names with --out), never into the package."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    from tests.support import cli_env
    from tests.support import coach_cli as _coach

    here = tmp_path / "somewhere"
    here.mkdir()
    res = subprocess.run(
        [sys.executable, "-m", "coach.cli", "eval", "retrieval", "--split", "dev", "--no-langchain", "--gate", "--json"],
        capture_output=True, text=True, timeout=600, cwd=here,
        env=cli_env(cache_dir, COACH_STORE_DIR=str(tmp_path / "store")),
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["gate_failures"] == []
    assert data["suites"]["retrieval"]["hybrid (coach): hit@5"] >= 0.9
    report = Path(data["report"])
    assert report.parent == here / "coach-eval-reports"
    assert (report / "report.md").is_file()
    assert (report / "report.json").is_file()
    assert json.loads((report / "report.json").read_text())["baseline"].endswith("evals/reports/baseline/report.json")

    named = tmp_path / "named"
    res = _coach("eval", "retrieval", "--split", "dev", "--no-langchain", "--json", "--save-baseline", "--out", str(named),
                 store=tmp_path / "store", cache=cache_dir)  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert Path(json.loads(res.stdout)["report"]).parent == named
    assert (named / "baseline" / "report.json").is_file()  # the next run in `named` compares with this one

    res = _coach("eval", "nonsense", store=tmp_path / "store", cache=cache_dir)
    assert res.returncode == 2
    assert "unknown suite" in res.stderr


def test_optional_llm_judge_is_labelled_and_computed(bundled) -> None:  # type: ignore[no-untyped-def]
    from langchain_openai import ChatOpenAI

    from evals.judge import judge_suite
    from tests.fake_openai import FakeOpenAI

    answered = suites.ask_all(bundled, suites.notes_cases("dev")[:3])
    # A judge that says YES only when the sentence mentions a manager: the share must follow it.
    with FakeOpenAI(lambda m: "YES" if "manager" in m[-1]["content"].split("Sentence:")[1].lower() else "NO") as server:
        llm = ChatOpenAI(model="judge-x", base_url=server.url, api_key="t", max_retries=0)
        result = judge_suite(llm, answered, "judge-x", limit=10)
    prompts = [r["messages"][-1]["content"].split("Sentence:")[1].lower() for r in server.requests]
    expected = sum("manager" in p for p in prompts) / len(prompts)
    assert result.metrics["judged pairs"] == len(prompts) > 0
    assert result.metrics["LLM-judged citation precision"] == expected
    assert "optional LLM judge: judge-x" in result.notes[0]
