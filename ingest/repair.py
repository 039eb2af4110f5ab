"""`coach repair`: put a damaged store right, keeping everything that can be kept.

Each kind of damage has one remedy, and none deletes a source's data without saying so:
- a lost manifest is rebuilt from the stored chunks (each chunk names its source);
- chunks that lost their vectors (another process's write cut short) are dropped with their source's
  record, and the source is named to be ingested again;
- a database Chroma cannot read at all is set aside, renamed, never deleted.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ingest.chunk_meta import ChunkMeta
from ingest.store import ChunkStore, SourceRecord


@dataclass
class RepairReport:
    actions: list[str] = field(default_factory=list)
    reingest: list[Path] = field(default_factory=list)  # sources to ingest again (dropped or refreshed)


def records_from_chunks(store: ChunkStore) -> dict[str, SourceRecord]:
    """Manifest records rebuilt from chunk metadata. The file hash is left empty, so the next ingest of each
    file parses it again (its chunk ids are content hashes, so nothing is embedded twice)."""
    grouped: dict[str, list[tuple[int, str]]] = defaultdict(list)
    first: dict[str, ChunkMeta] = {}
    for chunk in store.all_chunks():
        meta = ChunkMeta.from_store(chunk.meta)
        if not meta.source_key:
            continue
        grouped[meta.source_key].append((meta.index, chunk.id))
        first.setdefault(meta.source_key, meta)
    records = {}
    for key, members in grouped.items():
        meta = first[key]
        records[key] = SourceRecord(
            key=key, path=key, name=meta.source_name or Path(key).stem, format=meta.format, file_sha="",
            video_id=meta.video_id, title=meta.title, guest=meta.guest, chunk_ids=[cid for _, cid in sorted(members)],
        )  # fmt: skip
    return records


def repair_store(store: ChunkStore) -> RepairReport:
    """Mend what `store` can mend in place; see the module docstring."""
    report = RepairReport()
    with store.writing(wait_s=0):
        if store.damage:
            records = records_from_chunks(store)
            store.restore_manifest(records)
            chunks = sum(len(r.chunk_ids) for r in records.values())
            report.actions.append(f"rebuilt the lost manifest: {len(records)} source(s), {chunks} chunk(s), all kept")
            # Their frameworks and file hashes are not in the chunks: ingesting the files again restores them
            # (the chunk ids are content hashes, so nothing is embedded twice).
            report.reingest.extend(Path(r.path) for r in records.values())
        records = store.records()
        for key, missing in store.sources_without_vectors(records).items():
            record = records[key]
            store.remove_source(record)
            report.actions.append(
                f"{record.name}: {missing} of {len(record.chunk_ids)} chunk(s) had no vector; its chunks were "
                "dropped, to be ingested again"
            )
            report.reingest.append(Path(record.path))
        orphans = store.collect_orphans(store.records())
        if orphans:
            report.actions.append(f"removed {orphans} chunk(s) no source lists (left by an interrupted run)")
    return report


def set_aside(folder: Path) -> Path:
    """Rename a store Chroma cannot open, beside itself; returns the new name. Nothing is deleted."""
    target = folder.with_name(f"{folder.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
    folder.rename(target)
    return target
