"""Embedding memory under free-form input sizes: Coach's embedder against plain sentence-transformers, same run.

    python -m bench.embed_memory [--calls 1200] [--backend torch-bf16] [--every 200] [--json]

A served coach embeds every question, quote and claim it meets, each with its own token length and batch
size. PyTorch's CPU kernels keep state per input shape for the life of the process, so memory follows
the number of distinct shapes seen. Each contender runs in its own fresh subprocess and makes the same
seeded sequence of `encode` calls (1-40 texts of 3-200 words drawn from the bundled notes); RSS is
sampled every --every calls:

- `plain`: `SentenceTransformer.encode(batch_size=32)` on the same model and dtype (the baseline).
- `coach`: `ingest.embedding.LocalEmbedder.encode` (lengths padded to multiples of 8, batches filled
  to a power of two).

Reported: RSS after the warm-up call and at each sample, growth over the run, growth over its second
half (what keeps a long-running server climbing), each as a ratio to the baseline, and seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from typing import Any

from bench.common import PROJECT_ROOT

NOTES = PROJECT_ROOT / "data" / "ethan-evans-career-development.md"


def contender(kind: str, backend: str, calls: int, every: int) -> dict[str, Any]:
    """Runs inside the subprocess: the seeded call sequence, RSS samples."""
    import torch

    from bench.load import rss_mb
    from ingest.embedding import LocalEmbedder

    embedder = LocalEmbedder(backend)
    embedder.encode(["warm up"])
    model = embedder._impl

    def plain(texts: list[str]) -> Any:
        with torch.inference_mode():
            return model.encode(texts, batch_size=32, normalize_embeddings=True)

    encode = embedder.encode if kind == "coach" else plain
    words = NOTES.read_text(encoding="utf-8").split()
    rng = random.Random(0)
    samples = [(0, rss_mb(os.getpid())["rss_mb"])]
    began = time.perf_counter()
    for i in range(1, calls + 1):
        texts = [" ".join(rng.choices(words, k=rng.randint(3, 200))) for _ in range(rng.randint(1, 40))]
        encode(texts)
        if i % every == 0 or i == calls:
            samples.append((i, rss_mb(os.getpid())["rss_mb"]))
    return {"kind": kind, "seconds": time.perf_counter() - began, "samples": samples}


def run_child(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONPATH": str(PROJECT_ROOT)}
    cmd = [sys.executable, "-m", "bench.embed_memory", "--child", kind, "--calls", str(args.calls)]
    cmd += ["--every", str(args.every), "--backend", args.backend]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summary(result: dict[str, Any]) -> dict[str, float]:
    samples = result["samples"]
    start, end = samples[0][1], samples[-1][1]
    middle = min(samples, key=lambda s: abs(s[0] - samples[-1][0] / 2))[1]
    return {"start": start, "end": end, "growth": end - start, "second_half": end - middle, "seconds": result["seconds"]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1200)
    parser.add_argument("--every", type=int, default=200)
    parser.add_argument("--backend", default="torch-bf16", choices=["torch", "torch-bf16"])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--child", choices=["plain", "coach"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.calls < 2 or args.every < 1:
        parser.error("--calls must be at least 2 and --every at least 1")
    if args.child:
        print(json.dumps(contender(args.child, args.backend, args.calls, args.every)))
        return 0
    results = {kind: run_child(kind, args) for kind in ("plain", "coach")}
    stats = {kind: summary(r) for kind, r in results.items()}
    if args.json:
        print(json.dumps({"args": vars(args), "results": results, "summary": stats}))
        return 0
    print(f"{args.calls} encode calls of 1-40 texts, 3-200 words each, {args.backend}; RSS in MB")
    for kind, r in results.items():
        print(f"  {kind:6}", "  ".join(f"{n}: {mb:.0f}" for n, mb in r["samples"]))
    base = stats["plain"]
    for kind, s in stats.items():
        ratio = (
            f"(growth {s['growth'] / base['growth']:.2f}×, second half {s['second_half'] / base['second_half']:.2f}×, "
            f"time {s['seconds'] / base['seconds']:.2f}× plain)"
            if kind != "plain" and base["growth"] > 0 and base["second_half"] > 0
            else "(baseline)"
        )
        print(
            f"{kind:6} start {s['start']:.0f}  end {s['end']:.0f}  growth {s['growth']:+.0f}  "
            f"second half {s['second_half']:+.0f}  {s['seconds']:.0f} s  {ratio}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
