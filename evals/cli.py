"""`coach eval`: the offline eval suites, registered on the coach CLI through the `coach.commands` entry point
(pyproject.toml), so that `coach` never imports `evals`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from coach.cli import JsonOpt, StoreOpt, err, fail, open_coach, out

# Reports go under the current folder unless the user names another: never into the installed package.
DEFAULT_OUT = Path("coach-eval-reports")


def register(app: typer.Typer) -> None:
    app.command("eval")(eval_)


def eval_(
    suites: Annotated[
        list[str] | None,
        typer.Argument(
            help="retrieval, citations, answers, coaching, conversations, latency, corpus (default: all but corpus)."
        ),
    ] = None,
    split: Annotated[str | None, typer.Option(help="Only the dev or test split.")] = None,
    corpus_store: Annotated[
        Path | None, typer.Option(help="A store holding the 303 transcripts, for the corpus suite.")
    ] = None,
    no_langchain: Annotated[bool, typer.Option("--no-langchain", help="Skip the plain LangChain baseline.")] = False,
    gate: Annotated[bool, typer.Option("--gate", help="Exit 1 when a metric falls below its CI floor.")] = False,
    out_dir: Annotated[
        Path,
        typer.Option("--out", help="Folder for the reports (one subfolder per run); relative to the current folder."),
    ] = DEFAULT_OUT,
    save_baseline: Annotated[
        bool, typer.Option(help="Also keep this run as OUT/baseline/report.json, the baseline for later deltas.")
    ] = False,
    llm_judge: Annotated[
        bool, typer.Option("--llm-judge", help="Also grade citations with the configured COACH_LLM (optional).")
    ] = False,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the offline eval suites; print a summary and write OUT/<timestamp>/ (report.md, report.json, charts)."""
    from evals import gate as ci_gate
    from evals import runner

    coach = open_coach(store, show_progress=not as_json)
    corpus = None
    if corpus_store is not None:
        from coach.api import Coach

        corpus = Coach.open(settings=coach.settings.model_copy(update={"store_dir": corpus_store}))
    names = list(suites or ([*runner.DEFAULT_SUITES, "corpus"] if corpus else runner.DEFAULT_SUITES))
    judge = None
    if llm_judge:
        from coach.llm import make_llm

        judge = make_llm(coach.settings)
        if judge is None:
            fail("--llm-judge needs COACH_LLM=openai (or smollm2) and its settings")
    try:
        results = runner.run(coach, names, split, corpus, with_langchain=not no_langchain, judge=judge)
    except ValueError as exc:
        fail(str(exc))
        return
    folder = runner.save(results, coach, split, out_dir, as_baseline=save_baseline)
    failures = ci_gate.failures(results) if gate else []
    if as_json:
        data = {r.name: r.metrics for r in results}
        out.print_json(json.dumps({"suites": data, "report": str(folder), "gate_failures": failures}))
    else:
        from rich.table import Table

        for r in results:
            table = Table(title=r.name, show_header=False)
            for metric, value in r.metrics.items():
                table.add_row(metric, f"{value:.3f}" if not metric.endswith(" ms") else f"{value:.1f}")
            for note in r.notes:
                table.add_row(f"[dim]{note}[/]", "")
            out.print(table)
        out.print(f"report: {folder / 'report.md'}")
        for f in failures:
            err.print(f"[red]gate:[/] {f}")
    raise typer.Exit(1 if failures else 0)
