"""What the store keeps beside each chunk's text and vector, under one set of names: ingest.pipeline writes it,
coach.types.Passage and ingest.repair read it back.

Chroma metadata is flat (str, int, float, bool), hence the joined heading path, speakers and topics, and the
sentence spans as JSON. Reading tolerates a field an older index lacks."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ingest.chunking import Chunk
    from ingest.segments import ParsedSource

MAX_TOPICS = 12  # front-matter keywords kept per chunk (the corpus's lists run to 30; keyword search reads them)


@dataclass(frozen=True)
class ChunkMeta:
    source_key: str  # the file's resolved path: the manifest record it belongs to
    source_name: str  # what users see: the file stem, or the episode folder of a transcript.md
    format: str  # "notes" or "transcript"
    title: str
    video_id: str  # "" when the source's id is not a trusted YouTube id (no link is made)
    guest: str
    publish_date: str
    start: int  # seconds
    end: int
    heading: str  # heading path, joined with " > "
    speakers: str  # joined with ", "
    index: int  # the chunk's place in its source (-1: unknown)
    tokens: int
    timed: bool  # False: no timestamp of its own, times borrowed from the next anchor
    spans: str  # JSON [[char_start, char_end, start_s, end_s, timed], …], one per sentence
    topics: str  # joined with ", "

    @classmethod
    def of(cls, source: ParsedSource, name: str, chunk: Chunk) -> ChunkMeta:
        meta = source.meta
        return cls(
            source_key=source.key,
            source_name=name,
            format=source.format,
            title=meta.title,
            video_id=meta.video_id if meta.has_youtube_id else "",
            guest=meta.guest,
            publish_date=meta.publish_date,
            start=chunk.start_s,
            end=chunk.end_s,
            heading=" > ".join(chunk.heading_path),
            speakers=", ".join(chunk.speakers),
            index=chunk.index,
            tokens=chunk.tokens,
            timed=chunk.timed,
            spans=json.dumps(chunk.spans),
            topics=", ".join(meta.topics[:MAX_TOPICS]),
        )

    def to_store(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_store(cls, meta: Mapping[str, Any]) -> ChunkMeta:
        get = meta.get
        return cls(
            source_key=str(get("source_key") or ""), source_name=str(get("source_name") or ""),
            format=str(get("format") or ""), title=str(get("title") or ""), video_id=str(get("video_id") or ""),
            guest=str(get("guest") or ""), publish_date=str(get("publish_date") or ""),
            start=int(get("start") or 0), end=int(get("end") or 0), heading=str(get("heading") or ""),
            speakers=str(get("speakers") or ""), index=int(get("index", -1)), tokens=int(get("tokens") or 0),
            timed=bool(get("timed", True)), spans=str(get("spans") or "[]"), topics=str(get("topics") or ""),
        )  # fmt: skip

    def sentence_spans(self) -> tuple[tuple[int, ...], ...]:
        return tuple(tuple(s) for s in json.loads(self.spans))
