"""A source's situation library: who each piece of its advice is for, written by a careful reader.

MiniLM puts "my new manager after a reorg doesn't know my work" nearer to "go back to your manager and ask how
you can help them achieve their goals" than to "ask your boss how you can help", the move a coach would open
with. A reader of the source knows which sentence answers which situation; a library written by one, kept
beside the source as `<name>.situations.jsonl`, carries that judgement into the index with the source:

    {"situation": "My manager cancels our 1:1s…", "lead": 391, "also": [383], "lead_quote": "Ask your boss…"}

`lead` and `also` are seconds of sentences of the source (its citation times). The library is optional and
only ever ranks the source's own sentences: a line that names no sentence of the source is skipped with a
warning, and a broken library never stops the source from being indexed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from ingest.chunking import sentences
from ingest.segments import ParsedSource

SUFFIX = ".situations.jsonl"
MAX_BYTES = 2_000_000  # thousands of situations; a larger file is a mistake, not a library
MAX_SITUATION_CHARS = 2_000
MAX_ALSO = 3


def library_path(source: Path) -> Path:
    """Where a source's library lives: `notes.md` → `notes.situations.jsonl`, beside it."""
    return source.with_name(source.stem + SUFFIX)


def library_sha(source: Path) -> str:
    """A digest of the library beside `source` ('' when there is none), so editing it re-indexes the source."""
    path = library_path(source)
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""
    except OSError:
        return ""


def read_library(source_path: Path, source: ParsedSource) -> tuple[list[dict[str, Any]], list[str]]:
    """The valid situations of the library beside `source_path` and a warning per line left out."""
    path = library_path(source_path)
    if not path.is_file():
        return [], []
    name = path.name
    try:
        if path.stat().st_size > MAX_BYTES:
            return [], [f"{name}: over {MAX_BYTES // 1_000_000} MB, not read"]
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return [], [f"{name}: could not be read ({type(exc).__name__}); the source is indexed without it"]
    times = {s.start_s for s in sentences(source.segments)}
    kept: list[dict[str, Any]] = []
    warnings: list[str] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        row, problem = _situation(line, times)
        if not row:
            warnings.append(f"{name} line {number}: {problem}; skipped")
            continue
        if problem:
            warnings.append(f"{name} line {number}: {problem}")
        kept.append(row)
    return kept, warnings


def _situation(line: str, times: set[int]) -> tuple[dict[str, Any], str]:
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        return {}, f"not JSON ({exc.msg})"
    if not isinstance(raw, dict):
        return {}, "not a JSON object"
    said = raw.get("situation")
    if not isinstance(said, str) or not said.strip():
        return {}, "no situation text"
    if len(said) > MAX_SITUATION_CHARS or "\x00" in said:
        return {}, f"situation over {MAX_SITUATION_CHARS} characters"
    lead = raw.get("lead")
    also = raw.get("also", [])
    if not isinstance(lead, int) or isinstance(lead, bool):
        return {}, "lead is not a whole number of seconds"
    if not isinstance(also, list) or not all(isinstance(t, int) and not isinstance(t, bool) for t in also):
        return {}, "also is not a list of whole seconds"
    if lead not in times:
        return {}, f"lead {lead} s is the time of no sentence in the source"
    unknown = [t for t in also if t not in times]
    kept_also = [t for t in dict.fromkeys(also) if t in times and t != lead][:MAX_ALSO]
    note = f"also {', '.join(map(str, unknown))} s: no sentence of the source at that time, left out" if unknown else ""
    return {"situation": " ".join(said.split()), "lead": lead, "also": kept_also}, note
