"""Pick the framework that fits a situation, from the frameworks ingestion found in each source.

A framework fits when the passages retrieved for the question sit under its
heading, or when the question reads like the framework itself (cosine to its
name, intro and step labels). Nothing here knows any particular framework.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

import numpy as np

from coach.phrasing import after_label, is_action
from coach.types import Passage
from ingest.embedding import LocalEmbedder
from ingest.frameworks import Framework, Step
from ingest.store import ChunkStore

# Calibrated on the dev split of evals/datasets/notes.jsonl (evals/calibrate.py prints the sweep).
FIT_THRESHOLD = 0.625
_HOW_TO = re.compile(
    r"\b(steps?|strateg(y|ies)|how to|ways?|tips|takeaways|lessons|factors|practices|playbook|framework|guide|habits|"
    r"principles|rules|checklist|loop|method)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class SourcedFramework:
    framework: Framework
    video_id: str
    title: str
    guest: str
    source: str

    def same_source(self, passage: Passage) -> bool:
        """The passage comes from this framework's source (or another source of the same episode)."""
        return self.same_source_id(passage.source, passage.video_id)

    def same_source_id(self, source: str, video_id: str) -> bool:
        """Like same_source, for a point that knows only its source name and video id."""
        return bool(video_id and video_id == self.video_id) or source == self.source

    def list_fit(self, passage: Passage) -> float:
        """1.0 for a passage under this framework's own heading, 0.6 under one of its sub-headings (it counts
        for the parent less than for the sub-heading's own list), else 0. Heading only: pair with same_source."""
        prefix = " > ".join(self.framework.heading_path)
        return 1.0 if passage.heading == prefix else 0.6 if passage.heading.startswith(prefix + " > ") else 0.0

    @property
    def display_name(self) -> str:
        """"Steps of the Magic Loop" says more with its parent: "The Magic Loop … — Steps of …"."""
        path = self.framework.heading_path
        return " — ".join(path[-2:]) if len(path) > 1 else path[-1]


    @property
    def ordered(self) -> bool:
        """A sequence to follow in order ("Steps of the Magic Loop", "How to Be Systematically Inventive"), not a
        set of options ("Strategies for Breaking Out", "Key Takeaways…"): only then is an item "step 3", and
        only then is there a step before it to ask about. Read from the heading, which names what the list is."""
        return bool(_SEQUENCE.search(" ".join(self.framework.heading_path[-1:] or (self.framework.name,))))

    @property
    def actionable(self) -> bool:
        """Most step labels read as moves ("Ask your boss…", "Practice…"), not causes or opinions ("Choke
        point", "Return-to-Office Movement"): only such a list can be walked as steps or lead an answer."""
        steps = self.framework.steps
        return sum(is_move(s) for s in steps) * 2 > len(steps)


_SEQUENCE = re.compile(r"\b(steps?|how to|process|stages?|phases?|loop|sequence|playbook|checklist)\b", re.IGNORECASE)


def is_move(step: Step) -> bool:
    """A step a person can take: its label or the sentence that opens its body reads as an instruction
    ("Appearance and Enthusiasm: Show up interested…" is one; "Choke point: Fewer director positions…" is not)."""
    said = step.sentence_list()
    body = [after_label(s.text) for s in said]
    return is_action(step.label.strip('"“”')) or any(is_action(b) for b in body[:2])


@dataclass(frozen=True)
class FrameworkMatch:
    item: SourcedFramework
    score: float


@dataclass(frozen=True)
class FrameworkView:
    """The frameworks of one index version, with a vector per framework and per step sentence (computed at refresh)."""

    version: tuple[str, int, int]
    items: tuple[SourcedFramework, ...]
    vectors: np.ndarray  # one row per item: name, intro and step labels
    sentence_vectors: tuple[tuple[np.ndarray, ...], ...]  # per item, per step, one row per sentence


