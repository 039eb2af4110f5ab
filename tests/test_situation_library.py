"""A source's situation library (`<name>.situations.jsonl` beside it): read with the source, kept in the index,
used to choose the lead, and never able to break, replace or reach beyond its source."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

NOTES = """---
title: Handling a new manager
videoId: CCCCCCCCCCC
---

## Starting with a new manager

### Moves
1.  **Ask how you can help** <a class="yt-timestamp" data-t="00:01:00">[00:01:00]</a>: Offer to take work off their plate in your first week together <a class="yt-timestamp" data-t="00:01:10">[00:01:10]</a>.
2.  **Go back and ask for help with your goals** <a class="yt-timestamp" data-t="00:02:00">[00:02:00]</a>: Ask your manager to help you reach your own career goals too <a class="yt-timestamp" data-t="00:02:10">[00:02:10]</a>.
"""  # noqa: E501


def _write(folder: Path, library: list[object] | None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    source = folder / "new-manager.md"
    source.write_text(NOTES, encoding="utf-8")
    if library is not None:
        lines = [x if isinstance(x, str) else json.dumps(x) for x in library]
        (folder / "new-manager.situations.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return source


def _lead_seconds(answer) -> set[int]:  # type: ignore[no-untyped-def]
    by_n = {c.n: c.start for c in answer.citations}
    return {by_n[n] for n in answer.lead if n in by_n}


def test_a_broken_library_never_stops_its_source(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    from coach import Coach

    _write(tmp_path / "src", [
        {"situation": "My new boss has no idea who I am.", "lead": 60, "also": [70, 999]},
        "{not json",
        ["a", "list"],
        {"situation": "No lead here."},
        {"situation": "A time the notes never give.", "lead": 61},
        {"situation": "x" * 5000, "lead": 60},
        {"situation": "   ", "lead": 60},
        {"situation": "True is not a second.", "lead": True},
    ])  # fmt: skip
    coach = Coach.open(settings=settings.model_copy(update={"data_dir": tmp_path / "src"}))
    (record,) = coach.store.records().values()
    assert len(record.chunk_ids) > 0  # the source is indexed whatever its library holds
    assert record.situations == [{"situation": "My new boss has no idea who I am.", "lead": 60, "also": [70]}]
    notes = "\n".join(record.warnings)
    for line, why in [(1, "999"), (2, "not JSON"), (3, "not a JSON object"), (4, "lead"), (5, "61 s"),
                      (6, "characters"), (7, "no situation"), (8, "lead")]:  # fmt: skip
        assert f"new-manager.situations.jsonl line {line}: " in notes, notes
        assert why in notes.split(f"line {line}: ")[1].splitlines()[0], notes


def test_editing_the_library_reindexes_its_source_and_keeps_its_chunks(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    from coach import Coach

    folder = tmp_path / "src"
    _write(folder, [{"situation": "My new boss has no idea who I am.", "lead": 60}])
    coach = Coach.open(settings=settings.model_copy(update={"data_dir": folder}))
    (before,) = coach.store.records().values()
    _write(folder, [{"situation": "My new boss has no idea who I am.", "lead": 120},
                    {"situation": "I want my manager's help with my goals.", "lead": 130}])  # fmt: skip
    report = coach.ingest([folder])
    (row,) = report.files
    assert row.status == "updated"
    assert row.chunks_added == 0  # the source's text did not change: no chunk is embedded again
    (after,) = coach.store.records().values()
    assert after.chunk_ids == before.chunk_ids
    assert [s["lead"] for s in after.situations] == [120, 130]
    (folder / "new-manager.situations.jsonl").unlink()
    coach.ingest([folder])
    (gone,) = coach.store.records().values()
    assert gone.situations == []


def test_a_near_situation_chooses_the_lead(tmp_path: Path, settings) -> None:  # type: ignore[no-untyped-def]
    from coach import Coach

    message = "My new manager doesn't know me or my goals at all. What should I do first?"
    plain = Coach.open(settings=settings.model_copy(update={"data_dir": _write(tmp_path / "a", None).parent,
                                                            "store_dir": tmp_path / "store-a"}))  # fmt: skip
    without = plain.ask(message)
    # the embedding alone reads "goals" and leads with the later move; a reader would start the relationship first
    assert _lead_seconds(without) & {120, 130}, without.text
    library = [{"situation": "I have a new manager who doesn't know me or what I want yet. Where do I start?",
                "lead": 60, "also": [70]}]  # fmt: skip
    coached = Coach.open(settings=settings.model_copy(update={"data_dir": _write(tmp_path / "b", library).parent,
                                                              "store_dir": tmp_path / "store-b"}))  # fmt: skip
    answer = coached.ask(message)
    assert _lead_seconds(answer) & {60, 70}, answer.text
    # still cited at the sentence's own second, and the far-off question is not pulled to the library's lead
    assert {c.start for c in answer.citations} <= {60, 70, 120, 130}
    far = coached.ask("How do I ask my manager to help me reach my own career goals?")
    assert _lead_seconds(far) & {120, 130}, far.text


def test_the_bundled_library_names_only_sentences_of_the_notes(bundled) -> None:  # type: ignore[no-untyped-def]
    """Every line of the shipped library is read: none is skipped for a time the notes do not give."""
    lines = [x for x in (ROOT / "data" / "ethan-evans-career-development.situations.jsonl").read_text().splitlines() if x]
    (record,) = [r for r in bundled.store.records().values() if r.name.startswith("ethan-evans")]
    assert len(record.situations) == len(lines)
    assert not [w for w in record.warnings if "situations.jsonl" in w]


@pytest.mark.parametrize("second", [60, 70])
def test_a_library_lead_is_a_sentence_of_its_own_source(tmp_path: Path, settings, second: int) -> None:  # type: ignore[no-untyped-def]
    """Another episode gives a sentence at the same second on the same topic; the library of one source never
    lifts the other's sentence."""
    from coach import Coach

    _write(tmp_path / "src" / "a", [{"situation": "My new boss has no idea who I am.", "lead": second}])
    other = tmp_path / "src" / "b" / "other.md"
    other.parent.mkdir(parents=True)
    other.write_text(
        "---\ntitle: Meeting a new boss\nvideoId: DDDDDDDDDDD\n---\n\n## New bosses\n\n### Moves\n"
        '1.  **Introduce yourself to a new boss with a short note** <a class="yt-timestamp" data-t="00:01:00">'
        '[00:01:00]</a>: Say what you work on and what you have shipped <a class="yt-timestamp" '
        'data-t="00:01:10">[00:01:10]</a>.\n'
        '2.  **Book a weekly slot** <a class="yt-timestamp" data-t="00:02:00">[00:02:00]</a>: Keep it short '
        'and bring a written update <a class="yt-timestamp" data-t="00:02:10">[00:02:10]</a>.\n',
        encoding="utf-8",
    )
    coach = Coach.open(settings=settings.model_copy(update={"data_dir": tmp_path / "src"}))
    assert len([r for r in coach.store.records().values() if not r.duplicate_of]) == 2
    answer = coach.ask("My new boss has no idea who I am. Where do I start?")
    lead = [c for c in answer.citations if c.n in answer.lead]
    assert lead, answer.text
    assert {c.video_id for c in lead} == {"CCCCCCCCCCC"}, answer.text


