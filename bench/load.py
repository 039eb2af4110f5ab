"""Load test of the web app: N simultaneous gradio_client conversations for a bounded time, at several N.

    python -m bench.load [--users 8 16 32] [--seconds 60] [--soak 600] [--store DIR] [--url URL] [--json]

Without --url it starts `coach serve` as its own process on a free loopback port (so the server's memory is
its own, read from /proc: current RSS and peak VmHWM) and drives it from this process. Each simulated user
opens its own `gradio_client.Client`, then asks questions back to back through the `/chat` API until the time
is up, keeping the last turns of its own conversation as history (as the web page does). Questions are the
`question` fields of evals/datasets/notes.jsonl, each user starting at a different one.

First one user alone (the baseline, measured in the same run), then each level in --users; every level
reports requests, throughput, latency p50/p95/max (seconds, whole request as the client sees it), errors
(exceptions, and answers that are neither cited nor a refusal), and each p50/p95 as a ratio to the
single-user baseline. --soak S then keeps the first level running for S seconds, sampling the server's RSS
every 10 s, and reports the RSS trend after the first minute (MB per minute, least squares): memory is
reported, never asserted. The clients share the machine with the server (2 cores here), so latencies are
an upper bound on what a user would wait.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import PROJECT_ROOT
from evals.datasets import DATASETS

QUESTIONS_FILE = DATASETS / "notes.jsonl"
FALLBACK_QUESTIONS = (
    "How do I get past senior manager?",
    "My manager never talks about my career growth. What should I do?",
    "How do I stand out in a job interview?",
    "How can I become more inventive at work?",
)
CITATION_URL = re.compile(r"^https://www\.youtube\.com/watch\?v=[\w-]+&t=\d+s$")
HISTORY_TURNS = 4


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    refusals: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ok(self, seconds: float, refused: bool) -> None:
        with self.lock:
            self.latencies.append(seconds)
            self.refusals += int(refused)

    def fail(self, what: str) -> None:
        with self.lock:
            self.errors.append(what)


def load_questions() -> list[str]:
    try:
        rows = [json.loads(line) for line in QUESTIONS_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
        questions = [str(r["question"]) for r in rows if str(r.get("question") or "").strip()]
    except (OSError, ValueError, KeyError):
        questions = []
    return questions or list(FALLBACK_QUESTIONS)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); nan when empty."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(q / 100 * len(ordered))))
    return ordered[rank - 1]


def user(url: str, index: int, questions: list[str], start: threading.Barrier, deadline: list[float], tally: Tally) -> None:
    from gradio_client import Client

    try:
        client = Client(url, verbose=False)
    except Exception as exc:
        tally.fail(f"user {index}: could not connect: {type(exc).__name__}: {exc}")
        start.abort()
        return
    history: list[list[str]] = []
    try:
        start.wait()
    except threading.BrokenBarrierError:
        return
    k = index * 7
    while time.monotonic() < deadline[0]:
        question = questions[k % len(questions)]
        k += 1
        began = time.monotonic()
        try:
            result = client.predict(question, history, "", "", "", api_name="/chat")
        except Exception as exc:
            tally.fail(f"user {index}: {type(exc).__name__}: {str(exc)[:200]}")
            continue
        elapsed = time.monotonic() - began
        urls = [c.get("url", "") for c in result.get("citations", [])] if isinstance(result, dict) else []
        refused = bool(isinstance(result, dict) and result.get("refused"))
        if not isinstance(result, dict) or not (refused or (urls and all(CITATION_URL.match(u) for u in urls))):
            tally.fail(f"user {index}: answer without valid citations for {question!r}")
            continue
        tally.ok(elapsed, refused)
        history = [*history, ["user", question], ["assistant", str(result.get("answer", ""))]][-HISTORY_TURNS:]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(url: str, users: int, seconds: float) -> dict[str, Any]:
    questions = load_questions()
    tally = Tally()
    start = threading.Barrier(users + 1)
    deadline = [float("inf")]
    threads = [
        threading.Thread(target=user, args=(url, i, questions, start, deadline, tally), daemon=True) for i in range(users)
    ]
    for t in threads:
        t.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a user that cannot connect breaks it
        start.wait(timeout=120)
    began = time.monotonic()
    deadline[0] = began + seconds
    for t in threads:
        t.join(timeout=seconds + 120)
    wall = time.monotonic() - began
    lat = tally.latencies
    return {
        "url": url,
        "users": users,
        "seconds": round(wall, 1),
        "requests": len(lat),
        "throughput_rps": round(len(lat) / wall, 2) if wall else 0.0,
        "p50_s": round(percentile(lat, 50), 3),
        "p95_s": round(percentile(lat, 95), 3),
        "max_s": round(max(lat), 3) if lat else float("nan"),
        "errors": len(tally.errors),
        "refusals": tally.refusals,
        "error_samples": tally.errors[:5],
    }


def rss_mb(pid: int) -> dict[str, float]:
    """Current and peak resident memory of a process (Linux /proc), in MB."""
    fields = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) / 1024
    nan = float("nan")
    return {"rss_mb": round(fields.get("VmRSS", nan), 1), "peak_rss_mb": round(fields.get("VmHWM", nan), 1)}


class Server:
    """`coach serve` in its own process on a free loopback port; its URL once it says it is running."""

    def __init__(self, store: Path | None, timeout: float = 1800.0) -> None:
        port = free_port()
        cmd = [sys.executable, "-m", "coach.cli", "serve", "--host", "127.0.0.1", "--port", str(port)]
        if store is not None:
            cmd += ["--store", str(store)]
        env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        self.url = ""
        deadline = time.monotonic() + timeout  # the first start on an empty store builds the index
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if m := re.search(r"running at (http://\S+)", line):
                self.url = m.group(1)
                break
            if time.monotonic() > deadline:
                break
        if not self.url:
            self.stop()
            raise SystemExit(f"coach serve did not start: {line.strip() if 'line' in locals() else 'no output'}")
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for _ in self.proc.stdout:  # keep the pipe from filling up
            pass

    def memory(self) -> dict[str, float]:
        return rss_mb(self.proc.pid)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def soak(url: str, users: int, seconds: float, memory: Any, every: float = 10.0) -> dict[str, Any]:
    """Keep `users` conversations going for `seconds`, sampling the server's RSS; its trend after the first minute."""
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    began = time.monotonic()

    def sample() -> None:
        while not stop.is_set():
            samples.append((time.monotonic() - began, memory()["rss_mb"]))
            stop.wait(every)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        report = run(url, users, seconds)
    finally:
        stop.set()
        sampler.join(timeout=every + 5)
    samples.append((time.monotonic() - began, memory()["rss_mb"]))
    settled = [(t, m) for t, m in samples if t >= 60] or samples
    slope = 0.0
    if len(settled) >= 2:
        ts, ms = [t for t, _ in settled], [m for _, m in settled]
        t_mean, m_mean = sum(ts) / len(ts), sum(ms) / len(ms)
        var = sum((t - t_mean) ** 2 for t in ts)
        slope = 60 * sum((t - t_mean) * (m - m_mean) for t, m in settled) / var if var else 0.0
    report["rss_samples"] = [[round(t, 1), m] for t, m in samples]
    report["rss_after_1_min_mb"] = settled[0][1]
    report["rss_end_mb"] = samples[-1][1]
    report["rss_trend_mb_per_min"] = round(slope, 2)
    return report


