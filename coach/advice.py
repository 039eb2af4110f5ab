"""What the sources advise for this person: framework steps and single sentences, ranked on equal terms.

A step of a list of moves ("Ask your boss how you can help") and a sentence of a paragraph ("It's crucial to
explicitly share your goals…") compete for the lead by how well they fit the person's words; a list of causes
or opinions never leads, because nobody can act on "Choke point". Each point keeps the sentences that follow
it in the source, which are usually the source's own reason why the move works.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from coach.citations import Quote, quotes_of
from coach.frameworks import FrameworkView, SourcedFramework
from coach.guard import is_injection
from coach.phrasing import after_label, is_action, is_advice
from coach.sentence_vectors import Encoder
from coach.types import Passage
from ingest.frameworks import Step

# A point's fit loses this much per rank of the passage it sits in: the retriever (dense + keywords over the
# whole passage) knows more than one sentence's cosine. Chosen on the dev split of evals/datasets/coaching.jsonl.
PASSAGE_RANK_WEIGHT = 0.02
# What a move earns over a statement for the lead: someone who describes a problem wants something to do.
# Leads chosen on dev with bonuses 0, 0.1, 0.2 and 0.3: 0.31, 0.42, 0.46 and 0.54 of the situations right.
ACTION_BONUS = 0.3
# Sentences shorter than this are fragments ("Repeat:") rather than advice.
MIN_POINT_WORDS = 5


@dataclass(frozen=True)
class Point:
    """One piece of advice, ready to cite: a step of a list of moves, or one sentence of a passage with the
    sentences that follow it (by the same speaker), which are usually the source's reason why it works."""

    sentences: tuple[Quote, ...]  # the step's or sentence's own, then the ones that follow it
    best: int  # index of the sentence that fits the person best
    passage_id: str
    video_id: str
    title: str
    guest: str
    source: str
    heading: str
    cosine: float  # fit to the person's words: the best sentence's cosine
    score: float  # ranking score
    action: bool  # something a person can do
    rank: int = 0  # rank of the retrieved passage it sits in
    lift: float = 0.0  # what a near situation of the source's library added to its score (coach/situations.py)
    item: SourcedFramework | None = None
    step: Step | None = None

    @property
    def quote(self) -> Quote:
        return self.sentences[0]

    @property
    def best_quote(self) -> Quote:
        return self.sentences[self.best]

    @property
    def ref(self) -> tuple[str, str, str, str]:
        return (self.passage_id, self.video_id, self.title, self.guest)


def steps_of(view: FrameworkView, passages: list[Passage], vector: np.ndarray) -> list[Point]:
    """The moves of every list of moves from the sources the passages come from."""
    points: list[Point] = []
    for index, item in enumerate(view.items):
        if not item.actionable or not any(item.same_source(p) for p in passages):
            continue
        for step, rows in zip(item.framework.steps, view.sentence_vectors[index], strict=True):
            kept = [(x, row) for x, row in zip(step.sentence_list(), rows, strict=True) if not is_injection(x.text)]
            if not kept:
                continue  # retrieved text is data: a planted instruction is never advice
            said = tuple(Quote(x.text, x.start_s, x.start_s, approximate=not x.timed) for x, _ in kept)
            fits = np.stack([row for _, row in kept]) @ vector
            best = int(np.argmax(fits))
            rank = next((r for r, p in enumerate(passages) if item.same_source(p) and said[0].text[:40] in p.text),
                        len(passages))  # fmt: skip
            cosine = float(fits[best])
            points.append(
                Point(
                    sentences=said, best=best, passage_id=f"framework:{item.framework.name}",
                    video_id=item.video_id, title=item.title, guest=item.guest, source=item.source,
                    heading=" > ".join(item.framework.heading_path), cosine=cosine,
                    score=cosine + ACTION_BONUS - PASSAGE_RANK_WEIGHT * rank, action=True, rank=rank, item=item,
                    step=step,
                )
            )  # fmt: skip
    return points