class FrameworkIndex:
    """Frameworks of all committed sources, with one vector each; rebuilt when the manifest changes."""

    def __init__(self, store: ChunkStore, embedder: LocalEmbedder) -> None:
        self.store = store
        self.embedder = embedder
        self._view = FrameworkView(("", -1, -1), (), np.zeros((0, 1), dtype=np.float32), ())
        self._lock = threading.Lock()

    def items(self) -> list[SourcedFramework]:
        return list(self.view().items)

    def view(self, version: tuple[str, int, int] | None = None) -> FrameworkView:
        """The frameworks at `version` (read from the store when not given), embedded once per version."""
        version = version if version is not None else self.store.version()
        with self._lock:
            if version != self._view.version:
                self._view = self._build(version)
            return self._view

    def _build(self, version: tuple[str, int, int]) -> FrameworkView:
        items = tuple(
            SourcedFramework(Framework.from_dict(f), r.video_id, r.title, r.guest, r.name)
            for r in self.store.records().values()
            if not r.duplicate_of
            for f in r.frameworks
        )
        if not items:
            return FrameworkView(version, (), np.zeros((0, 1), dtype=np.float32), ())
        said = [x.text for i in items for s in i.framework.steps for x in s.sentence_list()]
        encoded = self.embedder.encode([_describe(i.framework) for i in items] + said)
        vectors, sentence_rows = encoded[: len(items)], encoded[len(items) :]
        per_sentence: list[tuple[np.ndarray, ...]] = []
        for item in items:
            rows = []
            for step in item.framework.steps:
                n = len(step.sentence_list())
                rows.append(sentence_rows[:n])
                sentence_rows = sentence_rows[n:]
            per_sentence.append(tuple(rows))
        return FrameworkView(version, items, vectors, tuple(per_sentence))

    def match(
        self, query_vector: np.ndarray, passages: list[Passage], view: FrameworkView | None = None
    ) -> FrameworkMatch | None:
        """Best-fitting framework for a question, or None when none fits well enough."""
        best = self.best(query_vector, passages, view)
        return best if best and best.score >= FIT_THRESHOLD else None

    @staticmethod
    def moves_beside(match: FrameworkMatch, view: FrameworkView) -> FrameworkMatch | None:
        """For a list of causes, the list of moves in the same section of the same source ("Breaking Through the
        Senior Manager Plateau": its causes, and under it "Strategies for Breaking Out"); None when there is none."""
        top = match.item.framework.heading_path[:1]
        for item in view.items:
            if item.actionable and item.source == match.item.source and item.framework.heading_path[:1] == top:
                return FrameworkMatch(item, match.score)
        return None

    def best(
        self, query_vector: np.ndarray, passages: list[Passage], view: FrameworkView | None = None
    ) -> FrameworkMatch | None:
        """Like `match` but without the threshold (for calibration)."""
        view = view or self.view()
        if not view.items:
            return None
        scored = [
            FrameworkMatch(item, round(_fit(float(c), item, passages), 4))
            for item, c in zip(view.items, view.vectors @ query_vector, strict=True)
        ]
        return max(scored, key=lambda m: m.score, default=None)


def _fit(cosine: float, item: SourcedFramework, passages: list[Passage]) -> float:
    # A coach walks people through moves: a list headed "Strategies…" or "How to…" beats a list of causes.
    how_to = 0.15 if _HOW_TO.search(item.framework.name) else 0.0
    return 0.5 * cosine + 0.5 * _placement(item, passages) + how_to


def _describe(f: Framework) -> str:
    steps = "; ".join(s.label for s in f.steps)
    return f"{' > '.join(f.heading_path)}. {f.intro} Steps: {steps}"


def _placement(item: SourcedFramework, passages: list[Passage]) -> float:
    """How strongly the top passages sit under this framework's heading, rank-weighted (1.0 = top hit).

    Rank counts among this source's own passages, with a milder discount for other sources' passages ahead:
    over many episodes retrieval spreads its top ranks over sources, so the notes' best passage can sit
    fourth behind three transcripts and still be the notes' best. With one source nothing changes."""
    score = 0.0
    own = 0
    for rank, p in enumerate(passages[:8]):
        if not item.same_source(p):
            continue
        # (Crediting the section intro above a list too put cards on plain fact questions: notes eval.)
        score = max(score, item.list_fit(p) / (1 + 0.5 * own) / (1 + 0.1 * (rank - own)))
        own += 1
    return score
