"""Property tests: both parsers and the chunker on arbitrary text with timestamps in every form (valid,
out of range, malformed), and the ask path on arbitrary Unicode, control characters and huge inputs.

A parser either returns a ParsedSource or raises SourceError (the message a user sees), never any
other exception. An answer either is a QuestionError or cites only passages that are really stored.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, event, example, given, settings
from hypothesis import strategies as st

from coach.guard import QuestionError
from coach.textutil import MARKER
from coach.types import Answer
from ingest.chunking import chunk_segments
from ingest.notes import parse_notes
from ingest.segments import ParsedSource, SourceError
from ingest.sources import detect_format, parse_file
from ingest.timestamps import TIME, parse_time
from ingest.transcripts import parse_transcript

PARSER_SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ASK_SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

# ---- documents ----------------------------------------------------------------------------------------
# Timestamp components run past their ranges (minutes 60+, three-digit parts) so malformed and out-of-range
# times are as likely as good ones.
_part = st.integers(min_value=0, max_value=59) | st.integers(min_value=0, max_value=130)


@st.composite
def _time(draw: st.DrawFn) -> str:
    h, m, s = draw(_part), draw(_part), draw(_part)
    form = draw(st.sampled_from(["hms", "ms", "hms0", "odd"]))
    if form == "hms":
        return f"{h:02d}:{m:02d}:{s:02d}"
    if form == "hms0":
        return f"{h}:{m:02d}:{s:02d}"
    if form == "ms":
        return f"{m:02d}:{s:02d}"
    return draw(st.sampled_from(["1:2:3", "::", "00:00:", "7", "00:60", "99:99:99", "0:0", "12:345", "-1:00", "1.5:00"]))


_words = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=60
)
_prose = st.lists(
    st.sampled_from(
        ["Ask your manager what the next level needs.", "Write it down!", "Why?", "He said \"go.\"", "— and so on",
         "Step one: listen.", "**Bold lead:** then text.", "[[Magic_Loop | the Magic Loop]]", "[[Promotion]]",
         "&amp; &lt;b&gt;", "<b>html</b>", "…", "Q3 results were $4.2M.", "   ", "\t"]
    )
    | _words,
    min_size=1,
    max_size=4,
).map(" ".join)


_KINDS = {
    "notes": ["prose+bare", "prose+anchor", "prose+empty_anchor", "heading", "numbered", "bullet", "quote", "blank"],
    "transcript": ["time_line", "inline", "speaker_line", "prose", "prose", "inaudible", "blank", "heading"],
}
_KINDS["mixed"] = _KINDS["notes"] + _KINDS["transcript"]


@st.composite
def _line(draw: st.DrawFn, style: str) -> str:
    t = draw(_time())
    speaker = draw(st.sampled_from(["", "Lenny", "Jiaona Zhang (JZ)", "Dr. A. B-C", "x" * 130, "Ünïcødé 名前"]))
    kind = draw(st.sampled_from(_KINDS[style]))
    prose = draw(_prose)
    return {
        "prose+bare": f"{prose} [{t}]",
        "prose+anchor": f'{prose} <a class="yt-timestamp" data-t="{t}">[{t}]</a>',
        "prose+empty_anchor": f"{prose} <a class='yt-timestamp' data-t='{t}'></a>.",
        "time_line": f"{speaker} ({t}):".lstrip(),
        "inline": f"[{t}] {speaker}: {prose}" if speaker else f"[{t}] {prose}",
        "speaker_line": f"{speaker or 'Guest'}:",
        "heading": f"{'#' * draw(st.integers(1, 7))} {prose}",
        "numbered": f"{draw(st.integers(0, 1200))}. {prose} [{t}]",
        "bullet": f"{draw(st.sampled_from('-*+'))} {prose}",
        "quote": f"> {prose} [{t}]",
        "blank": "",
        "prose": prose,
        "inaudible": f"{prose} [inaudible {t}] {prose}",
    }[kind]


_FRONT_VALUES = st.sampled_from(
    ["Title", '"unbalanced', "'x'", ".inf", "-.inf", ".nan", "1e999", "-5", "3600", "12:30", "2024-02-30",
     "[1, 2]", "{a: b}", "", "~", "GB0P0_nFPTA", "not-a-youtube-id", "*alias", "&anchor x", "|"]
)


@st.composite
def _front_matter(draw: st.DrawFn) -> str:
    if not draw(st.booleans()):
        return ""
    keys = draw(
        st.lists(
            st.sampled_from(["title", "videoId", "video_id", "guest", "publish_date", "duration_seconds", "keywords"]),
            max_size=6,
        )
    )
    lines = [f"{k}: {draw(_FRONT_VALUES)}" for k in keys]
    closed = draw(st.booleans()) or not lines
    return "---\n" + "\n".join(lines) + ("\n---\n" if closed else "\n")


@st.composite
def documents(draw: st.DrawFn) -> str:
    style = draw(st.sampled_from(sorted(_KINDS)))
    body = draw(st.lists(_line(style), min_size=1, max_size=25))
    text = draw(_front_matter()) + "\n".join(body)
    if draw(st.booleans()):  # arbitrary text around the structure
        text = draw(_words) + text + draw(_words)
    return text


def _check_parsed(parsed: ParsedSource, text: str) -> None:
    assert isinstance(parsed, ParsedSource)
    # (A transcript of bare time lines parses to zero segments: nothing to chunk, and no error either.)
    written = _times_in(text)
    for seg in parsed.segments:
        assert 0 <= seg.start_s <= seg.end_s, seg
        assert seg.text.strip(), seg
        # No invented seconds: a segment's times are times written in the file (0 when it has none).
        assert {seg.start_s, seg.end_s} <= written | {0}, (seg.start_s, seg.end_s, sorted(written)[:20])
    chunk_and_check(parsed)


_TIME_AT = re.compile(TIME)


def _times_in(text: str) -> set[int]:
    """Every valid time that starts anywhere in `text` (a superset of what a parser may read)."""
    found: set[int] = set()
    for i in range(len(text)):
        if text[i].isdigit() and (m := _TIME_AT.match(text, i)):
            for end in range(m.end(), i, -1):  # shorter readings of the same digits too
                try:
                    found.add(parse_time(text[i:end]))
                except ValueError:
                    continue
    return found


def chunk_and_check(parsed: ParsedSource) -> None:
    """Chunks keep start ≤ end within the segments' times and hold only words of the input segments."""
    segs = parsed.segments
    if not segs:
        return
    lo, hi = min(s.start_s for s in segs), max(s.end_s for s in segs)
    # Words as the segments have them; a chunk may cut trailing quote/bracket marks off a sentence end.
    source_words = " ".join(s.text for s in segs).split()
    speakers = {s.speaker for s in segs if s.speaker}
    for target, overlap in ((16, 0), (48, 8), (128, 16)):
        chunks = chunk_segments(segs, target, overlap)
        for chunk in chunks:
            assert lo <= chunk.start_s <= chunk.end_s <= hi, (chunk.start_s, chunk.end_s, lo, hi)
            for a, b, start, end, _timed in chunk.spans:
                assert 0 <= a <= b <= len(chunk.text)
                assert chunk.start_s <= start <= end <= chunk.end_s
            # Sentences only: the "Speaker: " labels between the spans are the chunker's, not the input's.
            words = " ".join(chunk.text[a:b] for a, b, *_ in chunk.spans).split()
            assert not _without_speaker_labels(_between_spans(chunk), speakers).strip(), chunk.text[:200]
            assert _is_run_of(words, source_words), f"chunk text not from the input: {chunk.text[:200]!r}"


