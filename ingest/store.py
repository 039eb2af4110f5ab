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

import functools
import hashlib
import json
import os
import re
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

PREFIX = "coach_"
# chromadb's HTTP client waits forever by default: a frozen server would hang every question. Connecting
# must be quick; a whole-collection read of a big corpus may take a while.
CONNECT_TIMEOUT_S = 5.0
HTTP_TIMEOUT_S = 120.0
_INDEX_RECORD = "__index__"
_STAMP_RECORD = "__stamp__"  # rewritten at every commit, so readers in any process see that the index changed
# Chroma reads a whole collection with one SQL variable per row and SQLite caps them (~32k): read in pages.
PAGE_ROWS = 5000
_DUMMY_VECTOR = [1.0]  # the manifest collection needs some embedding; it is never searched


@dataclass(frozen=True)
class IndexConfig:
    """What defines an index: stored with it and compared on open."""

    embed_model: str
    chunk_tokens: int
    overlap_tokens: int
    # Bump when parsing or stored metadata changes: the index then rebuilds from its sources.
    parser_version: int = 4

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


# What a storage failure says when it is the store's fault rather than a bug: the server went away,
# the folder is read-only, the disk is full. chromadb raises these as InternalError with SQLite's words.
_STORAGE_TROUBLE = re.compile(
    r"readonly database|read-only file system|disk i/o error|database or disk is full|no space left|"
    r"disk quota|unable to open database|database is locked|permission denied|file too large",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class _Place:
    """Where a store lives, for messages: a server URL or a local folder."""

    where: str
    server: bool

    def unavailable(self, reason: str) -> StoreUnavailable:
        reason = " ".join(reason.split())[:240] or "unknown error"
        if self.server:
            return StoreUnavailable(
                f"the Chroma server at {self.where} is not reachable ({reason}); "
                "start it (chroma run --path DIR --port PORT) or check COACH_CHROMA_URL, then try again"
            )
        return StoreUnavailable(
            f"the Chroma store at {self.where} cannot be used ({reason}); check that the folder is writable "
            "and the disk has space, or point COACH_STORE_DIR (--store) at another folder"
        )


def _reason(exc: BaseException) -> str | None:
    """A short reason when `exc` means "the store is unreachable or unwritable", else None (a real bug)."""
    import httpx

    if isinstance(exc, httpx.TimeoutException):
        return "timed out"
    if isinstance(exc, httpx.ConnectError | ConnectionRefusedError):
        return "connection refused" if "refused" in str(exc).lower() else f"cannot connect: {exc}"
    if isinstance(exc, httpx.TransportError | ConnectionError):
        return f"the connection was lost: {exc or type(exc).__name__}"
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    if "could not connect to a chroma server" in str(exc).lower():  # chromadb's ValueError on a dead server
        return "connection refused"
    if (m := _STORAGE_TROUBLE.search(str(exc))) and not isinstance(exc, StoreUnavailable):
        return {"readonly database": "the store is read-only", "read-only file system": "the store is read-only",
                "file too large": "a write failed: file too large"}.get(m.group(0).lower(), m.group(0))  # fmt: skip
    return None


@contextmanager
def _guarded(place: _Place) -> Iterator[None]:
    try:
        yield
    except StoreUnavailable:
        raise
    except Exception as exc:
        reason = _reason(exc)
        if reason is None:
            raise
        raise place.unavailable(reason) from exc


class _GuardedCollection:
    """A Chroma collection whose storage failures surface as StoreUnavailable; all else passes through.

    Nothing is cached across a failure, so once the server is back (or the disk has room) the same
    object works again.
    """

    def __init__(self, collection: Any, place: _Place) -> None:
        self._collection = collection
        self._place = place

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._collection, name)
        if not callable(value):
            return value

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            with _guarded(self._place):
                return value(*args, **kwargs)

        return call


def _place_of(client: Any) -> _Place:
    try:
        cs = client.get_settings()
    except Exception:  # a stand-in client without settings: describe it by type
        return _Place(type(client).__name__, server=False)
    if "fastapi" in str(getattr(cs, "chroma_api_impl", "")).lower():
        scheme = "https" if getattr(cs, "chroma_server_ssl_enabled", False) else "http"
        return _Place(f"{scheme}://{cs.chroma_server_host}:{cs.chroma_server_http_port}", server=True)
    return _Place(str(getattr(cs, "persist_directory", "") or "memory"), server=False)


def _set_timeout(client: Any) -> None:
    """chromadb has no timeout option; its FastAPI client keeps an httpx session we can give one."""
    import httpx

    session = getattr(getattr(client, "_server", None), "_session", None)
    if isinstance(session, httpx.Client):
        session.timeout = httpx.Timeout(HTTP_TIMEOUT_S, connect=CONNECT_TIMEOUT_S)


def _prepare_dir(store_dir: str) -> None:
    """Create the store folder, or say plainly why it cannot be (a file in the way, no permission)."""
    path = Path(store_dir).expanduser()
    blocker = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if blocker is not None:
        raise StoreUnavailable(
            f"cannot use {path} as the store folder: {blocker} is a file, not a folder; "
            "point COACH_STORE_DIR (--store) at a folder"
        )
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _Place(str(path), server=False).unavailable(f"cannot create the folder: {exc.strerror or exc}") from exc


