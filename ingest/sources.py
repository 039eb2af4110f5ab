"""Find source files, read them safely and hand each to the parser for its format."""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Iterable
from pathlib import Path

from ingest.notes import parse_notes
from ingest.segments import ParsedSource, SourceError
from ingest.transcripts import parse_transcript

SUFFIXES = (".md", ".markdown", ".txt")
_NOTES_HINT = re.compile(r"yt-timestamp|data-t=|^videoId:", re.M)
_TRANSCRIPT_HINT = re.compile(r"^video_id:|^guest:|^[^\n]{0,80}\((?:\d{1,2}:)?\d{1,2}:\d{2}\):\s*$|^\[\d", re.M)
_BARE_STAMP = re.compile(r"\[(?:\d{1,2}:)?\d{1,2}:\d{2}\]")


def discover(paths: Iterable[str | Path]) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Expand files and folders (recursively, through links to folders) into source files, and say what was
    passed over: missing paths, broken links, link loops and folders that cannot be read."""
    found: list[Path] = []
    skipped: list[tuple[Path, str]] = []
    seen: set[Path] = set()
    for raw in paths:
        path = Path(raw).expanduser()
        why = _broken_link(path)
        if why:
            skipped.append((path, why))
        elif path.is_dir():
            _walk(path, found, skipped, seen)
        elif path.is_file():
            found.append(path)
        else:
            skipped.append((path, "no such file or folder"))
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique, skipped


def _walk(folder: Path, found: list[Path], skipped: list[tuple[Path, str]], seen: set[Path]) -> None:
    real = folder.resolve()
    if real in seen:  # a link back to a folder already read would go round for ever
        skipped.append((folder, f"link loop: this folder is {real}, already read"))
        return
    seen.add(real)
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        skipped.append((folder, f"cannot read this folder: {exc.strerror or exc}"))
        return
    for entry in entries:
        path = Path(entry.path)
        why = _broken_link(path)
        if why:
            skipped.append((path, why))
        elif entry.is_dir():
            _walk(path, found, skipped, seen)
        elif entry.is_file() and path.suffix.lower() in SUFFIXES:
            found.append(path)


def _broken_link(path: Path) -> str:
    """Why `path` is a link that leads nowhere ("" when it is not a link, or a good one)."""
    if not path.is_symlink():
        return ""
    try:
        path.resolve(strict=True)
    except FileNotFoundError:
        return f"broken link: its target {os.readlink(path)} does not exist"
    except (OSError, RuntimeError):  # ELOOP, or pathlib's "symlink loop" RuntimeError
        return "link loop: the link points back to itself"
    return ""


def source_key(path: Path) -> str:
    """A stable, readable key: transcripts are all `transcript.md`, so their folder names them."""
    resolved = path.resolve()
    return str(resolved)


def display_name(path: Path) -> str:
    return path.parent.name if path.stem.lower() == "transcript" else path.stem


_BOMS = (  # UTF-32 first: its little-endian mark starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"),
)  # fmt: skip


def read_text(path: Path, max_bytes: int) -> str:
    """Read a UTF-8 (or BOM-marked UTF-16/32) text file, or raise SourceError saying exactly why not."""
    size = path.stat().st_size
    if size == 0:
        raise SourceError("empty file")
    if size > max_bytes:
        raise SourceError(
            f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit "
            "(raise COACH_MAX_FILE_MB to ingest it)"
        )
    text = decode(path.read_bytes())
    if not text.strip():
        raise SourceError("empty file (only whitespace)")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def decode(data: bytes) -> str:
    """Text from a file's bytes: UTF-8, or UTF-16/32 when a byte-order mark says so.

    A NUL anywhere is refused, not dropped: text editors never write one, so it means a binary or damaged
    file (or UTF-16 without its mark), and indexing what is left would cite garbage."""
    encoding = next((enc for bom, enc in _BOMS if data.startswith(bom)), "utf-8-sig")
    if encoding == "utf-8-sig" and b"\x00" in data:  # before decoding: a binary file is named binary
        if _looks_utf16(data):
            raise SourceError("UTF-16 text without a byte-order mark; save it as UTF-8 (or as UTF-16 with a BOM)")
        _refuse_nul(data.decode("latin-1"))  # one character per byte: the line count stays exact
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        if encoding == "utf-8-sig":
            raise SourceError(
                f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start}); save it as UTF-8"
            ) from None
        raise SourceError(
            f"starts with a {encoding.upper()} byte-order mark but is not {encoding.upper()} text "
            f"(offset {exc.start}); save it as UTF-8"
        ) from None
    _refuse_nul(text)
    return text


def _refuse_nul(text: str) -> None:
    if (nul := text.find("\x00")) >= 0:
        line = text.count("\n", 0, nul) + 1
        raise SourceError(f"binary file (a NUL byte on line {line}), not text")


def _looks_utf16(data: bytes) -> bool:
    """Mostly ASCII as UTF-16 has a NUL in every other byte, at even offsets (BE) or odd ones (LE)."""
    sample = data[:4096]
    half = len(sample) // 2
    return half >= 4 and max(sample[0::2].count(0), sample[1::2].count(0)) >= 0.9 * half


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

