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

import contextlib
import functools
import hashlib
import json
import os
import re
import threading
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from ingest.locking import LocalLocks, Notify, ServerLease

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
    situations: list[dict[str, Any]] = field(default_factory=list)  # the source's situation library (situations.py)


@dataclass(frozen=True)
class StoredChunk:
    id: str
    text: str
    meta: dict[str, Any]  # ingest.chunk_meta.ChunkMeta, as stored


class StoreUnavailable(RuntimeError):
    """The Chroma store cannot be reached or opened; the message says what to do."""


class StoreDamaged(StoreUnavailable):
    """The stored data is not whole; nothing was changed, and the message says how to repair it."""


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
    """One of the store's Chroma collections, looked up at each call (the store may reopen its client), with
    calls serialised per store and storage failures surfacing as StoreUnavailable; all else passes through.

    Nothing is cached across a failure, so once the server is back (or the disk has room) the same
    object works again.
    """

    def __init__(self, store: ChunkStore, which: str) -> None:
        self._store = store
        self._which = which

    @property
    def _collection(self) -> Any:
        return self._store._collection(self._which)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._collection, name)
        if not callable(value):
            return value

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            with self._store._mutex, _guarded(self._store.place):
                return getattr(self._collection, name)(*args, **kwargs)

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
    folder = Path(store_dir).expanduser()
    _check_database(folder)
    try:
        return chromadb.PersistentClient(path=store_dir, settings=chroma_settings)
    except Exception as exc:  # chromadb raises many types for "can't open", some of them opaque
        _evict(None, folder)  # chromadb keeps a half-started system for the folder; the next open must not get it
        if _DAMAGED.search(str(exc)):
            raise _damaged_database(folder, "is not a readable SQLite database") from exc
        reason = _unwritable(folder) or _reason(exc) or str(exc)
        if reason in _READ_ONLY_REASONS:
            raise StoreReadOnly(_Place(store_dir, server=False).unavailable(reason), reason) from exc
        raise _Place(store_dir, server=False).unavailable(reason) from exc


# Why a store may still be read from a copy though Chroma cannot open it in place (it writes on open).
_READ_ONLY_REASONS = ("the store is read-only", "database or disk is full", "no space left", "disk quota",
                      "a write failed: file too large")  # fmt: skip
_DAMAGED = re.compile(r"file is not a database|database disk image is malformed|malformed database", re.IGNORECASE)
_VECTOR_FOLDER = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def _check_database(folder: Path) -> None:
    """Refuse a store whose database is gone or empty while its index files remain: Chroma would silently
    start a new, empty database beside them and the index would be lost without a word."""
    database = folder / "chroma.sqlite3"
    try:
        leftovers = [p for p in folder.iterdir() if p.is_dir() and _VECTOR_FOLDER.match(p.name)]
        size = database.stat().st_size if database.exists() else -1
    except OSError:
        return  # unreadable folders get their own clear error from the open
    if leftovers and size <= 0:
        raise _damaged_database(folder, "is missing" if size < 0 else "is empty (0 bytes)")


def _damaged_database(folder: Path, what: str) -> StoreDamaged:
    return StoreDamaged(
        f"the store at {folder} is damaged: its database chroma.sqlite3 {what}; nothing was changed; "
        "restore it from a backup, or run `coach repair` to set the damaged store aside and rebuild"
    )


def vectors_missing(store: ChunkStore, records: dict[str, SourceRecord]) -> StoreDamaged:
    """The error for a read that failed because some chunks have no vector: which sources, and the remedy."""
    damaged = store.sources_without_vectors(records)
    names = ", ".join(records[k].name for k in list(damaged)[:5]) + (" …" if len(damaged) > 5 else "")
    return StoreDamaged(
        f"the store at {store.place.where} is damaged: {sum(damaged.values())} chunk(s) of {len(damaged)} "
        f"source(s) ({names or 'unknown'}) have no vector; run `coach repair` to drop them and ingest those "
        "sources again"
    )


