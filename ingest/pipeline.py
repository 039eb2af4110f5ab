"""The one function that wires parse → chunk → embed → store, file by file."""

from __future__ import annotations

import dataclasses
import hashlib
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.chunk_meta import ChunkMeta
from ingest.chunking import Chunk, chunk_segments
from ingest.dedup import SAME_EPISODE, minhash, similarity, title_names_guest
from ingest.embedding import LocalEmbedder
from ingest.frameworks import extract_frameworks
from ingest.report import FileResult, IngestReport
from ingest.segments import ParsedSource, SourceError
from ingest.situations import library_sha, read_library
from ingest.sources import discover, display_name, parse_file, source_key
from ingest.store import ChunkStore, SourceRecord

Progress = Callable[[int, int, str], None]
_VIDEO_ID_LINE = re.compile(rb"^video_?[iI]d:\s*['\"]?([\w-]+)", re.M)


@dataclass(frozen=True)
class IngestLimits:
    max_file_bytes: int = 8_000_000


def chunk_id(key: str, chunk: Chunk, title: str) -> str:
    """Content-hash id: the same text at the same times from the same file always gets the same id."""
    blob = "\x00".join([key, str(chunk.start_s), str(chunk.end_s), chunk.embed_text(title)])
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def file_sha(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def ingest_paths(
    paths: Iterable[str | Path],
    store: ChunkStore,
    embedder: LocalEmbedder,
    limits: IngestLimits | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Ingest files and folders into `store`. Per-file errors go in the report; nothing stored is lost."""
    started = time.perf_counter()
    limits = limits or IngestLimits()
    path_list = [Path(p) for p in paths]
    files, passed_over = discover(path_list)
    report = IngestReport()
    for path, why in passed_over:  # a path the user named that is not there is an error; what a walk met, a skip
        status = "error" if path in path_list or why == "no such file or folder" else "skipped"
        report.files.append(FileResult(str(path), status, message=why))
    records = store.records()
    report.orphans_removed = store.collect_orphans(records)
    # Shortest folder name first, so of two copies of an episode the plainer name is the one kept.
    files.sort(key=lambda p: (len(display_name(p)), str(p)))
    shared = _shared_video_ids(files, records)
    for done, path in enumerate(files, start=1):
        if progress:
            progress(done - 1, len(files), display_name(path))
        report.files.append(_ingest_one(path, store, embedder, limits, records, shared))
    report.files.extend(_remove_vanished(path_list, files, store, records))
    if progress:
        progress(len(files), len(files), "")
    report.seconds = time.perf_counter() - started
    return report


def _ingest_one(
    path: Path,
    store: ChunkStore,
    embedder: LocalEmbedder,
    limits: IngestLimits,
    records: dict[str, SourceRecord],
    shared: set[str],
) -> FileResult:
    key = source_key(path)
    old = records.get(key)
    try:
        sha = file_sha(path)
        if library := library_sha(path):  # the source and its situation library are indexed together
            sha = hashlib.sha256(f"{sha}+{library}".encode()).hexdigest()
    except OSError as exc:
        return FileResult(str(path), "error", message=f"could not read: {exc}")
    if old and old.file_sha == sha:
        status = "duplicate" if old.duplicate_of else "unchanged"
        return FileResult(str(path), status, chunks_unchanged=len(old.chunk_ids), warnings=old.warnings)
    try:
        source = parse_file(path, limits.max_file_bytes)
    except SourceError as exc:
        kept = f" (its {len(old.chunk_ids)} stored chunks are kept)" if old else ""
        return FileResult(str(path), "error", message=f"{exc}{kept}")
    name = display_name(path)
    signature = minhash(source)
    record = SourceRecord(
        key=key, path=str(path), name=name, format=source.format, file_sha=sha,
        video_id=source.meta.video_id, title=source.meta.title, guest=source.meta.guest,
        minhash=signature, warnings=list(source.warnings),
        frameworks=[f.to_dict() for f in extract_frameworks(source)],
    )  # fmt: skip
    record.situations, notes = read_library(path, source)
    record.warnings.extend(notes)
    copy_of, conflict = _same_video(source, key, signature, records, shared)
    if copy_of:
        record.duplicate_of = copy_of.key
        record.warnings.append(f"same episode as {copy_of.name} (video {source.meta.video_id}); indexed once")
        store.commit_source(record, [], [], _empty(), [], old.chunk_ids if old else [])
        records[key] = record
        removed = len(old.chunk_ids) if old else 0
        return FileResult(str(path), "duplicate", chunks_removed=removed, warnings=record.warnings)
    if conflict:
        record.warnings.append(conflict)
    chunks = chunk_segments(source.segments, store.config.chunk_tokens, store.config.overlap_tokens)
    ids = [chunk_id(key, c, source.meta.title) for c in chunks]
    unique = dict(zip(ids, chunks, strict=True))  # a repeated passage in one file is stored once
    present = store.existing_ids(list(unique))
    new = [(i, c) for i, c in unique.items() if i not in present]
    vectors = embedder.encode([c.embed_text(source.meta.title) for _, c in new])
    record.chunk_ids = list(unique)
    stale = [i for i in (old.chunk_ids if old else []) if i not in unique]
    store.commit_source(
        record,
        [i for i, _ in new],
        [c.text for _, c in new],
        vectors,
        [ChunkMeta.of(source, name, c).to_store() for _, c in new],
        stale,
    )
    records[key] = record
    return FileResult(
        str(path),
        "updated" if old else "added",
        chunks_added=len(new),
        chunks_unchanged=len(unique) - len(new),
        chunks_removed=len(stale),
        sponsor_paragraphs_skipped=source.skipped_sponsor_paragraphs,
        warnings=record.warnings,
    )


def _shared_video_ids(files: Sequence[Path], records: dict[str, SourceRecord]) -> set[str]:
    """Video ids claimed by more than one file (front matter only, read cheaply)."""
    owners: dict[str, set[str]] = {}
    for record in records.values():
        owners.setdefault(record.video_id, set()).add(record.key)
    for path in files:
        try:
            with path.open("rb") as fh:
                head = fh.read(4096)
        except OSError:
            continue
        if m := _VIDEO_ID_LINE.search(head):
            owners.setdefault(m.group(1).decode(), set()).add(source_key(path))
    return {vid for vid, keys in owners.items() if vid and len(keys) > 1}


def _same_video(
    source: ParsedSource, key: str, signature: list[int], records: dict[str, SourceRecord], shared: set[str]
) -> tuple[SourceRecord | None, str]:
    """(stored copy of this episode or None, warning when another episode claims the same id).

    Two files with one video id are either the same episode twice (near-identical
    words: index once) or a different episode whose front matter was copied —
    then the title names someone other than the guest, and the id is dropped so
    no citation opens the wrong video. Notes on an episode share its transcript's
    id by right (they have no guest field to check), so only transcripts are
    suspected of copied front matter.
    """
    meta = source.meta
    if not meta.has_youtube_id or meta.video_id not in shared:
        return None, ""
    for other in records.values():
        same_id = other.key != key and other.video_id == meta.video_id and not other.duplicate_of
        if same_id and similarity(signature, other.minhash) >= SAME_EPISODE:
            return other, ""
    if source.format == "transcript" and not title_names_guest(meta.title, meta.guest):
        source.meta = dataclasses.replace(meta, video_id="")
        return None, (
            f"video id {meta.video_id} is shared with another episode and the title does not name "
            f"{meta.guest or 'this guest'}: the id is not trusted and citations get no link"
        )
    return None, ""


def _remove_vanished(
    roots: Sequence[Path], found: Sequence[Path], store: ChunkStore, records: dict[str, SourceRecord]
) -> list[FileResult]:
    """Sources recorded under the given paths whose files are gone lose their chunks."""
    present = {source_key(p) for p in found}
    resolved = [r.resolve() for r in roots]
    results: list[FileResult] = []
    for record in list(records.values()):
        path = Path(record.path)
        inside = any(path == r or r in path.parents for r in resolved)
        if inside and record.key not in present and not path.exists():
            store.remove_source(record)
            del records[record.key]
            results.append(FileResult(record.path, "removed", chunks_removed=len(record.chunk_ids)))
    return results


def _empty() -> Any:
    import numpy as np

    return np.zeros((0, 384), dtype=np.float32)
