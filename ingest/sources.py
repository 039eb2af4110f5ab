"""Find source files, read them safely and hand each to the parser for its format."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from ingest.notes import parse_notes
from ingest.segments import ParsedSource, SourceError
from ingest.transcripts import parse_transcript

SUFFIXES = (".md", ".markdown", ".txt")
_NOTES_HINT = re.compile(r"yt-timestamp|data-t=|^videoId:", re.M)
_TRANSCRIPT_HINT = re.compile(r"^video_id:|^guest:|^[^\n]{0,80}\((?:\d{1,2}:)?\d{1,2}:\d{2}\):\s*$|^\[\d", re.M)
_BARE_STAMP = re.compile(r"\[(?:\d{1,2}:)?\d{1,2}:\d{2}\]")


def discover(paths: Iterable[str | Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Expand files and folders (recursively) into source files; missing paths are errors."""
    found: list[Path] = []
    missing: list[tuple[Path, str]] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in SUFFIXES))
        elif path.is_file():
            found.append(path)
        else:
            missing.append((path, "no such file or folder"))
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique, missing


def source_key(path: Path) -> str:
    """A stable, readable key: transcripts are all `transcript.md`, so their folder names them."""
    resolved = path.resolve()
    return str(resolved)


def display_name(path: Path) -> str:
    return path.parent.name if path.stem.lower() == "transcript" else path.stem


def read_text(path: Path, max_bytes: int) -> str:
    """Read a UTF-8 text file or raise SourceError saying exactly why not."""
    size = path.stat().st_size
    if size == 0:
        raise SourceError("empty file")
    if size > max_bytes:
        raise SourceError(
            f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit "
            "(raise COACH_MAX_FILE_MB to ingest it)"
        )
    data = path.read_bytes()
    if b"\x00" in data[:8192]:
        raise SourceError("binary file (contains NUL bytes), not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise SourceError(
            f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); save it as UTF-8"
        ) from None
    if not text.strip():
        raise SourceError("empty file (only whitespace)")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def detect_format(text: str) -> str:
    """'notes' (timestamps close sentences) or 'transcript' (timestamps open paragraphs)."""
    notes = len(_NOTES_HINT.findall(text)) + len(_BARE_STAMP.findall(text))
    transcript = len(_TRANSCRIPT_HINT.findall(text))
    if notes == 0 and transcript == 0:
        raise SourceError(
            "unrecognised format: neither episode notes (timestamps like [00:06:02] after sentences) "
            "nor a transcript (lines like 'Speaker (00:06:02):')"
        )
    return "transcript" if transcript > notes else "notes"


def parse_file(path: Path, max_bytes: int) -> ParsedSource:
    """Read, detect and parse one file. Raises SourceError for anything a user must fix."""
    text = read_text(path, max_bytes)
    fmt = detect_format(text)
    parsed = parse_transcript(path, text) if fmt == "transcript" else parse_notes(path, text)
    parsed.key = source_key(path)
    return parsed


def parse_all(paths: Iterable[Path], max_bytes: int) -> Iterator[tuple[Path, ParsedSource | SourceError]]:
    for path in paths:
        try:
            yield path, parse_file(path, max_bytes)
        except SourceError as exc:
            yield path, exc
        except (OSError, RecursionError, ValueError) as exc:  # unreadable or pathological input
            yield path, SourceError(f"could not read: {exc}")