class StoreReadOnly(StoreUnavailable):
    """Chroma cannot open the store in place (read-only, or no room to write); a copy can still be read."""

    def __init__(self, error: StoreUnavailable, reason: str) -> None:
        super().__init__(str(error))
        self.reason = reason


def connect_copy(store_dir: str) -> tuple[Any, Path]:
    """A client on a temporary copy of a store Chroma cannot open in place, and the copy's folder (removed
    when the process ends). Raises the StoreUnavailable of the original when no copy can be made."""
    import atexit
    import shutil
    import tempfile

    import chromadb
    from chromadb.config import Settings as ChromaSettings

    copy = Path(tempfile.mkdtemp(prefix="coach-readonly-copy-"))
    atexit.register(shutil.rmtree, copy, True)
    # copyfile, not copy2: the copy must be writable by us even when the originals' modes say read-only
    shutil.copytree(Path(store_dir).expanduser(), copy / "store", ignore=shutil.ignore_patterns(".coach-*"),
                    copy_function=shutil.copyfile)  # fmt: skip
    for folder in [copy / "store", *(p for p in (copy / "store").rglob("*") if p.is_dir())]:
        folder.chmod(0o700)
    settings = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
    return chromadb.PersistentClient(path=str(copy / "store"), settings=settings), copy / "store"


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


@dataclass
class _Folder:
    """What every ChunkStore on one local folder in this process shares. chromadb keeps one client system
    per folder per process, so staleness is the folder's, not a store object's: when one store reopens,
    all of them must move to the new system."""

    mutex: threading.RLock = field(default_factory=threading.RLock)  # one Chroma call at a time, none mid-reopen
    epoch: int = 0  # bumped at each reopen; a store whose collections are older fetches them again
    synced: tuple[str, int, int] | None = None  # the index as the system's memory holds it


_FOLDERS: dict[str, _Folder] = {}
_FOLDERS_LOCK = threading.Lock()


def _folder_state(folder: Path) -> _Folder:
    with _FOLDERS_LOCK:
        return _FOLDERS.setdefault(str(folder.expanduser().resolve()), _Folder())


def _evict(client: Any, folder: Path) -> None:
    """Close `client` and make sure chromadb forgets its system for `folder`, so the next client reads the
    files afresh. chromadb only stops a system when its last client closes; clients other code forgot to
    close would keep the stale one alive, so a system still registered is stopped here."""
    if client is not None:
        with contextlib.suppress(Exception):  # a client that cannot close cleanly is dropped anyway
            client.close()
    try:
        from chromadb.api.shared_system_client import SharedSystemClient
    except ImportError:  # a chromadb without the shared registry has nothing to forget
        return
    for key in [k for k in SharedSystemClient._identifier_to_system if Path(k).resolve() == folder.resolve()]:
        system = SharedSystemClient._identifier_to_system.pop(key)
        SharedSystemClient._identifier_to_refcount.pop(key, None)
        with contextlib.suppress(Exception):
            system.stop()


