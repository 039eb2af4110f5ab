"""Who may write a store, and when a reader may read its files.

Embedded Chroma keeps each collection's vector index in the memory of the process that opened it. A
second process that writes the same folder leaves that copy stale (reads of vectors then fail with
"Error finding id"), and two writers interleaving overwrite each other's index files. So, for a local
store:

- one writer at a time: `coach ingest` (and a first-use build) holds `.coach-writer.lock` for its whole
  run; a second writer waits, told who holds it, or fails fast;
- no reader sees a write half-done: writers hold `.coach-commit.lock` exclusively around each write to
  Chroma, readers hold it shared while they reopen their client and read vectors.

On a Chroma server the server owns the files; there the writer lock is a lease record in the manifest
(see ServerLease), renewed by the writer, so a crashed writer's lease lapses on its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

WRITER_FILE = ".coach-writer.lock"
COMMIT_FILE = ".coach-commit.lock"
POLL_S = 0.2
LEASE_S = 60.0  # a server writer renews its lease every LEASE_S / 3; one that died frees the store after this
# How long a lease claim must survive before it counts: two writers claiming at once both write, and the
# later write wins; each reads back after this pause and only the one whose claim is still there goes on.
LEASE_SETTLE_S = 0.5

Notify = Callable[[str], None]


class WriterBusy(RuntimeError):
    """Another process is writing this store and we may not wait (longer)."""


@dataclass(frozen=True)
class Holder:
    """Who holds the writer lock, as the holder wrote it down."""

    pid: int
    host: str
    command: str
    since: float

    def describe(self) -> str:
        when = time.strftime("%H:%M:%S", time.localtime(self.since)) if self.since else "an unknown time"
        return f"{self.command or 'another coach process'} (pid {self.pid} on {self.host}) since {when}"

    @classmethod
    def me(cls) -> Holder:
        command = " ".join(["coach", *sys.argv[1:3]]) if sys.argv and "coach" in sys.argv[0] else "a Python process"
        return cls(os.getpid(), socket.gethostname(), command, time.time())

    @classmethod
    def parse(cls, text: str) -> Holder | None:
        try:
            return cls.from_dict(json.loads(text))
        except ValueError:
            return None

    @classmethod
    def from_dict(cls, data: Any) -> Holder | None:
        try:
            return cls(int(data["pid"]), str(data["host"]), str(data["command"]), float(data["since"]))
        except (ValueError, KeyError, TypeError):
            return None

    def dumps(self) -> str:
        return json.dumps(self.__dict__)


def _open_lock(path: Path, writable: bool) -> int | None:
    """A descriptor to flock, or None when the file cannot exist here (a read-only or full store)."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o600) if writable else os.open(path, os.O_RDONLY)
    except OSError:
        if writable:
            raise
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError:
            return None


