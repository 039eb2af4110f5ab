"""Full transcripts: `Speaker (HH:MM:SS):` lines whose time *opens* the paragraph after them."""

from __future__ import annotations

import functools
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

from ingest.frontmatter import field_seconds, field_str, split_front_matter, video_id_field
from ingest.segments import ParsedSource, Segment, SourceError, SourceMeta
from ingest.timestamps import TimeRangeError, parse_time

# "Lenny (00:01:14):", "Jiaona Zhang (JZ) (00:39:27):", "(00:02:20):"
_TIME_LINE = re.compile(r"^(?P<speaker>[^\n]{0,120}?)\s*\((?P<t>[^()\n]{1,16})\):\s*$")
# "[01:08:14] Ryan: Yeah, I'm just…" — time, speaker and text on one line.
_INLINE_LINE = re.compile(r"^\[(?P<t>[\d:]{3,12})\]\s*(?:(?P<speaker>[^:\n]{1,60}):)?\s*(?P<text>.*)$")
# "Adriel Frederick:" alone on a line — a speaker turn with no time at all.
_SPEAKER_LINE = re.compile(r"^(?P<speaker>[A-Z][\w .'()&+-]{0,60}):\s*$")
_LOOKS_LIKE_TIME = re.compile(r"^[\d\s:.]+$")
_INLINE_TIME = re.compile(r"\[(inaudible|crosstalk|foreign language)\s+[\d:]+\]", re.I)
_SPONSOR_START = re.compile(
    r"brought to you by|sponsored by|let me tell you about (?:a|our|my) (?:product|company|sponsor)"
    r"|today'?s (?:episode|sponsor)[^.]{0,40}sponsor|a word from our sponsors?\b(?! (?:and|after))",
    re.I,
)
_SPONSOR_URL = re.compile(r"\b[\w-]+\.(?:com|ai|io|co|dev|app|so|org)/lenny\b|\bto learn more\b", re.I)
_MAX_SPONSOR_PARAGRAPHS = 4


@dataclass
class _Paragraph:
    speaker: str
    start: int
    line: int
    lines: list[str] = field(default_factory=list)
    timed: bool = True

    @functools.cached_property
    def text(self) -> str:
        """Read once the file is parsed (sponsor detection, then segments), so computed once."""
        text = " ".join(" ".join(self.lines).split())
        return _INLINE_TIME.sub(r"[\1]", text) if "[" in text else text


def parse_transcript(path: Path, text: str) -> ParsedSource:
    """Parse a transcript; sponsor reads are detected and skipped (counted in the result)."""
    fields, body, offset, warnings = split_front_matter(text)
    meta = SourceMeta(
        title=field_str(fields, "title") or path.parent.name,
        video_id=video_id_field(fields, ("video_id", "videoId"), warnings),
        guest=field_str(fields, "guest"),
        publish_date=field_str(fields, "publish_date", "date"),
        duration_s=field_seconds(fields, "duration_seconds"),
        topics=tuple(str(k) for k in _listed(fields.get("keywords")) if isinstance(k, str | int)),
    )
    paragraphs = _paragraphs(body, offset, warnings)
    if not any(p.timed for p in paragraphs):
        if not paragraphs:
            raise SourceError("no speaker turns or timestamps found (expected lines like 'Speaker (00:01:14):')")
        warnings.append(
            "no timestamps found: passages are kept but cite the start of the episode (marked untimed)"
        )
    kept, sponsor = _drop_sponsor_reads(paragraphs)
    segments = _segments(kept, paragraphs, warnings)
    if not meta.has_youtube_id:
        warnings.append(f"video id {meta.video_id!r} is not a YouTube id; citations will have no link")
    if meta.duration_s and segments and segments[-1].start_s > meta.duration_s:
        warnings.append(
            f"timestamps run to {segments[-1].start_s}s, past the front-matter duration "
            f"({meta.duration_s}s); the timestamps are kept"
        )
    return ParsedSource(
        path=path,
        key="",
        format="transcript",
        meta=meta,
        segments=segments,
        warnings=warnings,
        skipped_sponsor_paragraphs=sponsor,
    )


