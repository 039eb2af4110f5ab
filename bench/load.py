"""Load test of the web app: N simultaneous gradio_client conversations for a bounded time.

    python bench/load.py [--users 8] [--seconds 30] [--url URL] [--store DIR] [--json]

Without --url it opens the Coach on the bundled corpus (settings as usual; --store picks the store),
serves the app on a free loopback port in this process and drives it. Each simulated user opens its
own `gradio_client.Client`, then asks questions back to back through the `/chat` API until the time is
up, keeping the last turns of its own conversation as history (as the web page does). Questions are
the `question` fields of evals/datasets/notes.jsonl (a built-in list if it is missing), each user
starting at a different one.

Reports requests, throughput, latency p50/p95/max (seconds, whole request as the client sees it),
errors (exceptions, and answers that are neither cited nor a refusal) and how many answers were
refusals. The clients run in this process, so on a 2-core machine they compete with the server for
the CPU: the numbers are an upper bound on what a user would wait.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
if sys.path and Path(sys.path[0] or ".").resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(PROJECT_ROOT)  # `python bench/load.py` must import the project, not bench/
QUESTIONS_FILE = PROJECT_ROOT / "evals" / "datasets" / "notes.jsonl"
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=8, help="simultaneous conversations (default 8)")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to keep asking (default 30)")
    parser.add_argument("--url", help="an app already running; default: serve one here on a free port")
    parser.add_argument("--store", type=Path, help="store directory for the app served here (default: settings)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.users < 1 or args.seconds <= 0:
        parser.error("--users must be at least 1 and --seconds positive")
    for key, value in {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}.items():
        os.environ.setdefault(key, value)

    demo = None
    url = args.url
    if not url:
        from coach import Coach, ui

        coach = Coach.open(store_dir=args.store)
        demo, url = ui.serve(coach, host="127.0.0.1", port=free_port(), block=False, quiet=True)
    try:
        report = run(url, args.users, args.seconds)
    finally:
        if demo is not None:
            demo.close()
    if args.json:
        print(json.dumps(report))
    else:
        print(f"{report['users']} users for {report['seconds']} s against {report['url']}")
        print(
            f"requests {report['requests']}  throughput {report['throughput_rps']}/s  "
            f"latency p50 {report['p50_s']} s  p95 {report['p95_s']} s  max {report['max_s']} s  "
            f"errors {report['errors']}  refusals {report['refusals']}"
        )
        for sample in report["error_samples"]:
            print(f"  error: {sample}")
    return 1 if report["errors"] or not report["requests"] else 0


if __name__ == "__main__":
    sys.exit(main())
