"""Named frameworks recognised from structure: a heading followed by a numbered or bulleted list.

Nothing here knows any particular framework. A run of list items under one
heading becomes a framework named by that heading, each item a step with the
time of its own first sentence. Steps are kept in source order.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from itertools import groupby
from typing import Any

from ingest.chunking import sentences
from ingest.segments import ParsedSource, Segment

MIN_STEPS = 2


@dataclass(frozen=True)
class StepSentence:
    """One sentence of a step, at the second the source gives it (`timed` False: inferred from its span)."""

    text: str
    start_s: int
    timed: bool = True


@dataclass(frozen=True)
class Step:
    n: int
    label: str
    text: str
    start_s: int
    # The step's sentences as chunking splits them, the label first when it stands alone: each is cited
    # at its own second rather than all at the label's.
    sentences: tuple[StepSentence, ...] = ()

    def sentence_list(self) -> tuple[StepSentence, ...]:
        """The sentences, or for a step stored before they were recorded, the whole text at the label's second."""
        return self.sentences or (StepSentence(self.text, self.start_s),)


@dataclass(frozen=True)
class Framework:
    name: str
    heading_path: tuple[str, ...]
    steps: tuple[Step, ...]
    intro: str = ""
    intro_start_s: int | None = None
    intro_end_s: int | None = None  # end of the intro's first paragraph

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Framework:
        steps = tuple(
            Step(**{**s, "sentences": tuple(StepSentence(**x) for x in s.get("sentences", ()))})
            for s in data.get("steps", [])
        )
        return cls(
            name=data["name"],
            heading_path=tuple(data.get("heading_path", ())),
            steps=steps,
            intro=data.get("intro", ""),
            intro_start_s=data.get("intro_start_s"),
            intro_end_s=data.get("intro_end_s"),
        )


def _step(n: int, segments: list[Segment]) -> Step:
    first = segments[0]
    text = " ".join(s.text for s in segments)
    label = first.label or first.text.rstrip(":.")
    if len(label.split()) > 14:  # no bold lead: name the step by its opening words
        label = " ".join(label.split()[:10]) + "…"
    said = tuple(StepSentence(u.text, u.start_s, u.timed) for u in sentences(segments, counter=len))
    return Step(n=n, label=label, text=text, start_s=first.start_s, sentences=said)


def extract_frameworks(source: ParsedSource) -> list[Framework]:
    frameworks: list[Framework] = []
    segments = source.segments
    for heading_path, run in groupby(enumerate(segments), key=lambda p: p[1].heading_path):
        items = list(run)
        list_segments = [s for _, s in items if s.kind == "list_item"]
        if not heading_path or not list_segments:
            continue
        blocks = [list(g) for _, g in groupby(list_segments, key=lambda s: s.block)]
        if len(blocks) < MIN_STEPS:
            continue
        intro_segments = [s for _, s in items if s.kind == "paragraph" and s.block < blocks[0][0].block]
        if not intro_segments:  # "### Steps of X" is usually introduced under its parent heading "## X"
            intro_segments = [s for s in segments if s.heading_path == heading_path[:-1] and s.kind == "paragraph"]
        intro = " ".join(s.text for s in intro_segments)
        intro_start = intro_segments[0].start_s if intro_segments else None
        first_paragraph = [s for s in intro_segments if s.block == intro_segments[0].block]
        intro_end = max(s.end_s for s in first_paragraph) if first_paragraph else None
        steps = tuple(_step(i, block) for i, block in enumerate(blocks, start=1))
        frameworks.append(
            Framework(heading_path[-1], heading_path, steps, intro, intro_start, intro_end)
        )
    return frameworks