def sentences_of(
    passages: list[Passage],
    vectors: Sequence[np.ndarray],
    embedder: Encoder,
    exclude: set[str],
    following: Mapping[str, list[Quote]] | None = None,
) -> list[list[Point]]:
    """Each usable sentence of the passages with the sentences that follow it, scored against each of `vectors`
    (one embedding batch whatever their number). `following` holds, per passage id, the sentences of the next
    chunk, so a speaker's turn is followed past the chunk's end."""
    pool: list[tuple[int, Passage, tuple[Quote, ...]]] = []
    for rank, p in enumerate(passages):
        quotes = quotes_of(p)
        extended = quotes + [q for q in (following or {}).get(p.id, []) if q.text not in {x.text for x in quotes}]
        for i in range(_heads(quotes, extended, p)):
            q = extended[i]
            if _usable(q, p) and norm(q.text) not in exclude and not reported(extended[i - 1].text if i else "", q.text):
                pool.append((rank, p, (q, *_reasons(extended, i))))
    if not pool:
        return [[] for _ in vectors]
    texts = list(dict.fromkeys(q.text for _, _, said in pool for q in said))
    matrix = embedder.encode(texts)
    rankings = []
    for vector in vectors:
        sims = dict(zip(texts, (matrix @ vector).tolist(), strict=True))
        points = []
        for rank, p, said in pool:
            fits = [sims[q.text] for q in said]
            best = int(np.argmax(fits))
            head = said[0]
            action = is_advice(head.text)
            nudge = spoken_nudge(head.text) if head.speaker else 0.0
            points.append(
                Point(
                    sentences=said, best=best, passage_id=p.id, video_id=p.video_id, title=p.title, guest=p.guest,
                    source=p.source, heading=p.heading, cosine=fits[best],
                    score=fits[best] + (ACTION_BONUS if action else 0.0) - PASSAGE_RANK_WEIGHT * rank + nudge,
                    action=action, rank=rank,
                )
            )  # fmt: skip
        rankings.append(points)
    return rankings


def rank_points(
    view: FrameworkView,
    passages: list[Passage],
    vectors: Sequence[np.ndarray],
    embedder: Encoder,
    following: Mapping[str, list[Quote]] | None = None,
) -> list[list[Point]]:
    """For each vector: steps and sentences together, best first; a step's own sentences are not offered again
    on their own. The sentences are embedded once for all vectors."""
    step_rankings = [steps_of(view, passages, v) for v in vectors]
    inside = {norm(q.text) for steps in step_rankings for p in steps for q in p.sentences}
    out = []
    ranked = sentences_of(passages, vectors, embedder, inside, following)
    for steps, sentences in zip(step_rankings, ranked, strict=True):
        points = sorted(steps + sentences, key=lambda p: -p.score)
        seen: set[str] = set()
        unique = []
        for p in points:  # overlapping chunks repeat sentences
            if norm(p.quote.text) not in seen:
                seen.add(norm(p.quote.text))
                unique.append(p)
        out.append(unique)
    return out


def choose_lead(points: list[Point], prefer_moves: bool = True) -> Point | None:
    """The advice to give first: the best-ranked point (moves rank first). A question about the sources rather
    than about the person ("What is the Magic Loop?") is answered by the sentence that fits it best."""
    if not prefer_moves:
        return max(points, key=lambda p: p.cosine - PASSAGE_RANK_WEIGHT * p.rank, default=None)
    return points[0] if points else None


def said_by_guest(quote: Quote, passage: Passage) -> bool:
    """A transcript sentence is advice from the episode's guest only when the guest said it: the host's
    questions and asides must not be quoted under the guest's name. Unlabelled text (notes) passes."""
    if not quote.speaker or not passage.guest:
        return True
    return bool(_name_words(quote.speaker) & _name_words(passage.guest))


