"""Open the index for the current settings: build it on first use, rebuild it when settings change."""

from __future__ import annotations

from pathlib import Path

from coach.settings import Settings
from ingest.embedding import LocalEmbedder
from ingest.pipeline import IngestLimits, Progress, ingest_paths
from ingest.report import IngestReport
from ingest.store import ChunkStore, IndexConfig, connect


def index_config(settings: Settings, embedder: LocalEmbedder) -> IndexConfig:
    return IndexConfig(
        embed_model=embedder.model_id,
        chunk_tokens=settings.chunk_tokens,
        overlap_tokens=settings.chunk_overlap_tokens,
    )


def make_embedder(settings: Settings) -> LocalEmbedder:
    return LocalEmbedder(settings.embed_backend, settings.embed_batch_size, settings.cache_dir)


def limits(settings: Settings) -> IngestLimits:
    return IngestLimits(max_file_bytes=int(settings.max_file_mb * 1_000_000))


def open_store(settings: Settings, embedder: LocalEmbedder) -> ChunkStore:
    client = connect(str(settings.store_dir), settings.chroma_url)
    return ChunkStore(client, index_config(settings, embedder))


def ensure_ready(
    store: ChunkStore, embedder: LocalEmbedder, settings: Settings, progress: Progress | None = None
) -> IngestReport | None:
    """Make the current generation complete: bundled corpus on first use, or a rebuild from an
    older generation's sources when chunking or model settings changed. None when nothing to do."""
    if store.is_complete():
        return None
    older = store.other_generations()
    sources: list[Path] = [settings.data_dir]
    for generation in older:
        sources += [Path(r.path) for r in store.records_of(generation).values()]
    sources = [p for p in dict.fromkeys(sources) if p.exists()]
    report = ingest_paths(sources, store, embedder, limits(settings), progress)
    store.mark_complete()
    for generation in older:
        store.drop_generation(generation)
    report.rebuilt_from = ", ".join(older)
    return report
