"""Evaluation cases, loaded from `evals/datasets/*.jsonl` (format in evals/datasets/SCHEMA.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

DATASETS = Path(__file__).resolve().parent / "datasets"


@dataclass(frozen=True)
class Case:
    id: str
    kind: str
    question: str
    split: str
    history: list[tuple[str, str]] = field(default_factory=list)
    gold_times: list[int] = field(default_factory=list)
    gold_video_ids: list[str] = field(default_factory=list)
    must_mention: list[str] = field(default_factory=list)
    expect_refusal: bool = False
    framework: str | None = None
    premise_false: str | None = None
    # coaching.jsonl (see COACHING.md): what the answer should open with, and what it must not
    intake: dict[str, str] = field(default_factory=dict)
    problem: str = ""
    group: str = ""
    walk: bool = False
    lead_times: list[int] = field(default_factory=list)
    not_lead_times: list[int] = field(default_factory=list)
    contradiction_times: list[int] = field(default_factory=list)

    @property
    def answerable(self) -> bool:
        return not self.expect_refusal


def load(name: str = "notes", split: str | None = None) -> list[Case]:
    """Cases of one dataset, optionally only the `dev` or `test` split."""
    cases = []
    with (DATASETS / f"{name}.jsonl").open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            cases.append(
                Case(
                    id=row["id"],
                    kind=row.get("kind", "corpus"),
                    question=row["question"],
                    split=row.get("split", "dev"),
                    history=[(r, t) for r, t in row.get("history", [])],
                    gold_times=[int(t) for t in row.get("gold_times", [])],
                    gold_video_ids=list(row.get("gold_video_ids", [])),
                    must_mention=list(row.get("must_mention", [])),
                    expect_refusal=bool(row.get("expect_refusal", False)),
                    framework=row.get("framework"),
                    premise_false=row.get("premise_false"),
                    intake={k: str(v) for k, v in (row.get("intake") or {}).items()},
                    problem=row.get("problem", ""),
                    group=row.get("group", ""),
                    walk=bool(row.get("walk", False)),
                    lead_times=[int(t) for t in row.get("lead_times", [])],
                    not_lead_times=[int(t) for t in row.get("not_lead_times", [])],
                    contradiction_times=[int(t) for t in row.get("contradiction_times", [])],
                )
            )
    return [c for c in cases if split is None or c.split == split]
