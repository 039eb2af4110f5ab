"""Which cited steps of an answer a person can add to their plan, and finding a step they name in the sources.

A step of the framework card that the answer cites becomes the step with its label, its whole text as the quote,
and the second it starts at; any other cited sentence that reads as a move becomes a step of its own words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from coach.phrasing import is_action
from coach.profile_store import ProfileError, Step
from coach.textutil import strip_end
from coach.types import Answer, Citation, FrameworkCard, StepCard, youtube_url

if TYPE_CHECKING:
    from coach.frameworks import SourcedFramework

MOST_STEPS = 8


def answer_steps(answer: Answer) -> list[Step]:
    """The cited steps of an answer, in the order the answer gives them (none for a declined answer)."""
    if answer.refused:
        return []
    card = answer.framework if answer.framework is not None and answer.framework.moves else None
    steps: dict[str, Step] = {}
    for c in sorted(answer.citations, key=lambda c: _first_use(answer.text, c.n)):
        step = _card_step(card, c) if card else None
        if step is not None:
            steps.setdefault(_key(step.step), step)
        elif is_action(c.quote):
            steps.setdefault(_key(c.quote), _sentence_step(c))
    return list(steps.values())[:MOST_STEPS]


def step_of_citation(answer: Answer, n: int) -> Step:
    """The step that citation [n] of an answer belongs to; ProfileError when there is none."""
    citation = next((c for c in answer.citations if c.n == n), None)
    if citation is None:
        have = ", ".join(f"[{c.n}]" for c in answer.citations) or "none"
        raise ProfileError(f"The answer has no citation [{n}] (it has {have}).")
    card = answer.framework if answer.framework is not None and answer.framework.moves else None
    return (_card_step(card, citation) if card else None) or _sentence_step(citation)


def framework_step(item: SourcedFramework, n: int) -> Step | None:
    """Step `n` of a stored framework as a plan step (None when it has no such step)."""
    step = next((s for s in item.framework.steps if s.n == n), None)
    if step is None:
        return None
    return Step(
        step=strip_end(step.label), quote=step.text, url=youtube_url(item.video_id, step.start_s),
        video_id=item.video_id, start=step.start_s, title=item.title, source=item.source,
        framework=" > ".join(item.framework.heading_path), step_n=step.n,
    )  # fmt: skip


def find_step(text: str, frameworks: Sequence[SourcedFramework]) -> Step:
    """The framework step a person names in their own words ("Ask your boss how you can help"); ProfileError
    with the steps that exist when none matches well enough."""
    wanted = _words(text)
    if not wanted:
        raise ProfileError("Say which step to add, e.g. 'Ask your boss how you can help'.")
    best: tuple[float, Step | None] = (0.0, None)
    for item in frameworks:
        for s in item.framework.steps:
            label = _words(s.label)
            overlap = len(wanted & label) / max(len(wanted | label), 1)
            if overlap > best[0]:
                best = (overlap, framework_step(item, s.n))
    if best[1] is None or best[0] < 0.5:
        raise ProfileError(
            f"No step in the sources reads like {text[:80]!r}. Copy a step from an answer (its words after "
            "'Start here' or under 'Then'), or add from a saved answer with --answer FILE --citation N."
        )
    return best[1]


def _card_step(card: FrameworkCard | None, c: Citation) -> Step | None:
    """The card step whose text holds the cited sentence, as a plan step."""
    if card is None or c.video_id != card.video_id:
        return None
    said = _key(c.quote)
    step = next((s for s in card.steps if said and said in _key(s.text)), None)
    return _from_card(card, step) if step else None


def _from_card(card: FrameworkCard, s: StepCard) -> Step:
    return Step(
        step=strip_end(s.label), quote=s.text, url=s.url, video_id=card.video_id, start=s.start, title=card.title,
        source="", framework=" > ".join(card.heading_path), step_n=s.n,
    )  # fmt: skip


def _sentence_step(c: Citation) -> Step:
    return Step(step=strip_end(c.quote), quote=c.quote, url=c.url, video_id=c.video_id, start=c.start, title=c.title)


def _first_use(text: str, n: int) -> int:
    at = text.find(f"[{n}]")
    return at if at >= 0 else len(text) + n


def _key(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


_STOP = frozenset("a an the to of and or your you how can for in on with do it is".split())


def _words(text: str) -> set[str]:
    words = re.findall(r"[a-z0-9']+", text.lower())
    return {w for w in words if w not in _STOP} or set(words)