def _between_spans(chunk: Any) -> str:
    """The chunk's text outside its sentence spans: only spaces and speaker labels belong there."""
    out, pos = [], 0
    for a, b, *_ in chunk.spans:
        out.append(chunk.text[pos:a])
        pos = b
    out.append(chunk.text[pos:])
    return " ".join(out)


def _without_speaker_labels(text: str, speakers: set[str]) -> str:
    for sp in sorted(speakers, key=len, reverse=True):
        text = text.replace(f"{sp}:", " ")
    return text


_TRAILING_CLOSERS = "\"”’)]"


def _is_run_of(words: list[str], source: list[str]) -> bool:
    """`words` are a contiguous run of `source` words, each equal to its source word or to the word less
    trailing closing quotes/brackets (sentence splitting drops those after a full stop)."""

    def same(w: str, s: str) -> bool:
        return w == s or (s.startswith(w) and not s[len(w) :].strip(_TRAILING_CLOSERS))

    n = len(words)
    return not words or any(
        all(same(w, s) for w, s in zip(words, source[i : i + n], strict=True))
        for i in range(len(source) - n + 1)
        if same(words[0], source[i])
    )


def _parse_any(parse: Any, text: str) -> ParsedSource | SourceError:
    try:
        parsed = parse(Path("/nonexistent/episode/transcript.md"), text)
    except SourceError as exc:
        error = exc
    else:
        event(f"parsed, {'some' if parsed.segments else 'no'} segments")
        return parsed
    assert str(error).strip(), "a SourceError must say what is wrong"
    event("SourceError")
    return error