def _listed(value: object) -> list[object]:
    """A front-matter list; a lone value (`keywords: growth`, `keywords: 42`) is a list of one."""
    if isinstance(value, list):
        return value
    return [value] if isinstance(value, str | int) and not isinstance(value, bool) else []


def _paragraphs(body: str, offset: int, warnings: list[str]) -> list[_Paragraph]:
    paragraphs: list[_Paragraph] = []
    speaker = ""
    preamble = 0
    timed_seen = False  # kept as a flag: asking the list on every speaker line made long files quadratic
    for number, line in enumerate(body.splitlines(), start=offset + 1):
        if line.startswith("#"):
            continue
        stripped = line.strip()
        if m := _INLINE_LINE.match(stripped):
            try:
                start = parse_time(m.group("t"))
            except ValueError as exc:
                warnings.append(f"line {number}: {_time_problem(m.group('t'), exc)}; its text joins the previous paragraph")
            else:
                speaker = (m.group("speaker") or "").strip() or speaker
                paragraphs.append(_Paragraph(speaker, start, number, [m.group("text")]))
                timed_seen = True
                continue
        if not timed_seen and (m := _SPEAKER_LINE.match(stripped)):
            speaker = m.group("speaker").strip()
            paragraphs.append(_Paragraph(speaker, 0, number, timed=False))
            continue
        if m := _TIME_LINE.match(stripped):
            raw = m.group("t").strip()
            try:
                start = parse_time(raw)
            except ValueError as exc:
                if _LOOKS_LIKE_TIME.match(raw):
                    warnings.append(f"line {number}: {_time_problem(raw, exc)}; its text joins the previous paragraph")
                    continue
            else:
                speaker = m.group("speaker").strip() or speaker
                paragraphs.append(_Paragraph(speaker, start, number))
                timed_seen = True
                continue
        if not stripped:
            continue
        if paragraphs:
            paragraphs[-1].lines.append(line)
        else:
            preamble += 1
    if preamble:
        warnings.append(f"{preamble} line(s) before the first timestamp were skipped")
    return paragraphs


def _time_problem(raw: str, exc: ValueError) -> str:
    return f"time {raw!r} is past 24 hours" if isinstance(exc, TimeRangeError) else f"malformed time {raw!r}"


def _drop_sponsor_reads(paragraphs: list[_Paragraph]) -> tuple[list[_Paragraph], int]:
    """A sponsor read opens with "brought to you by…" and runs, same speaker, to its URL."""
    kept: list[_Paragraph] = []
    skipped = 0
    i = 0
    while i < len(paragraphs):
        para = paragraphs[i]
        if not _SPONSOR_START.search(para.text):
            kept.append(para)
            i += 1
            continue
        j = i
        while (
            j + 1 < len(paragraphs)
            and j - i + 1 < _MAX_SPONSOR_PARAGRAPHS
            and not _SPONSOR_URL.search(paragraphs[j].text)
            and paragraphs[j + 1].speaker == para.speaker
        ):
            j += 1
        skipped += j - i + 1
        i = j + 1
    return kept, skipped


def _segments(kept: list[_Paragraph], all_paragraphs: list[_Paragraph], warnings: list[str]) -> list[Segment]:
    """A paragraph ends where the next one in the file begins (sponsor reads included)."""
    next_start = {id(p): n.start for p, n in itertools.pairwise(all_paragraphs)}
    segments: list[Segment] = []
    backwards = 0
    for block, para in enumerate(kept):
        text = para.text
        if not text:
            continue
        end = next_start.get(id(para), para.start)
        if end < para.start:
            backwards += 1
            end = para.start
        segments.append(
            Segment(
                text=text,
                start_s=para.start,
                end_s=end if para.timed else para.start,
                speaker=para.speaker,
                block=block,
                timed=para.timed,
            )
        )
    if backwards:
        warnings.append(f"{backwards} timestamp(s) go backwards; those paragraphs end where they start")
    return segments
