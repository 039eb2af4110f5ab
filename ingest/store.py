"""Chroma access: one collection of chunks and one manifest per index generation.

Crash safety comes from ordering, not locks. For each source the pipeline
(1) adds the new chunks, (2) writes the source's manifest record — the commit
point — and (3) deletes chunks that no record references. Readers only trust
chunks a manifest record lists, so a process killed at any point leaves the
previous index intact, and the next run removes the orphans.

A generation is named by a hash of everything that shapes the vectors
(model, runtime, chunk sizes, parser version): changing any of them builds a
new generation instead of mixing vectors, and the old one is dropped once
the new one is complete.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlparse

import numpy as np

PREFIX = "coach_"
_INDEX_RECORD = "__index__"
_DUMMY_VECTOR = [1.0]  # the manifest collection needs some embedding; it is never searched


@dataclass(frozen=True)
class IndexConfig:
    """What defines an index: stored with it and compared on open."""

    embed_model: str
    chunk_tokens: int
    overlap_tokens: int
    # Bump when parsing or stored metadata changes: the index then rebuilds from its sources.
    parser_version: int = 3

    @property
    def generation(self) -> str:
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:10]


@dataclass
class SourceRecord:
    key: str
    path: str
    name: str
    format: str
    file_sha: str
    video_id: str = ""
    title: str = ""
    guest: str = ""
    chunk_ids: list[str] = field(default_factory=list)
    minhash: list[int] = field(default_factory=list)
    duplicate_of: str = ""
    warnings: list[str] = field(default_factory=list)
    frameworks: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class StoredChunk:
    id: str
    text: str
    meta: dict[str, Any]
    score: float = 0.0


class StoreUnavailable(RuntimeError):
    """The Chroma store cannot be reached or opened; the message says what to do."""


def connect(store_dir: str | None, chroma_url: str | None) -> Any:
    """A Chroma client: HTTP when `chroma_url` is set, else a persistent local directory."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    try:
        if chroma_url:
            url = urlparse(chroma_url if "://" in chroma_url else f"http://{chroma_url}")
            client = chromadb.HttpClient(
                host=url.hostname or "localhost",
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
            client.heartbeat()
            return client
        assert store_dir is not None
        return chromadb.PersistentClient(path=store_dir, settings=chroma_settings)
    except Exception as exc:  # chromadb raises many types for "can't reach / can't open"
        where = chroma_url or store_dir
        raise StoreUnavailable(f"cannot open the Chroma store at {where}: {exc}") from exc


class ChunkStore:
    """One index generation in a Chroma client."""

    def __init__(self, client: Any, config: IndexConfig) -> None:
        self.client = client
        self.config = config
        self.name = f"{PREFIX}{config.generation}"
        self.chunks = client.get_or_create_collection(
            self.name,
            embedding_function=None,
            configuration={"hnsw": {"space": "cosine"}},
            metadata={"config": json.dumps(asdict(config), sort_keys=True)},
        )
        self.manifest = client.get_or_create_collection(f"{self.name}_manifest", embedding_function=None)
        self._batch = max(1, min(int(client.get_max_batch_size()), 2000))

    # ---- manifest --------------------------------------------------------------
    def records(self) -> dict[str, SourceRecord]:
        got = self.manifest.get(include=["documents"])
        out: dict[str, SourceRecord] = {}
        for rid, doc in zip(got["ids"], got["documents"] or [], strict=False):
            if rid != _INDEX_RECORD and doc:
                out[rid] = SourceRecord(**json.loads(doc))
        return out

    def is_complete(self) -> bool:
        got = self.manifest.get(ids=[_INDEX_RECORD], include=["documents"])
        return bool(got["ids"]) and json.loads(got["documents"][0]).get("complete", False)

    def mark_complete(self) -> None:
        doc = json.dumps({"complete": True, "config": asdict(self.config)})
        self.manifest.upsert(ids=[_INDEX_RECORD], documents=[doc], embeddings=[_DUMMY_VECTOR])

    def is_empty(self) -> bool:
        return self.manifest.count() == 0

    # ---- chunks ----------------------------------------------------------------
    def existing_ids(self, ids: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for i in range(0, len(ids), self._batch):
            found.update(self.chunks.get(ids=list(ids[i : i + self._batch]), include=[])["ids"])
        return found

    def commit_source(
        self,
        record: SourceRecord,
        new_ids: Sequence[str],
        documents: Sequence[str],
        vectors: np.ndarray,
        metadatas: Sequence[dict[str, Any]],
        stale_ids: Iterable[str],
    ) -> None:
        """Add chunks, then flip the manifest record (the commit point), then drop stale chunks."""
        for i in range(0, len(new_ids), self._batch):
            sl = slice(i, i + self._batch)
            self.chunks.upsert(
                ids=list(new_ids[sl]),
                documents=list(documents[sl]),
                embeddings=vectors[sl],
                metadatas=list(metadatas[sl]),
            )
        self.manifest.upsert(
            ids=[record.key], documents=[json.dumps(asdict(record))], embeddings=[_DUMMY_VECTOR]
        )
        self.delete_chunks(list(stale_ids))

    def remove_source(self, record: SourceRecord) -> None:
        self.manifest.delete(ids=[record.key])
        self.delete_chunks(record.chunk_ids)

    def delete_chunks(self, ids: Sequence[str]) -> None:
        for i in range(0, len(ids), self._batch):
            self.chunks.delete(ids=list(ids[i : i + self._batch]))

    def committed_ids(self, records: dict[str, SourceRecord] | None = None) -> set[str]:
        records = self.records() if records is None else records
        return {cid for r in records.values() for cid in r.chunk_ids}

    def collect_orphans(self, records: dict[str, SourceRecord]) -> int:
        """Delete chunks left by an interrupted run (added, never committed)."""
        committed = self.committed_ids(records)
        all_ids = self.chunks.get(include=[])["ids"]
        orphans = [i for i in all_ids if i not in committed]
        self.delete_chunks(orphans)
        return len(orphans)

    def count(self) -> int:
        return int(self.chunks.count())

    def query(self, vector: Sequence[float], k: int, where: dict[str, Any] | None = None) -> list[StoredChunk]:
        n = self.count()
        if n == 0:
            return []
        res = self.chunks.query(
            query_embeddings=[list(vector)],
            n_results=min(k, n),
            where=where,
            include=["documents", "metadatas", "distances"],
        )
        return [
            StoredChunk(cid, doc or "", dict(meta or {}), 1.0 - float(dist))
            for cid, doc, meta, dist in zip(
                res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0], strict=False
            )
        ]

    def all_chunks(self) -> list[StoredChunk]:
        got = self.chunks.get(include=["documents", "metadatas"])
        return [
            StoredChunk(cid, doc or "", dict(meta or {}))
            for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=False)
        ]

    # ---- generations -------------------------------------------------------------
    def other_generations(self) -> list[str]:
        names = [c if isinstance(c, str) else c.name for c in self.client.list_collections()]
        return sorted(
            n for n in names if n.startswith(PREFIX) and not n.endswith("_manifest") and n != self.name
        )

    def records_of(self, generation: str) -> dict[str, SourceRecord]:
        manifest = self.client.get_collection(f"{generation}_manifest", embedding_function=None)
        got = manifest.get(include=["documents"])
        return {
            rid: SourceRecord(**json.loads(doc))
            for rid, doc in zip(got["ids"], got["documents"] or [], strict=False)
            if rid != _INDEX_RECORD and doc
        }

    def drop_generation(self, generation: str) -> None:
        for name in (generation, f"{generation}_manifest"):
            try:
                self.client.delete_collection(name)
            except Exception:  # already gone: nothing to drop
                continue