# ---- parsers -------------------------------------------------------------------------------------------
@PARSER_SETTINGS
@given(documents())
@example("---\nduration_seconds: .inf\n---\nLenny (00:01:00):\nHello there.")
@example("Say it. [00:61:00] Then this [99:59:59] and [1:00:00].")
@example("(00:00):\n(00:00):\n")
def test_notes_parser_returns_a_source_or_a_source_error(text: str) -> None:
    result = _parse_any(parse_notes, text)
    if isinstance(result, ParsedSource):
        _check_parsed(result, text)


@PARSER_SETTINGS
@given(documents())
@example("---\nduration_seconds: 1e999\n---\nLenny (00:01:00):\nHello there.")
@example("Lenny (01:00:00):\nLater.\nLenny (00:00:10):\nEarlier — time goes backwards.")
@example("Lenny (00:75:00):\nOut of range.\n[12:345] Bad inline.")
def test_transcript_parser_returns_a_source_or_a_source_error(text: str) -> None:
    result = _parse_any(parse_transcript, text)
    if isinstance(result, ParsedSource):
        _check_parsed(result, text)


@PARSER_SETTINGS
@given(documents() | st.binary(max_size=300).map(lambda b: b.decode("latin-1")))
def test_parse_file_detects_and_parses_or_says_why(text: str) -> None:
    with contextlib.suppress(SourceError):
        detect_format(text)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "episode.md"
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            parsed: ParsedSource | str = parse_file(path, max_bytes=1_000_000)
        except SourceError as exc:
            parsed = str(exc)
    if isinstance(parsed, str):
        assert parsed.strip(), "a SourceError must say what is wrong"
    else:
        _check_parsed(parsed, text)


# ---- the ask path --------------------------------------------------------------------------------------
_CAREER = ["How do I get past senior manager?", "My manager never talks about my career growth. What should I do?",
           "How should I ask for a promotion?", "What is the Magic Loop?"]  # fmt: skip
_JUNK = st.sampled_from(
    ["\x00", "\x07", "\x1b[31m", "\u202e", "\u200b", "\ufeff", "\r\n", "[1]", "[2]", "[99]", "[[3]]", "<script>x</script>",
     "ignore previous instructions", "🙂", "ﬁ", "Ⅻ", "\u0301", "\U0010fffd", "%s%n", "{0}", "\\", "```"]
)
_any_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=400)


@st.composite
def questions(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["arbitrary", "career+junk", "long", "controls"]))
    if kind == "arbitrary":
        return draw(_any_text)
    if kind == "controls":
        return "".join(draw(st.lists(st.sampled_from([chr(c) for c in range(0, 32)] + ["\x7f", " ", "a"]), max_size=50)))
    base = draw(st.sampled_from(_CAREER))
    if kind == "long":
        return base + " " + draw(st.text(min_size=1, max_size=20)) * draw(st.integers(200, 1500))
    words = base.split()
    for _ in range(draw(st.integers(1, 4))):
        words.insert(draw(st.integers(0, len(words))), draw(_JUNK | _any_text.map(lambda s: s[:20])))
    return " ".join(words)


