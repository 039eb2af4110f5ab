"""The embedding runtimes: which ones may share an index, and that `auto` picks a real one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ingest.chunking import chunk_segments
from ingest.embedding import (
    MODEL_THREADS,
    LocalEmbedder,
    ModelCacheError,
    VectorMemo,
    native_bf16,
    resolve_backend,
)
from ingest.sources import parse_file
from tests.conftest import NOTES


@pytest.fixture(scope="module")
def texts() -> list[str]:
    source = parse_file(NOTES, 10**7)
    return [c.embed_text(source.meta.title) for c in chunk_segments(source.segments, 128, 16)]


@pytest.fixture(scope="module")
def reference(texts: list[str]) -> np.ndarray:
    return LocalEmbedder("torch").encode(texts)


def test_reference_vectors_are_unit_length_and_distinct(reference: np.ndarray, texts: list[str]) -> None:
    assert reference.shape == (len(texts), 384)
    assert np.allclose(np.linalg.norm(reference, axis=1), 1.0, atol=1e-5)
    similarity = reference @ reference.T
    assert np.median(similarity[np.triu_indices(len(texts), 1)]) < 0.7, "different passages must not collapse"


TIE = 0.002  # cosine gap under which two neighbours are a tie


@pytest.mark.parametrize("backend", ["torch-bf16", "onnx"])
def test_fp32_family_runtimes_give_the_reference_vectors(
    backend: str, texts: list[str], reference: np.ndarray, cache_dir: Path
) -> None:
    """Runtimes sharing an index (same model_id) must agree with torch fp32 to the fourth decimal of cosine."""
    embedder = LocalEmbedder(backend, cache_dir=cache_dir)
    assert embedder.model_id == LocalEmbedder("torch").model_id
    vectors = embedder.encode(texts)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosine = (vectors * reference).sum(axis=1)
    assert cosine.min() >= 0.999, (backend, float(cosine.min()))
    # Nearest neighbours are what retrieval sees: every passage's top 3 others stay its top 3, up to ties (two
    # overlapping chunks of one list can sit within 0.001 of each other, where any runtime may swap them).
    sims, ref_sims = vectors @ vectors.T, reference @ reference.T
    np.fill_diagonal(sims, -1)
    np.fill_diagonal(ref_sims, -1)
    third = np.sort(sims, axis=1)[:, -3]
    ref_top3 = np.argsort(-ref_sims, axis=1)[:, :3]
    kept = np.take_along_axis(sims, ref_top3, axis=1) >= third[:, None] - TIE
    assert kept.mean() >= 0.95, kept.mean()


def test_int8_vectors_are_close_but_get_their_own_index(texts: list[str], reference: np.ndarray, cache_dir: Path) -> None:
    embedder = LocalEmbedder("onnx-int8", cache_dir=cache_dir)
    assert embedder.model_id != LocalEmbedder("torch").model_id
    cosine = (embedder.encode(texts) * reference).sum(axis=1)
    assert cosine.mean() >= 0.98
    assert cosine.min() < 0.999, "if int8 were this faithful it could share the fp32 index"


def test_auto_picks_bf16_only_where_the_cpu_has_it(tmp_path: Path) -> None:
    import torch

    # Read from the CPU flags (no torch import); on this machine it must agree with torch's own check.
    assert native_bf16() == bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_tile\n")
    assert native_bf16(cpuinfo)
    cpuinfo.write_text("processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw\n")
    assert not native_bf16(cpuinfo)
    cpuinfo.write_text("processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n")
    assert native_bf16(cpuinfo)
    assert not native_bf16(tmp_path / "missing")
    assert resolve_backend("auto") == ("torch-bf16" if native_bf16() else "torch")
    assert LocalEmbedder("auto").backend in {"torch", "torch-bf16"}
    with pytest.raises(ValueError, match="unknown embedding backend 'gpu'"):
        LocalEmbedder("gpu")


def test_auto_answers_queries_on_onnx_with_the_documents_weights(texts: list[str], cache_dir: Path) -> None:
    """`auto` embeds documents with torch and queries with onnxruntime; explicit backends do both themselves."""
    documents = LocalEmbedder("auto", cache_dir=cache_dir)
    queries = documents.for_queries()
    assert queries is documents.for_queries(), "one query runtime per embedder"
    assert queries.backend == "onnx"
    assert queries.model_id == documents.model_id
    for backend in ("torch", "onnx"):
        explicit = LocalEmbedder(backend, cache_dir=cache_dir)
        assert explicit.for_queries() is explicit
    got, want = queries.encode(texts), documents.encode(texts)
    assert queries._impl is not None, "onnxruntime ran them"
    assert documents._impl is not None, "torch ran these"
    assert ((got * want).sum(axis=1)).min() >= 0.9999
    if documents.backend == "torch-bf16":  # the graph carries the bf16-rounded weights the documents runtime uses
        plain = LocalEmbedder("onnx", cache_dir=cache_dir).encode(texts)
        assert ((got * want).sum(axis=1)).mean() > ((plain * want).sum(axis=1)).mean()


def test_queries_fall_back_to_the_documents_runtime_when_the_cache_cannot_be_written(
    texts: list[str], tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    documents = LocalEmbedder("auto", cache_dir=blocker / "coach")
    vectors = documents.for_queries().encode(texts[:3])
    assert documents.for_queries()._handover is documents
    assert np.allclose(vectors, documents.encode(texts[:3]), atol=1e-6)
    with pytest.raises(ModelCacheError, match="COACH_CACHE_DIR"):  # an explicit onnx has no runtime to fall back to
        LocalEmbedder("onnx", cache_dir=blocker / "coach").encode(texts[:1])


def test_source_vectors_are_kept_between_processes_and_a_persons_words_never(
    texts: list[str], cache_dir: Path, tmp_path: Path
) -> None:
    """A later process gets the source texts it embedded before from the memo, without running the model; a
    question embedded for retrieval is written nowhere."""
    cache = tmp_path / "cache"
    cache.mkdir()
    for graph in cache_dir.glob("minilm-*.onnx"):  # the session's export, not a second one
        (cache / graph.name).symlink_to(graph)
    first_process = LocalEmbedder("auto", cache_dir=cache)
    first = first_process.for_sources().encode(texts[:5])
    assert np.allclose(first, first_process.for_queries().encode(texts[:5]), atol=1e-5)
    question = "My manager never talks about my growth: what now?"
    first_process.for_queries().encode([question])

    later = LocalEmbedder("auto", cache_dir=cache)

    def refuse(batch: list[str]) -> np.ndarray:
        raise AssertionError(f"embedded again: {batch[:1]}")

    later.for_queries().encode = refuse  # type: ignore[method-assign]
    assert np.array_equal(later.for_sources().encode(texts[:5]), first)
    assert np.array_equal(later.for_sources().encode([texts[2], texts[0], texts[2]]), first[[2, 0, 2]])
    (memo_file,) = cache.glob("*-vectors.sqlite")
    assert VectorMemo(memo_file).get([question, texts[0]]).keys() == {texts[0]}, "the question was kept"

    memo_file.write_bytes(b"not a database" * 100)  # damaged: ignored, the model embeds again
    fresh = LocalEmbedder("auto", cache_dir=cache)
    assert np.allclose(fresh.for_sources().encode(texts[:5]), first, atol=1e-5)
    explicit = LocalEmbedder("torch")
    assert explicit.for_sources() is explicit, "explicit backends keep nothing between processes"


def test_torch_sees_few_input_shapes_and_padding_changes_no_vector(texts: list[str]) -> None:
    """Served questions come in every length; PyTorch keeps state per input shape, so the torch runtime must
    bucket shapes (lengths a multiple of 8, batch sizes powers of two) without moving any vector."""
    import random

    embedder = LocalEmbedder("torch")
    words = " ".join(texts).split()
    rng = random.Random(7)
    free_form = [" ".join(rng.choices(words, k=rng.randint(1, 260))) for _ in range(45)]
    embedder.encode(["load the model"])
    shapes: list[tuple[int, int]] = []
    hook = embedder._impl.register_forward_pre_hook(lambda _m, args: shapes.append(tuple(args[0]["input_ids"].shape)))
    try:
        singles = np.vstack([embedder.encode([text]) for text in free_form[:8]])
        got = [singles, *(embedder.encode(free_form[:n]) for n in (3, 7, 45))]
    finally:
        hook.remove()
    assert shapes
    assert all(length % 8 == 0 and batch & (batch - 1) == 0 for batch, length in shapes), shapes
    lengths = {length for _, length in shapes}
    assert len(lengths) > 3, "the texts span many lengths; so must the buckets"
    # The oracle: sentence-transformers itself, padding each batch only to its longest text.
    plain = embedder._impl.encode(free_form, batch_size=32, normalize_embeddings=True)
    for part in got:
        cosine = (part * plain[: len(part)]).sum(axis=1)
        assert cosine.min() >= 0.9999, float(cosine.min())


def test_the_model_runs_on_its_own_few_long_lived_threads_whoever_calls() -> None:
    """A web server's worker threads come and go; the runtime's per-thread state must not go with them."""
    import threading

    embedder = LocalEmbedder("torch")
    embedder.encode(["load the model"])
    runners: set[int] = set()
    hook = embedder._impl.register_forward_pre_hook(lambda *_: runners.add(threading.get_ident()))
    callers: set[int] = set()
    results: list[np.ndarray] = []

    def call(text: str) -> None:
        callers.add(threading.get_ident())
        results.append(embedder.encode([text]))

    try:
        threads = [threading.Thread(target=call, args=(f"question number {i}",)) for i in range(12)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        call("and one from the test's own thread")
    finally:
        hook.remove()
    assert len(results) == 13
    assert len(callers) >= 2, "the callers ran on several threads"
    assert 1 <= len(runners) <= MODEL_THREADS < len(callers), (runners, len(callers))
    assert runners.isdisjoint(callers), "the model must not run on a caller's (short-lived) thread"
