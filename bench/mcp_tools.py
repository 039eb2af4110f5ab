"""MCP benchmark: each tool over stdio against the same call through the Python API, and concurrent HTTP clients.

    python -m bench.mcp_tools [--store DIR] [--n 40] [--clients 16] [--calls 4] [--json]

- stdio: one `coach mcp --store DIR` process, spawned by the SDK's client as an MCP client does. For each
  tool, 3 warm-up calls, then `--n` timed calls interleaved with the Python API doing the same work in this
  process (`Coach.ask`, `Coach.retrieve(k=5)`, the framework list, one framework's card). Questions are the
  `question` fields of evals/datasets/notes.jsonl, cycled.
- http: one `coach mcp --http` process; after 3 warm-up calls, first one client alone, then `--clients` clients at once, each
  opening its own session and calling ask_coach `--calls` times. Errors (tool errors, exceptions) are counted.

Without --store the bundled notes are indexed into a temporary store first. Both processes share the 2 cores,
so the stdio overhead includes the hop between them; the ratio is over the Python API in the same run.
"""

from __future__ import annotations

import argparse
import itertools
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.common import OFFLINE_ENV, PROJECT_ROOT, offline
from evals.datasets import DATASETS


def percentiles(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    return {"p50": round(statistics.median(ms), 1), "p95": round(ms[max(0, round(0.95 * len(ms)) - 1)], 1), "n": len(ms)}


def questions() -> list[str]:
    lines = (DATASETS / "notes.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def server_env(store: Path, cache: Path) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_")}
    return {**env, **OFFLINE_ENV, "PYTHONPATH": str(PROJECT_ROOT), "COACH_CACHE_DIR": str(cache)}


async def bench_stdio(coach: Any, store: Path, cache: Path, n: int) -> dict[str, Any]:
    import anyio
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    from coach.compose import framework_card
    from coach.frameworks import FrameworkMatch

    qs = itertools.cycle(questions())
    items = coach.frameworks.items()
    params = StdioServerParameters(command=sys.executable, args=["-m", "coach.cli", "mcp", "--store", str(store)],
                                   env=server_env(store, cache), cwd=str(PROJECT_ROOT))  # fmt: skip
    results: dict[str, Any] = {}
    async with Client(params, read_timeout_seconds=600) as client:
        ids = [f["id"] for f in (await client.call_tool("list_frameworks", {})).structured_content["frameworks"]]  # type: ignore[index]
        pairs: dict[str, tuple[Callable[[int, str], Awaitable[Any]], Callable[[int, str], Any]]] = {
            "ask_coach": (lambda i, q: client.call_tool("ask_coach", {"question": q}), lambda i, q: coach.ask(q).to_dict()),
            "search_sources": (
                lambda i, q: client.call_tool("search_sources", {"query": q, "k": 5}),
                lambda i, q: [p.to_dict() for p in coach.retrieve(q, k=5)],
            ),
            "list_frameworks": (
                lambda i, q: client.call_tool("list_frameworks", {}),
                lambda i, q: [(x.display_name, len(x.framework.steps)) for x in coach.frameworks.items()],
            ),
            "get_framework": (
                lambda i, q: client.call_tool("get_framework", {"name": ids[i % len(ids)]}),
                lambda i, q: framework_card(FrameworkMatch(items[i % len(items)], 0.0)).to_dict(),
            ),
        }
        for tool, (remote, local) in pairs.items():
            for i in range(3):  # warm-up, not counted
                q = next(qs)
                await remote(i, q)
                local(i, q)
            over_stdio: list[float] = []
            in_process: list[float] = []
            for i in range(n):
                q = next(qs)
                start = time.perf_counter()
                await remote(i, q)
                over_stdio.append(time.perf_counter() - start)
                start = time.perf_counter()
                await anyio.to_thread.run_sync(local, i, q)
                in_process.append(time.perf_counter() - start)
            s, p = percentiles(over_stdio), percentiles(in_process)
            results[tool] = {"stdio": s, "python": p, "p50 ratio": round(s["p50"] / p["p50"], 2) if p["p50"] else None}
    return results


async def bench_http(url: str, clients: int, calls: int) -> dict[str, Any]:
    import anyio
    from mcp import Client

    qs = questions()
    latencies: list[float] = []
    errors: list[str] = []

    async def user(u: int) -> None:
        try:
            async with Client(url, read_timeout_seconds=600) as client:
                for c in range(calls):
                    q = qs[(u * calls + c) % len(qs)]
                    start = time.perf_counter()
                    result = await client.call_tool("ask_coach", {"question": q})
                    latencies.append(time.perf_counter() - start)
                    if result.is_error:
                        errors.append(result.content[0].text)  # type: ignore[union-attr]
        except Exception as exc:  # a failed session counts as an error, not a crash of the bench
            errors.append(repr(exc))

    start = time.perf_counter()
    async with anyio.create_task_group() as group:
        for u in range(clients):
            group.start_soon(user, u)
    wall = time.perf_counter() - start
    return {"clients": clients, "calls": len(latencies), "errors": len(errors), "first errors": errors[:3],
            "wall s": round(wall, 1), "calls/s": round(len(latencies) / wall, 2), **percentiles(latencies)}  # fmt: skip


def start_http(store: Path, cache: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "coach.cli", "mcp", "--http", "--port", str(port), "--store", str(store)],
                            env=server_env(store, cache), cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL)  # fmt: skip
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"coach mcp --http exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"http://127.0.0.1:{port}/mcp"
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("coach mcp --http did not start listening within 600 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, help="An existing store (default: the bundled notes in a temporary one).")
    parser.add_argument("--n", type=int, default=40, help="Timed calls per tool over stdio.")
    parser.add_argument("--clients", type=int, default=16, help="Concurrent HTTP clients.")
    parser.add_argument("--calls", type=int, default=4, help="ask_coach calls per HTTP client.")
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    args = parser.parse_args()
    offline()
    import anyio

    from coach import Coach
    from coach.settings import Settings

    with tempfile.TemporaryDirectory(prefix="coach-bench-mcp-") as tmp:
        store = args.store or Path(tmp) / "store"
        cache = Path.home() / ".cache" / "coach"
        coach = Coach.open(settings=Settings(store_dir=store, cache_dir=cache))
        report: dict[str, Any] = {"store": str(store), "stdio": anyio.run(bench_stdio, coach, store, cache, args.n)}
        proc, url = start_http(store, cache)
        try:
            anyio.run(bench_http, url, 1, 3)  # warm-up: the server's first answer builds its snapshot and caches
            report["http one client"] = anyio.run(bench_http, url, 1, args.calls * 2)
            report["http concurrent"] = anyio.run(bench_http, url, args.clients, args.calls)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    if args.json:
        print(json.dumps(report, indent=1))
        return
    for tool, r in report["stdio"].items():
        s, p = r["stdio"], r["python"]
        print(f"{tool:16} stdio p50 {s['p50']:7.1f} ms  p95 {s['p95']:7.1f} ms   python p50 {p['p50']:7.1f} ms  "
              f"p95 {p['p95']:7.1f} ms   p50 ratio {r['p50 ratio']}×  (n={s['n']})")  # fmt: skip
    for name in ("http one client", "http concurrent"):
        h = report[name]
        print(f"{name:16} {h['clients']:2} clients  {h['calls']:3} ask_coach calls  {h['calls/s']:5.2f}/s  "
              f"p50 {h['p50']:7.1f} ms  p95 {h['p95']:7.1f} ms  errors {h['errors']} {h['first errors'] or ''}")  # fmt: skip


if __name__ == "__main__":
    main()