class LocalLocks:
    """The two file locks of a local store folder (see the module docstring)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._commit_depth = 0

    # ---- writer ------------------------------------------------------------------
    @contextlib.contextmanager
    def writer(self, wait_s: float, notify: Notify | None = None) -> Iterator[None]:
        """Hold the writer lock; wait up to `wait_s` (0: fail at once) for another writer to finish."""
        path = self.folder / WRITER_FILE
        fd = _open_lock(path, writable=True)
        assert fd is not None
        try:
            _acquire(fd, fcntl.LOCK_EX, wait_s, lambda: self._holder(path), notify)
            os.ftruncate(fd, 0)
            os.pwrite(fd, Holder.me().dumps().encode(), 0)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # closing releases the flock, also when the process dies

    @staticmethod
    def _holder(path: Path) -> Holder | None:
        try:
            return Holder.parse(path.read_text(encoding="utf-8"))
        except OSError:
            return None

    # ---- commit ------------------------------------------------------------------
    @contextlib.contextmanager
    def commit(self, exclusive: bool) -> Iterator[None]:
        """Writers: exclusive around a write. Readers: shared around reopening and reading vectors.

        Re-entrant within a process (a commit inside a commit holds the outer lock); a store folder where the
        lock file cannot be created (read-only, full) is read without it, since no one can be writing there.
        """
        if self._commit_depth:
            self._commit_depth += 1
            try:
                yield
            finally:
                self._commit_depth -= 1
            return
        fd = _open_lock(self.folder / COMMIT_FILE, writable=exclusive)
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        self._commit_depth = 1
        try:
            yield
        finally:
            self._commit_depth = 0
            if fd is not None:
                os.close(fd)


def _acquire(
    fd: int, kind: int, wait_s: float, holder: Callable[[], Holder | None], notify: Notify | None
) -> None:
    def attempt() -> tuple[bool, Holder | None]:
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
            return True, None
        except BlockingIOError:
            return False, holder()

    _wait(attempt, wait_s, notify)


def _wait(attempt: Callable[[], tuple[bool, Holder | None]], wait_s: float, notify: Notify | None) -> None:
    """Call `attempt` until it takes the lock (it says who holds it when not), telling `notify` once."""
    deadline = time.monotonic() + wait_s
    told = False
    while True:
        taken, who = attempt()
        if taken:
            return
        described = who.describe() if who else "another coach process"
        if time.monotonic() >= deadline:
            raise WriterBusy(_busy(described, wait_s))
        if notify and not told:
            notify(f"waiting for the store: {described} is writing to it (Ctrl+C to stop)")
            told = True
        time.sleep(POLL_S)


def _busy(described: str, wait_s: float) -> str:
    waited = f" after waiting {wait_s:.0f} s" if wait_s else ""
    return (
        f"another process is writing to this store{waited}: {described}; try again when it has finished "
        "(COACH_WRITER_WAIT_S sets how long to wait)"
    )


class ServerLease:
    """The writer lock on a Chroma server: a record in the manifest naming the writer and when it lapses."""

    RECORD = "__writer__"

    def __init__(self, manifest: Any, dummy_vector: list[float]) -> None:
        self.manifest = manifest
        self.dummy = dummy_vector
        self.token = uuid.uuid4().hex

    def _read(self) -> dict[str, Any] | None:
        got = self.manifest.get(ids=[self.RECORD], include=["documents"])
        if not got["ids"] or not got["documents"] or not got["documents"][0]:
            return None
        try:
            return dict(json.loads(got["documents"][0]))
        except (ValueError, TypeError):
            return None

    def _write(self, data: dict[str, Any] | None) -> None:
        if data is None:
            self.manifest.delete(ids=[self.RECORD])
        else:
            self.manifest.upsert(ids=[self.RECORD], documents=[json.dumps(data)], embeddings=[self.dummy])

    def renew(self) -> None:
        self._write({"token": self.token, "expires": time.time() + LEASE_S, **Holder.me().__dict__})

    @contextlib.contextmanager
    def writer(self, wait_s: float, notify: Notify | None = None) -> Iterator[None]:
        def attempt() -> tuple[bool, Holder | None]:
            held = self._read()
            if held is None or held.get("token") == self.token or float(held.get("expires", 0)) < time.time():
                self.renew()
                time.sleep(LEASE_SETTLE_S)
                held = self._read()
                if held is not None and held.get("token") == self.token:
                    return True, None
            return False, Holder.from_dict(held) if held else None

        _wait(attempt, wait_s, notify)
        stop = threading.Event()
        heartbeat = threading.Thread(target=self._keep, args=(stop,), daemon=True, name="coach-lease")
        heartbeat.start()
        try:
            yield
        finally:
            stop.set()
            heartbeat.join(timeout=5)
            with contextlib.suppress(Exception):  # a lease we cannot delete lapses on its own
                if (self._read() or {}).get("token") == self.token:
                    self._write(None)

    def _keep(self, stop: threading.Event) -> None:
        """Renew the lease while the writer works (an ingest of many files outlasts one lease)."""
        while not stop.wait(LEASE_S / 3):
            with contextlib.suppress(Exception):  # a missed renewal is retried; the lease has slack for two
                self.renew()
