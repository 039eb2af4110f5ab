"""Episode notes: Markdown where a timestamp *closes* the sentence it supports."""

from __future__ import annotations

import bisect
import dataclasses
import functools
import html
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path

from ingest.frontmatter import field_seconds, field_str, split_front_matter, video_id_field
from ingest.segments import ParsedSource, Segment, SourceError, SourceMeta
from ingest.timestamps import TimeRangeError, find_anchors, parse_time

# All three anchor forms become one marker, \x00<seconds>\x00; the file's own NULs are dropped first.
_MARK = re.compile(r"\x00(\d+)\x00")
_TAG_END = re.compile(r"[>\x00]")
_TAG_MAX = 500  # characters inside <…>: a longer span is text with a stray "<", not a tag
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
    numbers: list[int] = field(default_factory=list)  # the file's line number of each of `lines`

    @functools.cached_property
    def _starts(self) -> list[int]:
        return list(itertools.accumulate((len(line) + 1 for line in self.lines[:-1]), initial=0))

    def line_at(self, offset: int) -> int:
        """The file line holding character `offset` of the block's lines joined by spaces."""
        return self.numbers[max(0, bisect.bisect_right(self._starts, offset) - 1)] if self.numbers else 0


def _render_wikis(text: str, topics: list[str]) -> str:
    r"""`[[target | label]]` becomes its label, `[[target]]` its target (underscores as spaces); targets are topics.

    The substitution `\[\[([^\]|]+?)(?:\s*\|\s*([^\]]+?))?\s*\]\]` makes, in linear time. An opener can only
    close at the first "]" after it, so the inside is known at once; whether and how it matches follows
    from where its first "|" is. Both positions are cached, so openers sharing them are not rescanned.
    """
    out: list[str] = []
    pos = 0
    close = pipe = -1  # first "]" / "|" at or after the latest opener's inside (len(text) when none)
    i = text.find("[[")
    while i != -1:
        inside = i + 2
        if close < inside:
            found = text.find("]", inside)
            close = found if found >= 0 else len(text)
        if close >= len(text) - 1:
            break  # no "]]" ahead of this opener, nor of any later one
        if text[close + 1] != "]":
            i = text.find("[[", close + 1)  # every opener before this "]" fails alike
            continue
        if pipe < inside:
            found = text.find("|", inside)
            pipe = found if found >= 0 else len(text)
        target = label = None
        if pipe >= close:  # [[target]]: anything but whitespace alone, which keeps one character
            target = text[inside : max(inside + 1, len(text[inside:close].rstrip()) + inside)] if close > inside else None
        elif pipe > inside and pipe + 1 < close:  # [[target | label]]: both sides non-empty
            target = text[inside : max(inside + 1, len(text[inside:pipe].rstrip()) + inside)]
            after = text[pipe + 1 : close]
            label = after.strip() or after[-1]
        if target is None:
            i = text.find("[[", i + 1)
            continue
        topics.append(target.strip())
        out += [text[pos:i], (label or target.strip().replace("_", " ")).strip()]
        pos = close + 2
        i = text.find("[[", pos)
    out.append(text[pos:])
    return "".join(out)


def _strip_tags(text: str) -> str:
    r"""Each `<…>` of at most 500 characters (no NUL inside) becomes a space: what `<[^>\x00]{0,500}>`
    substitutes, in linear time (every "<" before the same ">" or NUL shares one lookup and one verdict)."""
    out: list[str] = []
    pos = 0
    end = -1  # the first ">" or NUL after the latest "<" (len(text) when none)
    i = text.find("<")
    while i != -1:
        if end <= i:
            found = _TAG_END.search(text, i + 1)
            end = found.start() if found else len(text)
        if end < len(text) and text[end] == ">" and end - i - 1 <= _TAG_MAX:
            out += [text[pos:i], " "]
            pos = end + 1
            i = text.find("<", pos)
        else:  # the next "<" that can do better: none before a NUL or the end, none too far from its ">"
            i = text.find("<", end if end == len(text) or text[end] != ">" else max(i + 1, end - 1 - _TAG_MAX))
    out.append(text[pos:])
    return "".join(out)


def _mark_times(text: str, warnings: list[str], block: _Block | None = None) -> str:
    out: list[str] = []
    pos = 0
    for start, end, raw in find_anchors(text):
        out.append(text[pos:start])
        try:
            out.append(f"\x00{parse_time(raw)}\x00")
        except TimeRangeError:
            warnings.append(f"line {block.line_at(start) if block else 0}: ignored timestamp {raw!r}, past 24 hours")
        except ValueError:
            warnings.append(f"line {block.line_at(start) if block else 0}: ignored malformed timestamp {raw!r}")
        pos = end
    out.append(text[pos:])
    return "".join(out)


def _clean(text: str) -> str:
    text = _strip_tags(text)
    text = _EMPHASIS.sub("", text)
    text = html.unescape(text)
    return " ".join(text.split())


def _blocks(lines: list[str], first_number: int = 1) -> list[_Block]:
    """Group lines into headings, list items, quotes and paragraphs (remembering each line's number)."""
    blocks: list[_Block] = []
    current: _Block | None = None
    bullet_count = 0
    for number, line in enumerate(lines, start=first_number):
        if not line.strip():
            current = None
            continue
        if m := _HEADING.match(line):
            blocks.append(_Block("heading", [m.group(2)], item=len(m.group(1)), numbers=[number]))
            current, bullet_count = None, 0
            continue
        if m := _NUMBERED.match(line):
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
        current.numbers.append(number)
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
    fields, body, offset, warnings = split_front_matter(text)
    if "\x00" in body:  # only the parser's own markers may hold NUL (a file's "\x00-50\x00" is not a time)
        body = body.replace("\x00", "")
        warnings.append("NUL characters dropped")
    topics: list[str] = []
    body = _render_wikis(body, topics)
    meta = SourceMeta(
        title=field_str(fields, "title") or path.stem.replace("-", " "),
        video_id=video_id_field(fields, ("videoId", "video_id"), warnings),
        guest=field_str(fields, "guest"),
        publish_date=field_str(fields, "publish_date", "date"),
        duration_s=field_seconds(fields, "duration_seconds"),
        topics=tuple(dict.fromkeys(topics)),
    )
    headings: list[tuple[int, str]] = []
    raw: list[_Raw] = []
    for block_no, block in enumerate(_blocks(body.splitlines(), offset + 1)):
        if block.kind == "heading":
            level = block.item or 1
            headings = [h for h in headings if h[0] < level] + [(level, _clean(block.lines[0]))]
            continue
        joined = " ".join(block.lines)
        marked = _mark_times(joined, warnings, block)
        if "\x00" not in marked and len(_clean(marked).split()) < _MIN_UNTIMED_WORDS:
            continue  # an untimed scrap such as "From: lennyspodcast" is not content
        lead = _BOLD_LEAD.match(joined) if block.kind == "list_item" else None
        label = _clean(_MARK.sub(" ", _mark_times(lead.group(1), []))).rstrip(":") if lead else ""
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