def connect(store_dir: str | None, chroma_url: str | None) -> Any:
    """A Chroma client: HTTP when `chroma_url` is set, else a persistent local directory (created if needed).

    Raises StoreUnavailable, one readable line, when the server is unreachable or the folder unusable.
    """
    import chromadb
    from chromadb.config import Settings as ChromaSettings

    chroma_settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    if chroma_url:
        url = urlparse(chroma_url if "://" in chroma_url else f"http://{chroma_url}")
        place = _Place(chroma_url, server=True)
        try:
            client = chromadb.HttpClient(
                host=url.hostname or "localhost",
                port=url.port or (443 if url.scheme == "https" else 8000),
                ssl=url.scheme == "https",
                settings=chroma_settings,
            )
            _set_timeout(client)
            client.heartbeat()
            return client
        except Exception as exc:  # chromadb raises many types for "can't reach"
            raise place.unavailable(_reason(exc) or str(exc)) from exc
    assert store_dir is not None
    _prepare_dir(store_dir)
    try:
        return chromadb.PersistentClient(path=store_dir, settings=chroma_settings)
    except Exception as exc:  # chromadb raises many types for "can't open", some of them opaque
        reason = _unwritable(Path(store_dir).expanduser()) or _reason(exc) or str(exc)
        raise _Place(store_dir, server=False).unavailable(reason) from exc


def _unwritable(folder: Path) -> str | None:
    """Why Chroma cannot write in `folder`, checked without changing anything in it; None if it can.

    A read-only store makes chromadb fail with messages that name its internals, not the folder.
    """
    import errno
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
        database = folder / "chroma.sqlite3"
        if database.exists():
            os.close(os.open(database, os.O_WRONLY | os.O_APPEND))  # opening to append writes nothing
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            return "the store is read-only"
        return exc.strerror or str(exc)
    return None


class ChunkStore:
    """One index generation in a Chroma client."""

    def __init__(self, client: Any, config: IndexConfig) -> None:
        self.client = client
        self.config = config
        self.name = f"{PREFIX}{config.generation}"
        self.place = _place_of(client)
        with self.guarded():
            chunks = client.get_or_create_collection(
                self.name,
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"config": json.dumps(asdict(config), sort_keys=True)},
            )
            manifest = client.get_or_create_collection(f"{self.name}_manifest", embedding_function=None)
            self._batch = max(1, min(int(client.get_max_batch_size()), 2000))
        # Every call through these raises StoreUnavailable when the server is gone or the disk refuses.
        self.chunks = _GuardedCollection(chunks, self.place)
        self.manifest = _GuardedCollection(manifest, self.place)

    def guarded(self) -> Any:
        """Context manager: storage failures inside become StoreUnavailable with a clear message."""
        return _guarded(self.place)

    # ---- manifest --------------------------------------------------------------
    def records(self) -> dict[str, SourceRecord]:
        return _records(read_all(self.manifest, ["documents"]))

    def stamp(self) -> str:
        """Changes whenever a source is committed or removed (by any process): a cheap 'has the index changed'."""
        got = self.manifest.get(ids=[_STAMP_RECORD], include=["documents"])
        return got["documents"][0] if got["ids"] and got["documents"] else ""

    def version(self) -> tuple[str, int, int]:
        """What readers compare to know their caches are stale: the stamp (a rewrite keeps the counts), and counts."""
        return self.stamp(), int(self.manifest.count()), self.count()

    def _restamp(self) -> None:
        self.manifest.upsert(ids=[_STAMP_RECORD], documents=[uuid.uuid4().hex], embeddings=[_DUMMY_VECTOR])

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
        self._restamp()
        self.delete_chunks(list(stale_ids))

    def remove_source(self, record: SourceRecord) -> None:
        self.manifest.delete(ids=[record.key])
        self._restamp()
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
        all_ids = read_all(self.chunks, [])["ids"]
        orphans = [i for i in all_ids if i not in committed]
        self.delete_chunks(orphans)
        return len(orphans)

    def count(self) -> int:
        return int(self.chunks.count())

    def all_chunks(self) -> list[StoredChunk]:
        got = read_all(self.chunks, ["documents", "metadatas"])
        return [
            StoredChunk(cid, doc or "", dict(meta or {}))
            for cid, doc, meta in zip(got["ids"], got["documents"], got["metadatas"], strict=False)
        ]

    # ---- generations -------------------------------------------------------------
    def other_generations(self) -> list[str]:
        with self.guarded():
            names = [c if isinstance(c, str) else c.name for c in self.client.list_collections()]
        return sorted(
            n for n in names if n.startswith(PREFIX) and not n.endswith("_manifest") and n != self.name
        )

    def records_of(self, generation: str) -> dict[str, SourceRecord]:
        with self.guarded():
            manifest = self.client.get_collection(f"{generation}_manifest", embedding_function=None)
            got = read_all(manifest, ["documents"])
        return _records(got)

    def drop_generation(self, generation: str) -> None:
        for name in (generation, f"{generation}_manifest"):
            try:
                with self.guarded():
                    self.client.delete_collection(name)
            except StoreUnavailable:
                raise
            except Exception:  # already gone: nothing to drop
                continue


def _records(got: dict[str, Any]) -> dict[str, SourceRecord]:
    return {
        rid: SourceRecord(**json.loads(doc))
        for rid, doc in zip(got["ids"], got["documents"] or [], strict=False)
        if not rid.startswith("__") and doc
    }


def read_all(collection: Any, include: list[str]) -> dict[str, list[Any]]:
    """Every row of a collection, read PAGE_ROWS at a time; the same keys as Collection.get returns."""
    out: dict[str, list[Any]] = {"ids": [], **{key: [] for key in include}}
    offset = 0
    while True:
        got = collection.get(include=include, limit=PAGE_ROWS, offset=offset)
        for key in out:
            out[key].extend(got.get(key) if got.get(key) is not None else [])
        if len(got["ids"]) < PAGE_ROWS:
            return out
        offset += len(got["ids"])
