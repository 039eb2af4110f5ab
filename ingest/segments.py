"""The types every stage of ingestion hands to the next."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

YOUTUBE_ID_LENGTH = 11


@dataclass(frozen=True)
class Segment:
    """One timed piece of a source: a sentence of notes or a transcript paragraph.

    `kind` records the structure the text sat in ("paragraph", "list_item",
    "quote", "heading") so frameworks can later be recognised from it; `item`
    is the list item's number (1-based) for numbered or bulleted lists and
    `block` groups the segments of one paragraph or list item.
    """

    text: str
    start_s: int
    end_s: int
    heading_path: tuple[str, ...] = ()
    speaker: str = ""
    kind: str = "paragraph"
    block: int = 0
    item: int | None = None
    label: str = ""
    timed: bool = True
    closes: bool = False  # the time closes the text (notes) rather than opening it (transcripts)


@dataclass(frozen=True)
class SourceMeta:
    """Front-matter facts carried to every chunk of a source."""

    title: str = ""
    video_id: str = ""
    guest: str = ""
    publish_date: str = ""
    duration_s: int = 0
    topics: tuple[str, ...] = ()

    @property
    def has_youtube_id(self) -> bool:
        vid = self.video_id
        return len(vid) == YOUTUBE_ID_LENGTH and all(c.isalnum() or c in "-_" for c in vid)


@dataclass
class ParsedSource:
    """A parsed file: its identity, metadata, timed segments and what went wrong."""

    path: Path
    key: str
    format: str
    meta: SourceMeta
    segments: list[Segment]
    warnings: list[str] = field(default_factory=list)
    skipped_sponsor_paragraphs: int = 0

    @property
    def duration_s(self) -> int:
        """Front-matter duration, or the last timestamp where that is missing or too short."""
        last = max((s.end_s for s in self.segments), default=0)
        return max(self.meta.duration_s, last)


class SourceError(Exception):
    """A file that cannot be ingested; the message is shown to the user as-is."""
