"""The public result types of the contract (see DESIGN.md §2)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from ingest.timestamps import format_time


def youtube_url(video_id: str, start: int) -> str:
    return f"https://www.youtube.com/watch?v={video_id}&t={int(start)}s" if video_id else ""


@dataclass(frozen=True)
class Passage:
    id: str
    text: str
    video_id: str
    start: int
    end: int
    title: str
    guest: str
    score: float
    source: str
    heading: str = ""
    speakers: str = ""
    timed: bool = True
    spans: tuple[tuple[int, int, int, int], ...] = ()

    @property
    def url(self) -> str:
        return youtube_url(self.video_id, self.start)

    @property
    def when(self) -> str:
        return format_time(self.start)

    @classmethod
    def from_store(cls, cid: str, text: str, meta: dict[str, Any], score: float) -> Passage:
        spans = tuple(tuple(s) for s in json.loads(meta.get("spans") or "[]"))
        return cls(
            id=cid,
            text=text,
            video_id=str(meta.get("video_id") or ""),
            start=int(meta.get("start") or 0),
            end=int(meta.get("end") or 0),
            title=str(meta.get("title") or ""),
            guest=str(meta.get("guest") or ""),
            score=round(float(score), 4),
            source=str(meta.get("source_name") or ""),
            heading=str(meta.get("heading") or ""),
            speakers=str(meta.get("speakers") or ""),
            timed=bool(meta.get("timed", True)),
            spans=spans,  # type: ignore[arg-type]
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("spans")
        out["url"] = self.url
        return out


@dataclass(frozen=True)
class Citation:
    n: int
    video_id: str
    start: int
    end: int
    title: str
    quote: str
    passage_id: str = ""
    guest: str = ""

    @property
    def url(self) -> str:
        return youtube_url(self.video_id, self.start)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "url": self.url}


@dataclass
class Answer:
    text: str
    citations: list[Citation] = field(default_factory=list)
    refused: bool = False
    framework: dict[str, Any] | None = None
    notices: list[str] = field(default_factory=list)
    backend: str = "offline"
    flagged: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "refused": self.refused,
            "citations": [c.to_dict() for c in self.citations],
            "framework": self.framework,
            "notices": self.notices,
            "backend": self.backend,
            "flagged": self.flagged,
        }
