"""CLI start-up benchmark: `coach retrieve`, `coach ask` and `coach ask --json` as whole processes, next to
`python -c pass`, on a prebuilt bundled store.

    python -m bench.cli [--runs 7] [--store DIR --cache DIR] [--json]

Each command runs `--runs` times as a fresh process (`python -m coach.cli …`, what the `coach` script runs),
interleaved round by round with the order rotated, so background load on the shared machine hits them alike.
Prints min / median / max wall seconds, the median CPU seconds of the process, and min and median as a ratio
to `python -c pass` in the same run. Without --store, the bundled notes are indexed into a temporary store by
one untimed `coach retrieve` first (it embeds the documents and exports the query graph into the cache once);
--store/--cache time an existing store and cache instead. The run says how busy the machine was: the share
of both cores that other processes used meanwhile, and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import OFFLINE_ENV, PROJECT_ROOT, busy_cpu_seconds

QUESTION = "How do I get past senior manager?"
COMMANDS: dict[str, list[str]] = {
    "python -c pass": ["-c", "pass"],
    "coach retrieve": ["-m", "coach.cli", "retrieve", "cup of coffee", "-k", "5"],
    "coach ask": ["-m", "coach.cli", "ask", QUESTION],
    "coach ask --json": ["-m", "coach.cli", "ask", QUESTION, "--json"],
}
FLOOR = "python -c pass"


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_once(args: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one process; its output is discarded, a failure stops the bench."""
    cpu = children_cpu()
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=PROJECT_ROOT)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(args)} failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    return wall, children_cpu() - cpu


def prepare(store: Path, cache: Path, env: dict[str, str]) -> float:
    """Build the store (and the query graph) with one untimed run; its wall seconds."""
    start = time.perf_counter()
    run_once(["-m", "coach.cli", "retrieve", "warm up", "-k", "1"], env)
    return time.perf_counter() - start


def measure(runs: int, env: dict[str, str]) -> dict[str, Any]:
    names = list(COMMANDS)
    walls: dict[str, list[float]] = {n: [] for n in names}
    cpus: dict[str, list[float]] = {n: [] for n in names}
    busy, ours = busy_cpu_seconds(), children_cpu()
    start = time.perf_counter()
    for round_ in range(runs):
        for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
            wall, cpu = run_once(COMMANDS[name], env)
            walls[name].append(wall)
            cpus[name].append(cpu)
    elapsed = time.perf_counter() - start
    others = (busy_cpu_seconds() - busy) - (children_cpu() - ours) - time.process_time()
    floor_min, floor_median = min(walls[FLOOR]), statistics.median(walls[FLOOR])
    rows = {
        name: {
            "min s": round(min(w), 3),
            "median s": round(statistics.median(w), 3),
            "max s": round(max(w), 3),
            "median cpu s": round(statistics.median(cpus[name]), 3),
            "x pass (min)": round(min(w) / floor_min, 1),
            "x pass (median)": round(statistics.median(w) / floor_median, 1),
        }
        for name, w in walls.items()
    }
    return {
        "runs": runs,
        "rows": rows,
        "others_busy_share": round(max(0.0, others) / (elapsed * (os.cpu_count() or 1)), 3),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "cores": os.cpu_count(),
    }


def print_table(result: dict[str, Any]) -> None:
    cols = ["min s", "median s", "max s", "median cpu s", "x pass (min)", "x pass (median)"]
    print(f"{'command':<18}" + "".join(f"{c:>17}" for c in cols))
    for name, row in result["rows"].items():
        print(f"{name:<18}" + "".join(f"{row[c]:>17}" for c in cols))
    print(
        f"{result['runs']} runs each, interleaved; other processes used {100 * result['others_busy_share']:.0f}% "
        f"of the {result['cores']} cores meanwhile; load average {' / '.join(map(str, result['load_average']))}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="processes per command (default 7)")
    parser.add_argument("--store", type=Path, help="an existing store to time (default: build one in a temp folder)")
    parser.add_argument("--cache", type=Path, help="its cache folder (default: a temp folder)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="coach-bench-cli-") as tmp:
        store = args.store or Path(tmp) / "store"
        cache = args.cache or Path(tmp) / "cache"
        env = {**os.environ, **OFFLINE_ENV, "PYTHONPATH": str(PROJECT_ROOT), "COACH_STORE_DIR": str(store),
               "COACH_CACHE_DIR": str(cache)}  # fmt: skip
        env = {k: v for k, v in env.items() if not k.startswith("COACH_") or k in ("COACH_STORE_DIR", "COACH_CACHE_DIR")}
        built = prepare(store, cache, env)
        result = {"prepare s": round(built, 1), **measure(args.runs, env)}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"store ready in {result['prepare s']} s (untimed)")
    print_table(result)


if __name__ == "__main__":
    main()
