"""Both parsers against hand-verified facts from the real files, and crafted edge cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.notes import parse_notes
from ingest.segments import SourceError
from ingest.sources import detect_format, parse_file
from ingest.timestamps import format_time, parse_time
from ingest.transcripts import parse_transcript
from tests.conftest import CORPUS, NOTES


def _notes():
    return parse_notes(NOTES, NOTES.read_text(encoding="utf-8"))


def _find(segments, needle):
    hits = [s for s in segments if needle in s.text]
    assert hits, f"no segment contains {needle!r}"
    return hits[0]


@pytest.mark.parametrize(
    ("raw", "seconds"), [("00:06:31", 391), ("6:31", 391), ("01:02:27", 3747), ("1:00:00", 3600), ("00:00", 0)]
)
def test_parse_time_forms(raw: str, seconds: int) -> None:
    assert parse_time(raw) == seconds


@pytest.mark.parametrize("raw", ["00:61:00", "1:2", "abc", "12:60", ""])
def test_parse_time_rejects_malformed(raw: str) -> None:
    with pytest.raises(ValueError, match="timestamp"):
        parse_time(raw)


def test_format_time_round_trip() -> None:
    assert format_time(391) == "6:31"
    assert parse_time(format_time(3747)) == 3747


# Hand-verified against the bundled file: the anchor *after* a sentence is its time.
@pytest.mark.parametrize(
    ("needle", "seconds"),
    [
        ("Ask your boss how you can help", 391),
        ("$4 will get you a cup of coffee", 690),
        ("Managers rarely get asked this", 1057),
        ("Even two hours once a month can be sufficient", 2020),
        ("an owner never says that's not my job", 3747),
        ("Do your current job well", 362),
    ],
)
def test_notes_sentence_time_is_the_anchor_that_closes_it(needle: str, seconds: int) -> None:
    seg = _find(_notes().segments, needle)
    assert seg.start_s == seconds
    assert seg.timed


def test_notes_metadata_and_structure() -> None:
    src = _notes()
    assert src.meta.video_id == "GB0P0_nFPTA"
    assert src.meta.title == "Career development and progression strategies"
    step = _find(src.segments, "Ask your boss how you can help")
    assert step.kind == "list_item"
    assert step.item == 2
    assert step.label == "Ask your boss how you can help"
    assert step.heading_path == ("The Magic Loop for Career Growth", "Steps of the Magic Loop")
    quote = _find(src.segments, "cup of coffee")
    assert quote.kind == "quote"


def test_notes_wiki_links_render_label_and_keep_target_as_topic() -> None:
    src = _notes()
    text = " ".join(s.text for s in src.segments)
    assert "[[" not in text
    assert "]]" not in text
    assert "career advancement" in text  # label of [[career_growth_and_personal_development | career advancement]]
    assert "career_growth_and_personal_development" in src.meta.topics
    assert "<a" not in text
    assert "data-t" not in text


def test_notes_all_three_anchor_forms(tmp_path: Path) -> None:
    text = (
        "---\ntitle: T\nvideoId: abcdefghijk\n---\n## H\n"
        'First point <a class="yt-timestamp" data-t="00:01:00">[00:01:00]</a>. '
        'Second point <a class="yt-timestamp" data-t="00:02:00"></a>. '
        "Third point [00:03:00]. Fourth point [04:05].\n"
    )
    segs = parse_notes(tmp_path / "n.md", text).segments
    assert [(s.text, s.start_s) for s in segs] == [
        ("First point.", 60),
        ("Second point.", 120),
        ("Third point.", 180),
        ("Fourth point.", 245),
    ]


def test_notes_without_timestamps_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no timestamps"):
        parse_notes(tmp_path / "n.md", "---\ntitle: T\nvideoId: abcdefghijk\n---\nJust prose, no times at all.\n")


def test_transcript_time_opens_the_paragraph_after_it() -> None:
    path = CORPUS / "ethan-evans" / "transcript.md"
    src = parse_transcript(path, path.read_text(encoding="utf-8"))
    first = _find(src.segments, "People think invention takes all this time")
    assert (first.start_s, first.end_s, first.speaker) == (0, 9, "Ethan Evans")
    # "(00:00:09):" without a name continues the previous speaker
    second = _find(src.segments, "So you had the idea to have a newsletter")
    assert (second.start_s, second.speaker) == (9, "Ethan Evans")
    assert src.meta.guest == "Ethan Evans"
    assert src.meta.video_id == "GB0P0_nFPTA"
    assert src.meta.publish_date
    assert all(s.start_s <= s.end_s for s in src.segments)


def test_transcript_sponsor_reads_are_skipped() -> None:
    path = CORPUS / "ethan-evans" / "transcript.md"
    src = parse_transcript(path, path.read_text(encoding="utf-8"))
    text = " ".join(s.text for s in src.segments)
    assert "sidebar.com/lenny" not in text
    assert src.skipped_sponsor_paragraphs >= 3
    assert "Magic Loop" in text  # the conversation itself is kept


def test_transcript_inline_and_mmss_forms(tmp_path: Path) -> None:
    text = (
        "---\nguest: A B\ntitle: T | A B\nvideo_id: abcdefghijk\n---\n"
        "[00:05] Ann: Hello there.\n[01:10] Bob: Hi.\nMore from Bob.\n"
        "Ann (02:00):\nBack to Ann.\n"
    )
    segs = parse_transcript(tmp_path / "t.md", text).segments
    assert [(s.speaker, s.start_s, s.end_s) for s in segs] == [("Ann", 5, 70), ("Bob", 70, 120), ("Ann", 120, 120)]
    assert segs[1].text == "Hi. More from Bob."


def test_transcript_malformed_time_line_warns_and_keeps_text(tmp_path: Path) -> None:
    text = "---\nguest: A\nvideo_id: abcdefghijk\n---\nA (00:00:01):\nOne.\n\nA (00:99:99):\nTwo.\n\nA (00:00:05):\nThree.\n"
    src = parse_transcript(tmp_path / "t.md", text)
    assert any("malformed time" in w for w in src.warnings)
    assert [s.text for s in src.segments] == ["One. Two.", "Three."]


def test_format_detection() -> None:
    assert detect_format(NOTES.read_text(encoding="utf-8")) == "notes"
    assert detect_format((CORPUS / "ethan-evans" / "transcript.md").read_text(encoding="utf-8")) == "transcript"
    with pytest.raises(SourceError, match="unrecognised format"):
        detect_format("# A README\n\nNothing timed here.\n")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"   \n\n", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
        ("caf\u00e9 [00:01:00]".encode("latin-1"), "not UTF-8"),
    ],
)
def test_unreadable_files_get_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.md"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=message):
        parse_file(path, 8_000_000)


def test_huge_file_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.md"
    with path.open("wb") as fh:
        fh.truncate(20_000_000)
    with pytest.raises(SourceError, match=r"20\.0 MB, over the 8 MB limit"):
        parse_file(path, 8_000_000)
