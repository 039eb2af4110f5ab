"""Situation libraries at answer time: when a person's message is near a situation a reader of the source wrote
down, the sentence that reader would lead with is the lead (ingest/situations.py says where libraries come from).

The library only re-ranks the source's own sentences, each still cited at its own second; a source without a
library, or a message near none of its situations, is answered exactly as before.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from coach.advice import Point
from coach.types import Passage
from ingest.embedding import LocalEmbedder
from ingest.store import ChunkStore

# A library situation counts as the person's when its cosine to the message is at least NEAR, and then lifts its
# lead sentence by LIFT × that cosine (its alternatives by half as much). Both chosen on the dev split of
# evals/datasets/coaching.jsonl (`python -m evals.library`); the library itself was written without seeing it.
NEAR = 0.45
LIFT = 0.5
ALSO_SHARE = 0.5
MAX_NEAR = 3  # the few nearest situations vote; more only adds noise from loosely similar ones


@dataclass(frozen=True)
class Situation:
    text: str
    lead: int
    also: tuple[int, ...]
    video_id: str
    source: str


@dataclass(frozen=True)
class Near:
    situation: Situation
    cosine: float


@dataclass(frozen=True)
class LibraryView:
    version: tuple[str, int, int]
    situations: tuple[Situation, ...]
    vectors: np.ndarray


class SituationLibrary:
    """The situations of every committed source, embedded once per index version."""

    def __init__(self, store: ChunkStore, embedder: LocalEmbedder) -> None:
        self.store = store
        self.embedder = embedder
        self._view = LibraryView(("", -1, -1), (), np.zeros((0, 1), dtype=np.float32))
        self._lock = threading.Lock()

    def view(self, version: tuple[str, int, int]) -> LibraryView:
        with self._lock:
            if version != self._view.version:
                self._view = self._build(version)
            return self._view

    def _build(self, version: tuple[str, int, int]) -> LibraryView:
        rows = tuple(
            Situation(s["situation"], int(s["lead"]), tuple(s.get("also", ())), r.video_id, r.name)
            for r in self.store.records().values()
            if not r.duplicate_of
            for s in r.situations
        )
        if not rows:
            return LibraryView(version, (), np.zeros((0, 1), dtype=np.float32))
        return LibraryView(version, rows, self.embedder.encode([s.text for s in rows]))

    def near(self, view: LibraryView, vector: np.ndarray, passages: Sequence[Passage]) -> list[Near]:
        """The situations of the passages' sources nearest the message, at least NEAR, best first."""
        if not view.situations:
            return []
        videos = {p.video_id for p in passages if p.video_id}
        sources = {p.source for p in passages}
        cosines = view.vectors @ vector
        order = np.argsort(-cosines)
        out: list[Near] = []
        for i in order:
            s = view.situations[int(i)]
            if float(cosines[i]) < NEAR or len(out) == MAX_NEAR:
                break
            if (s.video_id and s.video_id in videos) or s.source in sources:
                out.append(Near(s, float(cosines[i])))
        return out


def lifted(points: list[Point], near: Sequence[Near]) -> list[Point]:
    """`points` re-ranked: a point holding near situations' leads (or alternatives) gains their votes, each
    LIFT × share × cosine, summed, and shows the most-voted sentence as the one that fits; the rest keep their
    scores. Summed, two near situations that agree outvote one nearer that does not (dev 0.692 -> 0.731)."""
    if not near:
        return points
    out = []
    for p in points:
        votes = np.zeros(len(p.sentences))
        for n in (n for n in near if _same_source(p, n.situation)):
            for i, q in enumerate(p.sentences):
                share = 1.0 if q.start == n.situation.lead else ALSO_SHARE if q.start in n.situation.also else 0.0
                votes[i] += LIFT * share * n.cosine
        at = int(np.argmax(votes))
        gain = float(votes[at])
        out.append(replace(p, score=p.score + gain, best=at, lift=gain) if gain else p)
    return sorted(out, key=lambda p: -p.score)


def holding(near: Sequence[Near], passages: Sequence[Passage], stored: Sequence[Passage]) -> list[Passage]:
    """Stored passages holding a near situation's lead that retrieval did not bring (the lead is a sentence the
    message's words miss, which is why the library exists), nearest situation first. Their retrieval score is
    0: they come after the retrieved passages."""
    from coach.citations import quotes_of

    def holds(p: Passage, s: Situation) -> bool:
        return _same_source_passage(p, s) and any(q.start == s.lead for q in quotes_of(p))

    extra: list[Passage] = []
    for s in dict.fromkeys(n.situation for n in near):
        if any(holds(p, s) for p in [*passages, *extra]):
            continue
        found = next((p for p in stored if holds(p, s)), None)
        if found is not None:
            extra.append(replace(found, score=0.0))
    return extra


def _same_source_passage(p: Passage, s: Situation) -> bool:
    return bool(s.video_id and s.video_id == p.video_id) or s.source == p.source


def _same_source(p: Point, s: Situation) -> bool:
    return bool(s.video_id and s.video_id == p.video_id) or s.source == p.source
