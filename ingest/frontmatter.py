"""YAML front matter, tolerant of the hand-edited kind found in real files."""

from __future__ import annotations

import datetime
import re
from typing import Any

import yaml

_FENCE = re.compile(r"\A---[ \t]*\n(.*?)\n---[ \t]*(?:\n|\Z)", re.S)
_SIMPLE_LINE = re.compile(r"^([A-Za-z_][\w-]*):\s*(.*)$")
# libyaml reads the same documents as the pure-Python loader (checked on every corpus file), 7x faster.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_YAML_MAX_CHARS = 64_000  # ten times the largest front matter in the corpus (5.9 KB)


def split_front_matter(text: str) -> tuple[dict[str, Any], str, int, list[str]]:
    """Return (fields, body, body_line_offset, warnings).

    Malformed YAML (stray quotes in a title, say) falls back to reading
    `key: value` lines one by one, with a warning, rather than losing the file.
    """
    match = _FENCE.match(text)
    if not match:
        return {}, text, 0, []
    raw = match.group(1)
    body = text[match.end() :]
    offset = text[: match.end()].count("\n")
    warnings: list[str] = []
    if len(raw) > _YAML_MAX_CHARS:  # YAML is read at ~0.3 MB/s: a hostile one would hold ingestion for minutes
        warnings.append(f"front matter is over {_YAML_MAX_CHARS // 1000} KB; read line by line, not as YAML")
        return _line_by_line(raw), body, offset, warnings
    try:
        loaded = yaml.load(raw, Loader=_LOADER)
        fields = loaded if isinstance(loaded, dict) else {}
        if not isinstance(loaded, dict):
            warnings.append("front matter is not a mapping; ignored")
    except (yaml.YAMLError, ValueError, OverflowError, RecursionError) as exc:  # e.g. `date: 2024-02-30`
        first_line = str(exc).splitlines()[0] if str(exc) else "parse error"
        warnings.append(f"front matter is not valid YAML ({first_line}); read line by line")
        fields = _line_by_line(raw)
    return fields, body, offset, warnings


def _line_by_line(raw: str) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    for line in raw.splitlines():
        m = _SIMPLE_LINE.match(line)
        if m:
            fields[m.group(1)] = m.group(2).strip().strip("'\"")
    return fields


def field_str(fields: dict[str, Any], *names: str) -> str:
    """First non-empty field among `names`, as a clean one-line string. Lists and mappings are not names or
    titles, and are skipped: printing one made from nested aliases (a "billion laughs") would never end."""
    for name in names:
        value = fields.get(name)
        if not isinstance(value, str | int | float | datetime.date):
            continue
        text = " ".join(str(value).split()).strip().strip("'\"").strip()
        if text:
            return text
    return ""


def field_seconds(fields: dict[str, Any], name: str) -> int:
    try:
        return max(0, int(float(fields.get(name) or 0)))
    except (TypeError, ValueError, OverflowError):  # OverflowError: `.inf` or `1e999` in the YAML
        return 0


_URL_ID = re.compile(r"(?:[?&]v=|youtu\.be/|/embed/|/shorts/)([\w-]{11})(?![\w-])")


def video_id_field(fields: dict[str, Any], names: tuple[str, ...], warnings: list[str]) -> str:
    """The video id from `names`, checked against the file's own YouTube URL: when they disagree one of them
    was copied from another episode, and a citation must not open the wrong video, so the id is dropped
    with a warning. With no id field, the URL's id is used."""
    video_id = field_str(fields, *names)
    url = field_str(fields, "youtube_url", "youtubeUrl", "video_url", "url")
    found = _URL_ID.search(url)
    if found is None:
        return video_id
    if not video_id:
        return found.group(1)
    if found.group(1) != video_id:
        warnings.append(
            f"video id {video_id} disagrees with its youtube_url ({found.group(1)}): one was copied from another "
            "episode, so the id is not trusted and citations get no link"
        )
        return ""
    return video_id
