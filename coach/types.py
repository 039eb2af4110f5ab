"""The public result types: what `Coach.retrieve` and `Coach.ask` return, and what `--json`, the chat API and
the MCP tools serialise (their fields are a contract scripts outside the project rely on)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from ingest.chunk_meta import ChunkMeta
from ingest.timestamps import MAX_SECONDS, format_time

RetrievalMode = Literal["hybrid", "dense", "bm25"]  # fused, vectors only, keywords only


def youtube_url(video_id: str, start: int) -> str:
    """The video at `start` seconds. An index built before the parser refused negative or day-long times may
    still hold one: such a link opens the video at its start rather than at an absurd second."""
    second = int(start) if 0 <= int(start) <= MAX_SECONDS else 0
    return f"https://www.youtube.com/watch?v={video_id}&t={second}s" if video_id else ""


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
    spans: tuple[tuple[int, ...], ...] = ()  # (char_start, char_end, start_s, end_s[, timed]) per sentence
    index: int = -1  # the chunk's place in its source (the next chunk continues its text)

    @property
    def url(self) -> str:
        return youtube_url(self.video_id, self.start)

    @property
    def when(self) -> str:
        return format_time(self.start)

    @classmethod
    def from_store(cls, cid: str, text: str, meta: Mapping[str, Any], score: float) -> Passage:
        """A stored chunk as a passage; `meta` is what ingest wrote (ingest.chunk_meta.ChunkMeta)."""
        m = ChunkMeta.from_store(meta)
        return cls(
            id=cid, text=text, video_id=m.video_id, start=m.start, end=m.end, title=m.title, guest=m.guest,
            score=round(float(score), 4), source=m.source_name, heading=m.heading, speakers=m.speakers,
            timed=m.timed, spans=m.sentence_spans(), index=m.index,
        )  # fmt: skip

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("spans")
        out.pop("index")
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
    approximate: bool = False  # the source gave this sentence no second of its own; `start` is its span's

    @property
    def url(self) -> str:
        return youtube_url(self.video_id, self.start)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "url": self.url}


@dataclass(frozen=True)
class StepCard:
    n: int
    label: str
    text: str
    start: int
    url: str


@dataclass(frozen=True)
class FrameworkCard:
    """The framework that fits, as a UI shows it: each step with its second and link."""

    name: str
    heading_path: tuple[str, ...]
    video_id: str
    title: str
    guest: str
    score: float
    steps: tuple[StepCard, ...]
    moves: bool = True  # steps a person can take; False for a list of causes, principles or opinions

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["heading_path"] = list(self.heading_path)
        out["steps"] = [asdict(s) for s in self.steps]
        return out


@dataclass
class Answer:
    text: str
    citations: list[Citation] = field(default_factory=list)
    refused: bool = False
    framework: FrameworkCard | None = None
    notices: list[str] = field(default_factory=list)
    backend: str = "offline"
    flagged: list[str] = field(default_factory=list)
    lead: tuple[int, ...] = ()  # the citation numbers of the advice the answer gives first

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "refused": self.refused,
            "citations": [c.to_dict() for c in self.citations],
            "framework": self.framework.to_dict() if self.framework else None,
            "notices": self.notices,
            "backend": self.backend,
            "flagged": self.flagged,
            "lead": list(self.lead),
        }
