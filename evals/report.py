"""Eval reports: `<out>/<timestamp>/` with report.md, report.json and PNG charts, each metric shown with its delta
against a baseline run: `<out>/baseline/report.json` once one is saved there, else the reference run that ships
with the code (`evals/reports/baseline/report.json`). `out` is the folder the user names (`coach eval --out`,
by default `coach-eval-reports` under the current folder): never inside the installed package."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from evals.suites import SuiteResult

SHIPPED_BASELINE = Path(__file__).resolve().parent / "reports" / "baseline" / "report.json"


def saved_baseline(out: Path) -> Path:
    """Where `--save-baseline` keeps a run for the reports written to `out`."""
    return out / "baseline" / "report.json"


def baseline_for(out: Path) -> Path:
    """The run the reports in `out` are compared with: one saved there, else the shipped reference run."""
    mine = saved_baseline(out)
    return mine if mine.is_file() else SHIPPED_BASELINE


def to_json(results: list[SuiteResult], meta: dict[str, Any]) -> dict[str, Any]:
    return {
        "meta": meta,
        "suites": {r.name: {"metrics": r.metrics, "notes": r.notes, "rows": r.rows} for r in results},
    }


def deltas(current: dict[str, Any], baseline: dict[str, Any] | None) -> dict[str, dict[str, float | None]]:
    """metric → change against the baseline run (None when the baseline lacks it)."""
    out: dict[str, dict[str, float | None]] = {}
    for suite, data in current["suites"].items():
        old = (baseline or {}).get("suites", {}).get(suite, {}).get("metrics", {})
        out[suite] = {m: (v - old[m] if m in old else None) for m, v in data["metrics"].items()}
    return out


def write(results: list[SuiteResult], meta: dict[str, Any], out: Path, baseline: Path) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = out.resolve() / stamp
    folder.mkdir(parents=True, exist_ok=True)
    data = to_json(results, meta)
    base = json.loads(baseline.read_text(encoding="utf-8")) if baseline.is_file() else None
    data["deltas"] = deltas(data, base)
    data["baseline"] = str(baseline) if base else None
    (folder / "report.json").write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
    charts = _charts(results, folder)
    (folder / "report.md").write_text(markdown(data, charts), encoding="utf-8")
    return folder


def markdown(data: dict[str, Any], charts: list[str]) -> str:
    lines = [f"# Coach eval report — {data['meta'].get('when', '')}", ""]
    lines += [f"- {k}: {v}" for k, v in data["meta"].items() if k != "when"]
    lines.append(f"- baseline: {data['baseline'] or 'none saved (run with --save-baseline)'}")
    for suite, body in data["suites"].items():
        lines += ["", f"## {suite}", "", "| metric | value | Δ vs baseline |", "|---|---:|---:|"]
        for metric, value in body["metrics"].items():
            delta = data["deltas"][suite].get(metric)
            shown = "—" if delta is None else f"{delta:+.3f}"
            lines.append(f"| {metric} | {value:.3f} | {shown} |")
        lines += [f"_{n}_" for n in body["notes"]]
    lines += ["", *(f"![{c}]({c})" for c in charts)]
    return "\n".join(lines) + "\n"


def _charts(results: list[SuiteResult], folder: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")  # no display here
    import matplotlib.pyplot as plt

    names = []
    for r in results:
        metrics = {k: v for k, v in r.metrics.items() if k != "n" and not k.endswith(" ms") and 0 <= v <= 1}
        if r.name == "latency":
            metrics = {k: v for k, v in r.metrics.items() if k.endswith(" ms")}
        if not metrics:
            continue
        fig, ax = plt.subplots(figsize=(8, 0.35 * len(metrics) + 1.2))
        ax.barh(list(metrics), list(metrics.values()), color="#3b6ea5")
        ax.invert_yaxis()
        ax.set_title(f"{r.name}")
        if r.name != "latency":
            ax.set_xlim(0, 1)
        for i, v in enumerate(metrics.values()):
            ax.text(v, i, f" {v:.2f}", va="center", fontsize=8)
        fig.tight_layout()
        name = f"{re.sub(r'[^a-z0-9]+', '-', r.name.lower())}.png"
        fig.savefig(folder / name, dpi=110)
        plt.close(fig)
        names.append(name)
    return names
