"""Open the index for the current settings: build it on first use, rebuild it when settings change."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from coach.settings import Settings
from ingest.embedding import LocalEmbedder
from ingest.locking import Notify
from ingest.repair import RepairReport, repair_store, set_aside
from ingest.report import IngestReport
from ingest.store import ChunkStore, IndexConfig, StoreDamaged, StoreReadOnly, connect, connect_copy

if TYPE_CHECKING:  # the parsers (YAML and all) load when something is ingested, not for every question
    from ingest.pipeline import IngestLimits, Progress


def index_config(settings: Settings, embedder: LocalEmbedder) -> IndexConfig:
    return IndexConfig(
        embed_model=embedder.model_id,
        chunk_tokens=settings.chunk_tokens,
        overlap_tokens=settings.chunk_overlap_tokens,
    )


def make_embedder(settings: Settings) -> LocalEmbedder:
    return LocalEmbedder(settings.embed_backend, settings.embed_batch_size, settings.cache_dir)


def limits(settings: Settings) -> IngestLimits:
    from ingest.pipeline import IngestLimits

    return IngestLimits(max_file_bytes=int(settings.max_file_mb * 1_000_000))


def open_store(settings: Settings, embedder: LocalEmbedder) -> ChunkStore:
    """The store in settings; one Chroma cannot write in place (read-only, full disk) is read from a copy."""
    config = index_config(settings, embedder)
    try:
        client = connect(str(settings.store_dir), settings.chroma_url)
    except StoreReadOnly as exc:
        try:
            client, _ = connect_copy(str(settings.store_dir))
        except Exception as copy_failed:  # no room for a copy either: the original error says what to do
            raise exc from copy_failed
        return ChunkStore(client, config, origin=settings.store_dir, read_only=exc.reason)
    return ChunkStore(client, config)


def ingest_as_writer(
    paths: Sequence[str | Path],
    store: ChunkStore,
    embedder: LocalEmbedder,
    settings: Settings,
    progress: Progress | None = None,
    notify: Notify | None = None,
) -> IngestReport:
    """Ingest as the store's only writer: another process writing it is waited for (`notify` hears why)."""
    from ingest.pipeline import ingest_paths

    _refuse_damaged(store)
    with store.writing(settings.writer_wait_s, notify):
        return ingest_paths(paths, store, embedder, limits(settings), progress)


def ensure_ready(
    store: ChunkStore,
    embedder: LocalEmbedder,
    settings: Settings,
    progress: Progress | None = None,
    notify: Notify | None = None,
) -> IngestReport | None:
    """Make the current generation complete: bundled corpus on first use, or a rebuild from an
    older generation's sources when chunking or model settings changed. None when nothing to do."""
    _refuse_damaged(store)
    if store.is_complete():
        return None
    with store.writing(settings.writer_wait_s, notify):
        if store.is_complete():  # another process built it while we waited
            return None
        return _build(store, embedder, settings, progress)


def _refuse_damaged(store: ChunkStore) -> None:
    if store.damage:
        raise StoreDamaged(f"the store at {store.place.where} is damaged: {store.damage}")


def _build(
    store: ChunkStore, embedder: LocalEmbedder, settings: Settings, progress: Progress | None
) -> IngestReport:
    from ingest.pipeline import ingest_paths

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


def repair(settings: Settings, notify: Notify | None = None) -> tuple[RepairReport, IngestReport | None]:
    """Mend the store in settings (see ingest/repair.py), then ingest again what had to be dropped."""
    embedder = make_embedder(settings)
    try:
        store = open_store(settings, embedder)
    except StoreDamaged:
        if settings.chroma_url:
            raise
        aside = set_aside(settings.store_dir)
        store = open_store(settings, embedder)
        built = ensure_ready(store, embedder, settings, notify=notify)
        actions = [
            f"the database could not be read: the store was moved to {aside} (nothing deleted) and a new one "
            "was built from the bundled sources; ingest your own sources again"
        ]
        return RepairReport(actions), built
    report = repair_store(store)
    again = [p for p in report.reingest if p.exists()]
    ingested = ingest_as_writer(again, store, embedder, settings, notify=notify) if again else None
    built = ensure_ready(store, embedder, settings, notify=notify)
    return report, ingested or built
