"""Adding a source about something else changes nothing in answers about other things (issue 15, point 6):
the same framework card, the same lead, the same text; the new source still answers its own questions."""

from __future__ import annotations

from pathlib import Path

SOURDOUGH = """---
title: Sourdough basics
videoId: ZZZZZZZZZZZ
---
# Sourdough basics

## The three-step starter routine
1. **Feed daily**: Feed the starter flour and water every morning. [00:01:05]
2. **Keep it warm**: A warm kitchen makes the starter rise faster. [00:02:10]
3. **Bake when doubled**: Bake once the starter has doubled in size. [00:03:20]

Good bread takes patience, and most bakers say the starter matters most. [00:04:00]
"""
QUESTIONS = [
    "How do I get past senior manager?",
    "My manager never talks about my career growth. What should I do?",
    "What is the Magic Loop?",
    "How do I become an owner rather than a renter at work?",
]


def _seen(coach, question: str) -> tuple[object, ...]:  # type: ignore[no-untyped-def]
    answer = coach.ask(question)
    card = answer.framework
    steps = tuple(s.label for s in card.steps) if card else ()
    return (card.name if card else None, steps, answer.lead, answer.text, tuple(c.url for c in answer.citations))


def test_an_unrelated_source_changes_no_answer_about_other_things(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from coach import Coach

    coach = Coach.open(settings=settings)
    before = {q: _seen(coach, q) for q in QUESTIONS}
    assert all(b[0] for b in before.values()), "each question is answered with a framework card"
    extra = tmp_path / "sourdough.md"
    extra.write_text(SOURDOUGH, encoding="utf-8")
    report = coach.ingest([extra])
    assert report.chunks_added > 0
    assert "The three-step starter routine" in {f.framework.name for f in coach.frameworks.items()}
    for question in QUESTIONS:
        assert _seen(coach, question) == before[question], question
    bread = coach.ask("How do I keep my sourdough starter going?")
    assert any("ZZZZZZZZZZZ" in c.url for c in bread.citations), "the new source answers its own questions"