class ChunkStore:
    """One index generation in a Chroma client.

    On a local folder the store follows other processes: it reopens its client when another process has
    committed (a stale embedded client cannot read vectors; see ingest/locking.py).
    """

    def __init__(self, client: Any, config: IndexConfig, origin: Path | None = None, read_only: str = "") -> None:
        """`origin` and `read_only`: this client reads a copy of the store at `origin`, which cannot be written
        for the reason given (see connect_copy)."""
        self.config = config
        self.name = f"{PREFIX}{config.generation}"
        self.place = _place_of(client)
        folder = None if self.place.server or self.place.where == "memory" else Path(self.place.where)
        if origin is not None:
            self.place = _Place(str(origin), server=False)
        self.read_only = read_only
        self.folder = folder
        self.locks = LocalLocks(folder) if folder is not None else None
        self._shared = _folder_state(folder) if folder is not None else _Folder()
        self._epoch = -1
        self._collections: dict[str, Any] = {}
        self.damage = ""  # set when the stored data cannot be trusted as it is; see _attach
        # Every call through these raises StoreUnavailable when the server is gone or the disk refuses.
        self.chunks = _GuardedCollection(self, "chunks")
        self.manifest = _GuardedCollection(self, "manifest")
        with self._reading_lock():
            self._attach(client)
            version = self.version()
            if self._shared.synced not in (None, version):  # this process opened the folder before a commit
                self.reopen()
                version = self.version()
            self._shared.synced = version

    @property
    def _mutex(self) -> threading.RLock:
        return self._shared.mutex

    def _collection(self, which: str) -> Any:
        """The current Chroma collection; fetched again when the folder's client was reopened."""
        if self._epoch != self._shared.epoch and self.folder is not None:
            self._attach(connect(str(self.folder), None))
        return self._collections[which]

    def _attach(self, client: Any) -> None:
        with self._mutex, self.guarded():
            names = {c if isinstance(c, str) else c.name for c in client.list_collections()}
            had_chunks = self.name in names
            chunks = client.get_or_create_collection(
                self.name,
                embedding_function=None,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"config": json.dumps(asdict(self.config), sort_keys=True)},
            )
            manifest_name = f"{self.name}_manifest"
            if had_chunks and manifest_name not in names and chunks.count():
                # Creating an empty manifest here would let the next build treat every stored chunk as an
                # orphan and delete it: report the damage instead and leave the data as it is.
                self.damage = (
                    f"the index manifest is missing but {chunks.count()} chunks are stored; "
                    "run `coach repair` to rebuild it from the stored chunks (nothing is deleted)"
                )
                manifest = client.get_or_create_collection(f"{self.name}_lost_manifest", embedding_function=None)
            else:
                manifest = client.get_or_create_collection(manifest_name, embedding_function=None)
            self.client = client
            self._collections = {"chunks": chunks, "manifest": manifest}
            self._epoch = self._shared.epoch
            self._batch = max(1, min(int(client.get_max_batch_size()), 2000))

    def guarded(self) -> Any:
        """Context manager: storage failures inside become StoreUnavailable with a clear message."""
        return _guarded(self.place)

    # ---- processes -----------------------------------------------------------------
    def _reading_lock(self) -> Any:
        return self.locks.commit(exclusive=False) if self.locks else contextlib.nullcontext()

    def _writing_lock(self) -> Any:
        return self.locks.commit(exclusive=True) if self.locks else contextlib.nullcontext()

    def reopen(self) -> None:
        """A fresh client on the same local folder (for every store on it in this process): its memory then
        holds what the files hold now. Nothing to do on a server, which owns its files."""
        if self.folder is None:
            return
        with self._mutex:
            _evict(self.client, self.folder)
            self._shared.epoch += 1
            self._attach(connect(str(self.folder), None))

    @contextmanager
    def reading(self) -> Iterator[tuple[str, int, int]]:
        """Hold the store still (no commit from any process) and make this client current; yields the version.

        Vectors must be read inside: an embedded client that missed another process's commit cannot read them.
        """
        with self._reading_lock():
            version = self.version()
            if self.folder is not None and version != self._shared.synced:
                self.reopen()
                version = self.version()
            self._shared.synced = version
            yield version

    @contextmanager
    def writing(self, wait_s: float, notify: Notify | None = None) -> Iterator[None]:
        """Be the store's only writer for the block: wait up to `wait_s` for another one to finish (WriterBusy
        after that), then work from the store as it is now."""
        if self.read_only:
            raise StoreUnavailable(
                f"the Chroma store at {self.place.where} cannot take new sources ({self.read_only}); it still "
                "answers questions. Make the folder writable or free some space, then try again"
            )
        if self.locks is not None:
            with self.locks.writer(wait_s, notify):
                with self._reading_lock():
                    self.reopen()  # another writer may have committed since this client opened
                    self._shared.synced = self.version()
                yield
            return
        with ServerLease(self.manifest, _DUMMY_VECTOR).writer(wait_s, notify):
            yield

    def _written(self) -> None:
        """After our own write: this client's memory is current, whatever the version now is."""
        self._shared.synced = self.version()

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
        with self._writing_lock():
            self.manifest.upsert(ids=[_INDEX_RECORD], documents=[doc], embeddings=[_DUMMY_VECTOR])
            self._written()

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
        with self._writing_lock():
            self._commit(record, new_ids, documents, vectors, metadatas, stale_ids)
            self._written()

    def _commit(self, record: SourceRecord, new_ids: Sequence[str], *rows: Any) -> None:
        documents, vectors, metadatas, stale_ids = rows
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
        with self._writing_lock():
            self.manifest.delete(ids=[record.key])
            self._restamp()
            self.delete_chunks(record.chunk_ids)
            self._written()

    def delete_chunks(self, ids: Sequence[str]) -> None:
        with self._writing_lock():
            for i in range(0, len(ids), self._batch):
                self.chunks.delete(ids=list(ids[i : i + self._batch]))
            self._written()

    def committed_ids(self, records: dict[str, SourceRecord] | None = None) -> set[str]:
        records = self.records() if records is None else records
        return {cid for r in records.values() for cid in r.chunk_ids}

    def collect_orphans(self, records: dict[str, SourceRecord]) -> int:
        """Delete chunks left by an interrupted run (added, never committed)."""
        committed = self.committed_ids(records)
        with self._writing_lock():
            all_ids = read_all(self.chunks, [])["ids"]
            orphans = [i for i in all_ids if i not in committed]
            self.delete_chunks(orphans)
        return len(orphans)

    def sources_without_vectors(self, records: dict[str, SourceRecord]) -> dict[str, int]:
        """Sources some of whose committed chunks are missing or have no vector: key → how many."""
        damaged: dict[str, int] = {}
        with self.reading():
            for key, record in records.items():
                missing = 0
                for i in range(0, len(record.chunk_ids), self._batch):
                    batch = record.chunk_ids[i : i + self._batch]
                    missing += len(set(batch) - self._with_vectors(batch))
                if missing:
                    damaged[key] = missing
        return damaged

    def _with_vectors(self, ids: list[str]) -> set[str]:
        try:
            got = self.chunks.get(ids=ids, include=["embeddings"])
            return {cid for cid, vec in zip(got["ids"], got["embeddings"], strict=True) if vec is not None}
        except Exception:  # Chroma fails a whole read when one row's vector is missing: look one at a time
            if len(ids) == 1:
                return set()
            return {cid for cid in ids if self._with_vectors([cid])}

    def restore_manifest(self, records: dict[str, SourceRecord]) -> None:
        """Write a lost manifest back (see ingest/repair.py) and mark the index complete."""
        with self._writing_lock(), self._mutex, self.guarded():
            manifest = self.client.get_or_create_collection(f"{self.name}_manifest", embedding_function=None)
            for record in records.values():
                manifest.upsert(ids=[record.key], documents=[json.dumps(asdict(record))], embeddings=[_DUMMY_VECTOR])
            with contextlib.suppress(Exception):  # the stand-in may already be gone
                self.client.delete_collection(f"{self.name}_lost_manifest")
            self.damage = ""
            self._attach(self.client)
            self._restamp()
            self.mark_complete()

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
        with self._mutex, self.guarded():
            names = [c if isinstance(c, str) else c.name for c in self.client.list_collections()]
        return sorted(
            n for n in names if n.startswith(PREFIX) and not n.endswith("_manifest") and n != self.name
        )

    def records_of(self, generation: str) -> dict[str, SourceRecord]:
        with self._mutex, self.guarded():
            manifest = self.client.get_collection(f"{generation}_manifest", embedding_function=None)
            got = read_all(manifest, ["documents"])
        return _records(got)

    def drop_generation(self, generation: str) -> None:
        for name in (generation, f"{generation}_manifest"):
            try:
                with self._writing_lock(), self._mutex, self.guarded():
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
