"""Episode notes: Markdown where a timestamp *closes* the sentence it supports."""

from __future__ import annotations

import dataclasses
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from ingest.frontmatter import field_seconds, field_str, split_front_matter
from ingest.segments import ParsedSource, Segment, SourceError, SourceMeta
from ingest.timestamps import TIME, parse_time

# All three anchor forms become one marker: \x00<seconds>\x00.
_ANCHOR = re.compile(
    rf"<a\b[^>]*?data-t=[\"'](?P<t1>{TIME})[\"'][^>]*>(?:\s*\[?(?:{TIME})?\]?\s*)</a>"
    rf"|\[(?P<t2>{TIME})\]",
    re.I,
)
_MARK = re.compile(r"\x00(-?\d+)\x00")
_WIKI = re.compile(r"\[\[([^\]|]+?)(?:\s*\|\s*([^\]]+?))?\s*\]\]")
_TAG = re.compile(r"<[^>\x00]{0,500}>")
_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_NUMBERED = re.compile(r"^\s{0,3}(\d{1,3})[.)]\s+(.*)$")
_BULLET = re.compile(r"^\s{0,3}[*+-]\s+(.*)$")
_QUOTE = re.compile(r"^\s{0,3}>\s?(.*)$")
_EMPHASIS = re.compile(r"(\*\*|__|(?<!\w)[*_](?=\S)|(?<=\S)[*_](?!\w))")
# Punctuation right after an anchor still belongs to the sentence the anchor closed.
_CLOSING_PUNCT = re.compile(r"^\s*([.!?,;:]+[\"”’)]*)")
_BOLD_LEAD = re.compile(r"^\s*\*\*(.+?)\*\*")
_MIN_UNTIMED_WORDS = 5


# (text, closing time, heading path, block kind, block number, item number, item label)
_Raw = tuple[str, "int | None", tuple[str, ...], str, int, "int | None", str]


@dataclass
class _Block:
    kind: str
    lines: list[str] = field(default_factory=list)
    item: int | None = None


def _render_wiki(match: re.Match[str], topics: list[str]) -> str:
    target, label = match.group(1).strip(), match.group(2)
    topics.append(target)
    return (label or target.replace("_", " ")).strip()


def _mark_times(text: str, warnings: list[str], where: str) -> str:
    def repl(m: re.Match[str]) -> str:
        raw = m.group("t1") or m.group("t2")
        try:
            return f"\x00{parse_time(raw)}\x00"
        except ValueError:
            warnings.append(f"{where}: ignored malformed timestamp {raw!r}")
            return ""

    return _ANCHOR.sub(repl, text)


def _clean(text: str) -> str:
    text = _TAG.sub(" ", text)
    text = _EMPHASIS.sub("", text)
    text = html.unescape(text)
    return " ".join(text.split())


def _blocks(lines: list[str]) -> list[_Block]:
    """Group lines into headings, list items, quotes and paragraphs."""
    blocks: list[_Block] = []
    current: _Block | None = None
    bullet_count = 0
    for line in lines:
        if not line.strip():
            current = None
            continue
        if m := _HEADING.match(line):
            blocks.append(_Block("heading", [m.group(2)], item=len(m.group(1))))
            current, bullet_count = None, 0
        elif m := _NUMBERED.match(line):
            current = _Block("list_item", [m.group(2)], item=int(m.group(1)))
            blocks.append(current)
        elif m := _BULLET.match(line):
            bullet_count += 1
            current = _Block("list_item", [m.group(1)], item=bullet_count)
            blocks.append(current)
        elif m := _QUOTE.match(line):
            if current is None or current.kind != "quote":
                current = _Block("quote")
                blocks.append(current)
            current.lines.append(m.group(1))
        elif current is not None:
            current.lines.append(line.strip())
        else:
            current = _Block("paragraph", [line.strip()])
            blocks.append(current)
            bullet_count = 0
    return blocks


def _pieces(marked: str) -> list[tuple[str, int | None]]:
    """Split marked text into (text, closing time) pieces; trailing text gets None."""
    parts = _MARK.split(marked)
    pieces: list[tuple[str, int | None]] = []
    carry = ""
    for i in range(0, len(parts), 2):
        text = carry + parts[i]
        carry = ""
        time = int(parts[i + 1]) if i + 1 < len(parts) else None
        if pieces and (m := _CLOSING_PUNCT.match(text)):
            prev_text, prev_time = pieces[-1]
            pieces[-1] = (prev_text.rstrip() + m.group(1), prev_time)
            text = text[m.end() :]
        pieces.append((text, time))
    return pieces