def spoken_nudge(sentence: str) -> float:
    """A small ranking nudge for spoken sentences that read as advice on their own. Transcripts are full of
    fragments that mention the right words ("I need to read about it, and then be a manager"): short
    sentences and ones that lean on the previous sentence ("And…", "So…") rank a little lower, and
    instructions ("Ask your manager…", "you should…") a little higher. Written notes get no nudge: on the
    notes eval it only cost key points."""
    nudge = SHORT_SPOKEN_PENALTY if len(sentence.split()) < 9 else 0.0
    if _LEANS_BACK.match(sentence):
        nudge -= LEANS_BACK_PENALTY
    if is_advice(sentence):
        nudge += ADVICE_BONUS
    return nudge


SHORT_SPOKEN_PENALTY = -0.04  # under nine words, a spoken sentence is rarely advice on its own
LEANS_BACK_PENALTY = 0.03  # "And…", "So…": the point is in the sentence before
ADVICE_BONUS = 0.03  # an instruction or "you should…" is what a coach passes on
_LEANS_BACK = re.compile(
    r"^\W*(and|but|so|or|because|which|like|yeah|yes|okay|ok|well|um|uh|right|exactly|totally|that's|it's)\b",
    re.IGNORECASE,
)


def _heads(quotes: list[Quote], extended: list[Quote], p: Passage) -> int:
    """How many of `extended` may be points: the passage's own sentences, and when it ends on the host's
    question, the start of the guest's answer in the next chunk (the retriever matched the question; the advice
    is in the answer: "how can I build up a supply of stories?" found the host asking it, the guest's reply cut
    off by the chunk's end)."""
    n = len(quotes)
    if not quotes or not quotes[-1].speaker or said_by_guest(quotes[-1], p):
        return n
    answer = 0
    for q in extended[n : n + ANSWER_SENTENCES]:
        if not said_by_guest(q, p):
            break
        answer += 1
    return n + answer


ANSWER_SENTENCES = 4  # of the guest's answer past the chunk's end: its opening, where the advice usually is


def _usable(q: Quote, p: Passage) -> bool:
    return (
        len(q.text.split()) >= MIN_POINT_WORDS
        and not q.text.rstrip().endswith("?")
        and not is_injection(q.text)
        and said_by_guest(q, p)
    )


def _reasons(quotes: list[Quote], i: int) -> tuple[Quote, ...]:
    """The sentences after quotes[i] that carry its point on. In notes, up to two that explain rather than start
    a new move; in a transcript, the rest of the speaker's turn up to TURN_SENTENCES (the advice usually follows
    a lead-in: "I do think the first 90 days are different. … What you want to do is…")."""
    spoken = bool(quotes[i].speaker)
    out: list[Quote] = []
    for q in quotes[i + 1 : i + 1 + (TURN_SENTENCES if spoken else 2)]:
        if (
            q.speaker != quotes[i].speaker or q.text.rstrip().endswith("?") or is_injection(q.text)
            or (not spoken and is_action(after_label(q.text)))
        ):  # fmt: skip
            break
        out.append(q)
    return tuple(out)


TURN_SENTENCES = 3
_REPORTS = re.compile(
    r"\b(say|says|said|saying|goes|went|go like|was like|were like|is like|are like|asks?|asked|tells? me|told me|"
    r"thinking|thought)\s*[,:]?\s*[\"“]?$",
    re.IGNORECASE,
)
_REPORTED_OPENER = re.compile(
    r"^\W*(and\s+)?(they|he|she|people|someone|everyone|my (?:boss|manager|report))('ll| will| would| might)?\s+"
    r"(say|says|said|go|goes|went|tell you|told me|are like|is like|were like)\b",
    re.IGNORECASE,
)


def reported(previous: str, sentence: str) -> bool:
    """Words a speaker voices for someone else ("…and they say, 'I feel like my learning is stuck'"): not the
    speaker's own view, so never a point of advice."""
    return bool(_REPORTS.search(previous.strip())) or (bool(_REPORTED_OPENER.match(sentence)) and "?" not in sentence)


def _name_words(name: str) -> set[str]:
    return {w for w in re.findall(r"[a-z]+", name.lower()) if len(w) > 1}


def norm(text: str) -> str:
    """A sentence's words only, for comparing sentences however they were punctuated."""
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))
