"""Choose how much a source's situation library counts, on the dev split of the coaching cases.

    python -m evals.library [--store DIR] [--json]

For each (NEAR, LIFT) on a grid, the share of dev situations whose answer leads with a reader's lead; the pair
with the best dev share (ties: the smaller lift, then the higher bar) is reported with its test share, beside
the same figures with no library. The library (data/*.situations.jsonl) was written by a reader who saw only
the notes, never these cases; the constants in coach/situations.py are set from this output.
"""

from __future__ import annotations

import argparse
import itertools
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

NEARS = (0.45, 0.5, 0.55, 0.6, 0.65, 0.7)
LIFTS = (0.1, 0.2, 0.3, 0.5, 0.8)


@contextmanager
def _constants(near: float, lift: float) -> Iterator[None]:
    from coach import situations

    saved = situations.NEAR, situations.LIFT
    situations.NEAR, situations.LIFT = near, lift
    try:
        yield
    finally:
        situations.NEAR, situations.LIFT = saved


def lead_right(coach: Any, split: str) -> float:
    """Share of situations (and questions beside an injection) of `split` whose lead is a reader's lead."""
    from evals.datasets import load

    cases = [c for c in load("coaching", split) if c.kind in ("situation", "mixed_injection")]
    right = 0
    for case in cases:
        answer = coach.ask(case.question, situation=case.intake or None)
        by_n = {c.n: c.start for c in answer.citations}
        right += bool({by_n[n] for n in answer.lead if n in by_n} & set(case.lead_times))
    return right / len(cases) if cases else 0.0


def run(store_dir: Path | None = None) -> dict[str, Any]:
    from coach import Coach
    from coach.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        coach = Coach.open(settings=Settings(store_dir=store_dir or Path(tmp) / "store", llm="offline"))
        situations = sum(len(r.situations) for r in coach.store.records().values())
        with _constants(near=2.0, lift=0.0):  # no situation is ever that near: the library is off
            without = {"dev": lead_right(coach, "dev"), "test": lead_right(coach, "test")}
        grid = []
        for near, lift in itertools.product(NEARS, LIFTS):
            with _constants(near, lift):
                grid.append({"near": near, "lift": lift, "dev": lead_right(coach, "dev")})
        best = max(grid, key=lambda g: (g["dev"], -g["lift"], g["near"]))
        with _constants(best["near"], best["lift"]):
            best["test"] = lead_right(coach, "test")
    return {"situations": situations, "without": without, "chosen": best, "grid": grid}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, default=None, help="An index of the bundled notes (default: a fresh one)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from coach.cli import quiet_libraries

    quiet_libraries()
    result = run(args.store)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['situations']} library situations")
    w, c = result["without"], result["chosen"]
    print(f"without the library: lead right dev {w['dev']:.3f}, test {w['test']:.3f}")
    print(f"chosen NEAR={c['near']} LIFT={c['lift']}: lead right dev {c['dev']:.3f}, test {c['test']:.3f}")
    for g in result["grid"]:
        print(f"  NEAR={g['near']:.2f} LIFT={g['lift']:.1f}: dev {g['dev']:.3f}")


if __name__ == "__main__":
    main()