def parse_notes(path: Path, text: str) -> ParsedSource:
    """Parse episode notes into segments, each timed by the anchor that closes it."""
    fields, body, _offset, warnings = split_front_matter(text)
    topics: list[str] = []
    body = _WIKI.sub(lambda m: _render_wiki(m, topics), body)
    meta = SourceMeta(
        title=field_str(fields, "title") or path.stem.replace("-", " "),
        video_id=field_str(fields, "videoId", "video_id"),
        guest=field_str(fields, "guest"),
        publish_date=field_str(fields, "publish_date", "date"),
        duration_s=field_seconds(fields, "duration_seconds"),
        topics=tuple(dict.fromkeys(topics)),
    )
    headings: list[tuple[int, str]] = []
    raw: list[_Raw] = []
    for block_no, block in enumerate(_blocks(body.splitlines())):
        if block.kind == "heading":
            level = block.item or 1
            headings = [h for h in headings if h[0] < level] + [(level, _clean(block.lines[0]))]
            continue
        joined = " ".join(block.lines)
        marked = _mark_times(joined, warnings, f"block {block_no + 1}")
        if "\x00" not in marked and len(_clean(marked).split()) < _MIN_UNTIMED_WORDS:
            continue  # an untimed scrap such as "From: lennyspodcast" is not content
        lead = _BOLD_LEAD.match(joined) if block.kind == "list_item" else None
        label = _clean(_MARK.sub(" ", _mark_times(lead.group(1), [], ""))).rstrip(":") if lead else ""
        path_names = tuple(h[1] for h in headings)
        for piece, time in _pieces(marked):
            cleaned = _clean(_MARK.sub(" ", piece))
            if len(cleaned.strip(" .:;,-")) < 2:
                continue
            raw.append((cleaned, time, path_names, block.kind, block_no, block.item, label))
    times = [t for _, t, *_ in raw if t is not None]
    if not times:
        raise SourceError(
            "no timestamps found: every passage must cite a second of the episode, "
            "so add [HH:MM:SS] or <a data-t=…> anchors after the sentences they support"
        )
    if not meta.has_youtube_id:
        warnings.append(f"video id {meta.video_id!r} is not a YouTube id; citations will have no link")
    segments = _timed_segments(raw)
    if not meta.guest and (guest := _introduced_guest(segments)):
        meta = dataclasses.replace(meta, guest=guest)
    untimed = sum(1 for s in segments if not s.timed)
    if untimed:
        warnings.append(
            f"{untimed} sentence(s) without their own timestamp took the nearest one in their section (marked approximate)"
        )
    return ParsedSource(path=path, key="", format="notes", meta=meta, segments=segments, warnings=warnings)


_INTRODUCED = re.compile(r"^([A-Z][a-z]+(?: [A-Z][a-zA-Z'-]+){1,2}), (?:a|an|the|who|former|now)\b")


def _introduced_guest(segments: list[Segment]) -> str:
    """Notes open by introducing their guest ("Ethan Evans, a former Vice President…"): use that name."""
    first = next((s for s in segments if s.kind == "paragraph"), None)
    match = _INTRODUCED.match(first.text) if first else None
    return match.group(1) if match else ""


def _timed_segments(raw: list[_Raw]) -> list[Segment]:
    """Give each untimed piece a time from its own span, in linear time: the next anchor in its block (the
    closing-anchor rule), else the next in its section, else the previous in its section; only a section with
    no anchor at all borrows the nearest one before it (or the first one). Such segments stay `timed=False`
    so a citation can say its second is approximate."""
    n = len(raw)
    next_in_block: list[int | None] = [None] * n
    next_in_section: list[int | None] = [None] * n
    for i in range(n - 2, -1, -1):
        following = raw[i + 1][1]
        if raw[i + 1][4] == raw[i][4]:
            next_in_block[i] = following if following is not None else next_in_block[i + 1]
        if raw[i + 1][2] == raw[i][2]:
            next_in_section[i] = following if following is not None else next_in_section[i + 1]
    first_time = next((r[1] for r in raw if r[1] is not None), None)
    segments: list[Segment] = []
    last_time: int | None = None
    last_in_section: int | None = None
    for i, (text, time, heading_path, kind, block, item, label) in enumerate(raw):
        if i and raw[i - 1][2] != heading_path:
            last_in_section = None
        timed = time is not None
        if time is None:
            for fallback in (next_in_block[i], next_in_section[i], last_in_section, last_time, first_time):
                if fallback is not None:
                    time = fallback
                    break
        assert time is not None  # at least one timestamp exists
        if timed:
            last_in_section = last_time = time
        segments.append(
            Segment(
                text=text,
                start_s=time,
                end_s=time,
                heading_path=heading_path,
                kind=kind,
                block=block,
                item=item,
                label=label,
                timed=timed,
                closes=True,
            )
        )
    return segments