def test_a_lead_outside_the_retrieved_passages_is_brought_in() -> None:
    """The library's lead is often a sentence the message's words miss: its passage joins the retrieved ones,
    after them (score 0), once, and only from the library's own source."""
    from coach.situations import Near, Situation, holding
    from coach.types import Passage

    def passage(pid: str, video: str, start: int, text: str) -> Passage:
        return Passage(pid, text, video, start, start + 10, "t", "", 0.7, f"src-{video}")

    retrieved = [passage("r", "V1", 100, "Ask how you can help.")]
    update = "Write a weekly update."
    stored = [*retrieved, passage("x", "V2", 300, update), passage("y", "V1", 300, update)]
    wanted = Situation("My boss does not know what I do.", 300, (), "V1", "src-V1")
    near = [Near(wanted, 0.6), Near(wanted, 0.5), Near(Situation("Already here.", 100, (), "V1", "src-V1"), 0.5)]
    brought = holding(near, retrieved, stored)
    assert [(p.id, p.score) for p in brought] == [("y", 0.0)]


def test_near_situations_that_agree_outvote_a_nearer_one() -> None:
    """Votes add up: two situations (0.5 each) that lead with one sentence beat one nearer situation (0.6) that
    leads with another, whatever their order in the list; a point no situation names keeps its score."""
    from coach.advice import Point
    from coach.citations import Quote
    from coach.situations import Near, Situation, lifted

    def point(start: int, score: float) -> Point:
        q = Quote(f"Sentence at {start}.", start, start)
        return Point((q,), 0, f"p{start}", "V1", "t", "", "src-V1", "h", score, score, action=True)

    a, b, other = point(100, 0.50), point(200, 0.50), point(300, 0.55)
    one = Near(Situation("nearest", 200, (), "V1", "src-V1"), 0.6)
    agree = [Near(Situation(f"agrees {i}", 100, (), "V1", "src-V1"), 0.5) for i in range(2)]
    for near in ([one, *agree], [*agree, one]):
        ranked = lifted([a, b, other], near)
        assert [p.quote.start for p in ranked][:2] == [100, 200]
        assert {p.quote.start: p.score for p in ranked}[300] == 0.55
    assert lifted([a, b, other], [one, agree[0]])[0].quote.start == 200  # one against one: nearer wins
