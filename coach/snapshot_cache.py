"""The retriever's in-memory snapshot (passages, vectors, BM25 index) saved in the cache folder for a local store.

Reading 52k chunks back from Chroma and indexing them for BM25 takes about 9 s, which every new process
paid before its first answer (one `coach ask` after another). A snapshot is saved under the index's
commit version (stamp and counts, see ChunkStore.version), so any change to the index, by any process,
names a different snapshot and the old one is never read. Anything unreadable is ignored and rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)
FORMAT = 1


def root_for(cache_dir: Path, store_dir: Path) -> Path:
    """One folder per local store, so stores sharing a cache never read or drop each other's snapshots."""
    return cache_dir / "snapshots" / hashlib.sha256(str(store_dir.resolve()).encode()).hexdigest()[:16]


def _folder(root: Path, collection: str, version: tuple[str, int, int]) -> Path:
    key = hashlib.sha256(json.dumps([FORMAT, collection, *version]).encode()).hexdigest()[:24]
    return root / f"{collection}-{key}"


def load(root: Path, collection: str, version: tuple[str, int, int]) -> tuple[list[Any], np.ndarray, Any] | None:
    """(rows as [id, text, metadata], vectors, BM25 index) saved for exactly this version, else None."""
    import bm25s

    folder = _folder(root, collection, version)
    if not folder.is_dir():
        return None
    try:
        rows = json.loads((folder / "passages.json").read_text(encoding="utf-8"))
        vectors = np.load(folder / "vectors.npy", allow_pickle=False)
        bm25 = bm25s.BM25.load(str(folder / "bm25"), show_progress=False)
        if len(rows) != len(vectors):
            raise ValueError("passages and vectors differ in length")
        return rows, vectors, bm25
    except Exception as exc:  # a damaged or partial snapshot only costs the rebuild
        log.warning("ignoring the saved retrieval snapshot %s: %s", folder, exc)
        return None


def save(
    root: Path, collection: str, version: tuple[str, int, int], rows: list[Any], vectors: np.ndarray, bm25: Any
) -> None:
    """Write a snapshot atomically (a temporary folder renamed into place) and drop older ones of this collection."""
    folder = _folder(root, collection, version)
    tmp: Path | None = None
    try:
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".snapshot-", dir=root))
        (tmp / "passages.json").write_text(json.dumps(rows), encoding="utf-8")
        np.save(tmp / "vectors.npy", vectors, allow_pickle=False)
        bm25.save(str(tmp / "bm25"), show_progress=False)
        if folder.exists():  # another process saved the same version first
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            os.replace(tmp, folder)
        for old in root.glob(f"{collection}-*"):
            if old != folder:
                shutil.rmtree(old, ignore_errors=True)
    except OSError as exc:  # a full or read-only disk: answers still work, the next process rebuilds
        log.warning("could not save the retrieval snapshot under %s: %s", root, exc)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