def describe(report: dict[str, Any], base: dict[str, Any] | None) -> str:
    line = (
        f"{report['users']:>3} users {report['seconds']:>6.1f} s  requests {report['requests']:>5}  "
        f"{report['throughput_rps']:>5.2f}/s  p50 {report['p50_s']:.3f} s  p95 {report['p95_s']:.3f} s  "
        f"max {report['max_s']:.3f} s  errors {report['errors']}"
    )
    if base and base["p50_s"] and base["p95_s"]:
        line += f"  (p50 {report['p50_s'] / base['p50_s']:.1f}×, p95 {report['p95_s'] / base['p95_s']:.1f}× one user)"
    if "server_peak_rss_mb" in report:
        line += f"  server RSS {report['server_rss_mb']:.0f} MB, peak {report['server_peak_rss_mb']:.0f} MB"
    return line


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, nargs="+", default=[8, 16, 32], help="levels of simultaneous conversations")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long each level keeps asking (default 60)")
    parser.add_argument("--baseline-seconds", type=float, default=20.0, help="the single-user baseline (0: skip)")
    parser.add_argument("--soak", type=float, default=0.0, help="then keep the first level going this long, sampling RSS")
    parser.add_argument("--url", help="an app already running (no server memory then); default: start coach serve")
    parser.add_argument("--store", type=Path, help="store directory for the server started here (default: settings)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if min(args.users) < 1 or args.seconds <= 0 or args.soak < 0:
        parser.error("--users must be at least 1, --seconds positive, --soak not negative")
    for key, value in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}.items():
        os.environ.setdefault(key, value)

    server = None if args.url else Server(args.store)
    url = args.url or server.url  # type: ignore[union-attr]
    memory = server.memory if server else (lambda: {})
    out: dict[str, Any] = {"url": url, "levels": [], "server_start": memory()}
    try:
        base = None
        if args.baseline_seconds > 0:
            base = run(url, 1, args.baseline_seconds)
            out["baseline"] = base | {f"server_{k}": v for k, v in memory().items()}
            if not args.json:
                print("baseline:", describe(out["baseline"], None), flush=True)
        for users in args.users:
            level = run(url, users, args.seconds) | {f"server_{k}": v for k, v in memory().items()}
            if base:
                level["p50_vs_one_user"] = round(level["p50_s"] / base["p50_s"], 2) if base["p50_s"] else None
                level["p95_vs_one_user"] = round(level["p95_s"] / base["p95_s"], 2) if base["p95_s"] else None
            out["levels"].append(level)
            if not args.json:
                print(describe(level, base), flush=True)
        if args.soak > 0 and server is not None:
            report = soak(url, args.users[0], args.soak, server.memory)
            out["soak"] = report
            if not args.json:
                print("soak:    ", describe(report, base), flush=True)
                print(
                    f"soak memory: {report['rss_after_1_min_mb']:.0f} MB after the first minute, "
                    f"{report['rss_end_mb']:.0f} MB at the end, trend {report['rss_trend_mb_per_min']:+.2f} MB/min",
                    flush=True,
                )
    finally:
        if server is not None:
            server.stop()
    errors = sum(r["errors"] for r in [*out["levels"], *([out["soak"]] if "soak" in out else [])])
    if args.json:
        print(json.dumps(out))
    else:
        for r in out["levels"]:
            for sample in r["error_samples"]:
                print(f"  error ({r['users']} users): {sample}")
    return 1 if errors or not all(r["requests"] for r in out["levels"]) else 0


if __name__ == "__main__":
    sys.exit(main())
