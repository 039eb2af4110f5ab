"""The `Coach` facade: the public Python contract, wired from settings in one place."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from coach.index import ensure_ready, limits, make_embedder, open_store
from coach.retrieval import Retriever
from coach.settings import Settings
from coach.types import Passage
from ingest.embedding import LocalEmbedder
from ingest.pipeline import Progress, ingest_paths
from ingest.report import IngestReport
from ingest.store import ChunkStore


class Coach:
    """Ingest sources, retrieve passages, answer questions with citations."""

    def __init__(
        self,
        settings: Settings,
        store: ChunkStore,
        embedder: LocalEmbedder,
        llm: Any = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.llm = llm
        self.retriever = Retriever(store, embedder)
        self.startup_report: IngestReport | None = None

    @classmethod
    def open(
        cls,
        store_dir: str | Path | None = None,
        llm: Any = None,
        settings: Settings | None = None,
        progress: Progress | None = None,
    ) -> Coach:
        """Open (and on first use build) the index. Raises StoreUnavailable with a readable message."""
        settings = settings or Settings()
        if store_dir is not None:
            settings = settings.model_copy(update={"store_dir": Path(store_dir)})
        embedder = make_embedder(settings)
        store = open_store(settings, embedder)
        coach = cls(settings, store, embedder, llm)
        coach.startup_report = ensure_ready(store, embedder, settings, progress)
        return coach

    def ingest(self, paths: Sequence[str | Path], progress: Progress | None = None) -> IngestReport:
        return ingest_paths(paths, self.store, self.embedder, limits(self.settings), progress)

    def retrieve(self, question: str, k: int = 5, mode: str = "hybrid") -> list[Passage]:
        return self.retriever.retrieve(question, k=k, mode=mode)
