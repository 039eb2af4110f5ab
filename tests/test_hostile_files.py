"""Hostile files: NUL bytes anywhere, absurd times, UTF-16/32, and front matter built to explode."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ingest.chunking import chunk_segments
from ingest.notes import parse_notes
from ingest.segments import SourceError
from ingest.sources import parse_file
from ingest.timestamps import MAX_SECONDS, parse_time
from ingest.transcripts import parse_transcript
from tests.conftest import NOTES

LIMIT = 8_000_000
HEAD = "---\ntitle: T\nvideoId: abcdefghijk\n---\n"  # four lines: the body starts on line 5


def _times(source) -> set[int]:  # type: ignore[no-untyped-def]
    return {t for s in source.segments for t in (s.start_s, s.end_s)}


# ---- NUL -----------------------------------------------------------------------------------------------
def test_a_nul_far_into_a_file_is_an_error_naming_its_line(tmp_path: Path) -> None:
    filler = "".join(f"Sentence number {i} has its own time. [00:{i // 60:02d}:{i % 60:02d}]\n\n" for i in range(600))
    assert len(filler) > 20_000  # well past the first 8 KB, where the check used to stop
    path = tmp_path / "late-nul.md"
    path.write_text(HEAD + filler + "Late \x00-50\x00 text here.\n", encoding="utf-8")
    nul_line = 4 + filler.count("\n") + 1
    with pytest.raises(SourceError, match=rf"binary file \(a NUL byte on line {nul_line}\)"):
        parse_file(path, LIMIT)


def test_nul_text_passed_to_the_parser_never_becomes_a_time() -> None:
    text = HEAD + "A first sentence that is timed. [00:00:05]\n\nLate \x00-50\x00 text with enough words here.\n"
    source = parse_notes(Path("n.md"), text)
    assert _times(source) == {5}
    late = next(s for s in source.segments if "Late" in s.text)
    assert not late.timed
    assert "\x00" not in late.text
    assert any("NUL" in w for w in source.warnings)


# ---- absurd times --------------------------------------------------------------------------------------
def test_parse_time_refuses_more_than_a_day() -> None:
    assert parse_time("24:00:00") == MAX_SECONDS == 86_400
    with pytest.raises(ValueError, match="past 24 hours"):
        parse_time("24:00:01")
    with pytest.raises(ValueError, match="past 24 hours"):
        parse_time("99:59:59")


def test_notes_time_past_a_day_is_dropped_with_its_line() -> None:
    text = HEAD + "First sentence. [00:00:05]\n\nSecond sentence is long enough. [99:59:59]\n"
    source = parse_notes(Path("n.md"), text)
    assert _times(source) == {5}
    assert any(w.startswith("line 7:") and "'99:59:59'" in w and "past 24 hours" in w for w in source.warnings)


def test_notes_warnings_name_the_line_inside_a_multi_line_paragraph() -> None:
    text = HEAD + "Opening words of it. [00:00:05]\nmore of the same paragraph\nand a bad stamp [00:61:00] here.\n"
    source = parse_notes(Path("n.md"), text)
    assert [w for w in source.warnings if "malformed" in w] == ["line 7: ignored malformed timestamp '00:61:00'"]


def test_transcript_time_past_a_day_is_dropped_with_its_line() -> None:
    text = (
        "---\nguest: Ann\nvideo_id: abcdefghijk\n---\n"
        "Ann (00:00:01):\nOne.\n\nAnn (25:00:00):\nTwo.\n\n[48:00:00] Ann: Three.\n\nAnn (00:00:09):\nFour.\n"
    )
    source = parse_transcript(Path("t/transcript.md"), text)
    assert max(_times(source)) <= MAX_SECONDS
    assert _times(source) == {1, 9}
    assert any(w.startswith("line 8:") and "'25:00:00' is past 24 hours" in w for w in source.warnings)
    assert any(w.startswith("line 11:") and "'48:00:00' is past 24 hours" in w for w in source.warnings)
    for chunk in chunk_segments(source.segments, 128, 16):
        assert all(0 <= start <= end <= MAX_SECONDS for _, _, start, end, _ in chunk.spans)


# ---- encodings -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be-bom", "utf-32", "utf-8-sig"])
def test_unicode_files_with_a_byte_order_mark_read_like_utf8(tmp_path: Path, encoding: str) -> None:
    text = NOTES.read_text(encoding="utf-8")
    data = b"\xfe\xff" + text.encode("utf-16-be") if encoding == "utf-16-be-bom" else text.encode(encoding)
    (tmp_path / "utf8.md").write_text(text, encoding="utf-8")
    (tmp_path / "other.md").write_bytes(data)
    expected = parse_file(tmp_path / "utf8.md", LIMIT)
    got = parse_file(tmp_path / "other.md", LIMIT)
    assert got.segments == expected.segments
    assert got.meta == expected.meta


def test_utf16_without_a_mark_is_named_as_utf16(tmp_path: Path) -> None:
    path = tmp_path / "no-bom.md"
    path.write_bytes(NOTES.read_text(encoding="utf-8").encode("utf-16-le"))
    with pytest.raises(SourceError, match="UTF-16 text without a byte-order mark"):
        parse_file(path, LIMIT)


def test_broken_utf16_is_named_as_utf16(tmp_path: Path) -> None:
    path = tmp_path / "broken.md"
    path.write_bytes(b"\xff\xfe" + "Words. [00:00:05]".encode("utf-16-le") + b"\x00\xd8")  # a lone surrogate
    with pytest.raises(SourceError, match="UTF-16 byte-order mark but is not UTF-16"):
        parse_file(path, LIMIT)


# ---- front matter --------------------------------------------------------------------------------------
def test_an_alias_bomb_in_front_matter_is_no_title() -> None:
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for prev, name in zip("abcdef", "bcdefg", strict=True):
        levels.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    text = "---\n" + "\n".join(levels) + "\ntitle: *g\nvideoId: abcdefghijk\n---\nWords here. [00:00:05]\n"
    start = time.perf_counter()
    source = parse_notes(Path("bomb-notes.md"), text)  # 9**7 leaves: printing them is tens of MB
    assert time.perf_counter() - start < 5
    assert source.meta.title == "bomb notes"  # from the file name
    assert source.meta.video_id == "abcdefghijk"


def test_huge_front_matter_is_read_line_by_line(tmp_path: Path) -> None:
    text = "---\n" + "".join(f"key{i}: value\n" for i in range(20_000)) + "title: Kept\n---\nWords. [00:00:05]\n"
    source = parse_notes(Path("n.md"), text)
    assert source.meta.title == "Kept"
    assert any("read line by line" in w for w in source.warnings)