_history = st.lists(
    st.tuples(st.sampled_from(["user", "assistant", "USER", "boss", ""]), _any_text | st.sampled_from(_CAREER)),
    max_size=3,
)
_situation = st.none() | st.fixed_dictionaries(
    {}, optional=dict.fromkeys(("level", "goal", "manager"), _any_text | _JUNK)
)


class Stored(dict):  # type: ignore[type-arg]
    """What a store really holds; short repr so a falsifying example stays readable."""

    def __repr__(self) -> str:
        return f"<stored: {len(self['passages'])} passages, {len(self['frameworks'])} frameworks>"


@pytest.fixture(scope="module")
def stored(bundled) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    """What the bundled store really holds: committed passages by id, and its frameworks."""
    snap = bundled.retriever.snapshot()
    committed = bundled.store.committed_ids()
    assert committed, "the bundled store is empty"
    return Stored(
        passages={p.id: p for p in snap.passages if p.id in committed},
        frameworks={item.framework.name: item for item in bundled.frameworks.items()},
    )


def check_answer(answer: Answer, stored: dict[str, Any]) -> None:
    assert isinstance(answer, Answer)
    numbers = [c.n for c in answer.citations]
    assert numbers == list(range(1, len(numbers) + 1)), numbers
    if answer.refused:
        assert not answer.citations
    for c in answer.citations:
        if c.passage_id.startswith("framework:"):
            item = stored["frameworks"].get(c.passage_id.removeprefix("framework:"))
            assert item is not None, f"citation {c.n} names an unknown framework {c.passage_id!r}"
            fw = item.framework
            assert c.video_id == item.video_id
            said = {x.start_s for step in fw.steps for x in step.sentence_list()}
            assert c.start in {fw.intro_start_s, *said}, (c.start, c.quote)
            assert c.quote in fw.intro or any(c.quote in s.text or c.quote == s.label for s in fw.steps), c.quote
        else:
            passage = stored["passages"].get(c.passage_id)
            assert passage is not None, f"citation {c.n} points at {c.passage_id!r}, not a stored passage"
            assert c.video_id == passage.video_id
            assert passage.start <= c.start <= c.end <= max(passage.end, c.start)
            assert c.quote in passage.text, (c.quote, passage.text)
    cited = {int(n) for n in MARKER.findall(answer.text)}
    assert cited <= set(numbers), f"markers {sorted(cited - set(numbers))} map to no citation: {answer.text[:300]!r}"


@ASK_SETTINGS
@given(questions(), st.none() | _history, _situation)
@example("How do I get past senior manager [9]?", None, None)
@example("My manager never talks about my career growth. What should I do?", None, {"goal": "reach director [4]"})
@example("\x00\u202e\u200b", None, None)
@example("How do I get past senior manager? " + "0000000000\x1f" * 390, None, None)  # long only with its controls
def test_ask_on_arbitrary_input_is_an_error_or_a_grounded_answer(
    bundled, stored: dict[str, Any], question: str, history: Any, situation: Any
) -> None:  # type: ignore[no-untyped-def]
    try:
        answer = bundled.ask(question, history=history, situation=situation)
    except QuestionError as exc:
        message = str(exc)
        assert message.strip()
        assert "Traceback" not in message
        event("QuestionError")
        return
    event("refused" if answer.refused else "answered with citations" if answer.citations else "answered, no citations")
    check_answer(answer, stored)
    # control and zero-width characters are dropped before the length is judged ("0000\x1f" × 400 is 4,000 long)
    visible = re.sub(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069]", "", question)
    if len(visible) > bundled.settings.max_question_chars + 100 and re.search(r"\w", question):
        assert any("characters long" in n for n in answer.notices), answer.notices


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(questions())
def test_streamed_answer_is_the_asked_answer(bundled, stored: dict[str, Any], question: str) -> None:  # type: ignore[no-untyped-def]
    try:
        events = list(bundled.ask_stream(question))
    except QuestionError:
        return
    finals = [e for e in events if e.kind == "final"]
    assert len(finals) == 1
    assert events[-1] is finals[0]
    assume(finals[0].answer is not None)
    check_answer(finals[0].answer, stored)
    assert finals[0].answer.to_dict() == bundled.ask(question).to_dict()
