"""A blocked plan item: what the item's own source says about the obstacle the person names.

The obstacle is the reply without the clauses that only say the person tried or restate the step ("I tried but",
"so I couldn't ask"). It is searched for, with the step for context, among the passages of the item's source
(the same episode: its notes or its transcript). Left out: every sentence of the steps of the item's framework
(the earlier ones are behind the person, the item is the one that is stuck, and the later ones build on it) and
any sentence that restates the item itself, so the step is never handed back as the answer to its own obstacle.

Only statements can answer: a question ("Shouldn't my manager be planning for me?"), a line of fewer than six
words, or a host's line where the source names its speakers is not advice. Each remaining sentence scores its
cosine to the obstacle, lifted a little when it sits under the framework's own top heading (the part of the source
about this method); one from elsewhere (another section, a transcript) must be close to the framework's steps to
count at all. The best one leads, followed by the next sentence of the source when that one continues it; each is
cited at its own second. When no sentence reaches the floor, the answer says plainly that the sources don't cover
that obstacle, and gives the next thing to try.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from coach.citations import CitationBook, Quote, quotes_of
from coach.textutil import inert, strip_end
from coach.types import Answer, Passage

if TYPE_CHECKING:
    from coach.frameworks import SourcedFramework
    from coach.profile_store import PlanItem
    from ingest.embedding import LocalEmbedder

Search = Callable[[str, int], list[Passage]]  # (query, k) -> passages, best first (Coach.retrieve)

SEARCH_K = 50  # passages read per search; only the item's source's are kept
SAME_PART_LIFT = 0.15  # a sentence under the framework's own top heading speaks about this method
# Elsewhere (another section, or a transcript, which has no headings) a sentence must be at least this close to one
# of the framework's step sentences to be about the method at all: "My dog's too heavy, thank you." is not.
ABOUT_METHOD = 0.5
MIN_WORDS = 6
# Floor of the lifted cosine for a sentence to count as the source's advice for an obstacle; set by reading the
# best sentence the bundled notes gave about 20 obstacles met on Magic Loop steps (tests/test_checkin_obstacles.py
# keeps some). Those that answer it scored 0.43-0.59 ("manager is too busy" 0.59 → "Most managers are not 'that
# good' at thinking about their employees' careers due to their own busy schedules…"; "changed in a reorg" 0.50 →
# "It's crucial to explicitly share your goals…"); the best for obstacles the notes do not address scored up to
# 0.42 ("my manager is remote" 0.42 and "the work isn't something I enjoy" 0.41, both → the "busy schedules"
# sentence; "Work Hard and Fast…" from the launch-failure story 0.37), 0.28-0.34 for "my dog got sick" or "my boss
# ignored my message". The margin is thin: a floor calibrated on a few cases, not on a labelled set. With the
# episode's transcript indexed too, 17 of those obstacles kept their leads or fallbacks, or got the guest's "And so
# you can be upset that your manager isn't perfect, but move on from that and take control of your own situation"
# (00:11:52; "refused", "cancels our 1:1s"); two got a loose lead ("my boss ignored my message" 0.44 → "Your boss
# can leave or be let go."; "my manager left the company" → "…a good job is in the eyes of your manager…").
COVERS = 0.42
FOLLOW_FLOOR = 0.15  # the next sentence continues the lead when it is at least this close to the obstacle and step
RESTATES_STEP = 0.7  # a sentence this close to the item's own step or quote says the step again …
RESTATES_ANY = 0.78  # … and this close to any step of its framework, that step ("go ask how you can help, do…")
_CLAUSES = re.compile(r"\s*(?:[,;:.!?—–]|\s-\s|\b(?:but|and|so|because|since|though|although|as)\b)\s*", re.I)
_TRYING = frozenset(
    """i i'm i've me my it this that to the a an do did didn't done try tried trying asked ask asking couldn't could
    can't cannot can not wasn't was wouldn't would have had got get going go went yet really just still
    well then also him her them they she he""".split()
)  # fmt: skip


@dataclass(frozen=True)
class Advice:
    """A sentence of the item's source and how closely it speaks to the obstacle."""

    passage: Passage
    quote: Quote
    score: float


def obstacle_of(reply: str, step: str) -> str:
    """The reply's words that name what got in the way: without clauses that only say they tried or restate the
    step. The whole reply when nothing else is left."""
    step_words = set(_words(step))
    kept = [c for c in _CLAUSES.split(reply) if c and set(_words(c)) - _TRYING - step_words]
    return " ".join(kept).strip() or reply.strip()


def find_advice(
    item: PlanItem, obstacle: str, search: Search, queries: LocalEmbedder, sources: LocalEmbedder,
    frameworks: Sequence[SourcedFramework],
) -> list[Advice]:  # fmt: skip
    """The sentences of the item's source that speak to the obstacle, best first: the lead and, when the next
    sentence of the source continues it, that one too. Empty when none reaches COVERS."""
    passages: dict[str, Passage] = {}
    for query in (f"{obstacle} {item.step}", obstacle):
        for p in search(query, SEARCH_K):
            if _same_source(item, p):
                passages.setdefault(p.id, p)
    method = _framework_sentences(item, frameworks)  # the steps, in the source's words
    own = [item.step, *([item.quote] if item.quote else [])]
    left_out = {_key(t) for t in (*method, *own)}
    candidates: list[tuple[Passage, Quote]] = []
    place: dict[tuple[str, int], int] = {}  # (passage id, sentence's place in it) -> candidate
    for p in passages.values():
        for i, q in enumerate(quotes_of(p)):
            if _speaks(p, q) and _key(q.text) not in left_out and _key(q.text) not in _key(item.quote):
                place[(p.id, i)] = len(candidates)
                candidates.append((p, q))
    if not candidates:
        return []
    said = sources.encode([q.text for _, q in candidates])
    near_method = (said @ sources.encode(method or own).T).max(axis=1)
    restates = np.maximum((said @ queries.encode(own).T).max(axis=1) >= RESTATES_STEP, near_method >= RESTATES_ANY)
    obstacle_v, both_v = queries.encode([obstacle, f"{obstacle} {item.step}"])
    root = item.framework.split(" > ")[0] if item.framework else ""
    part = np.array([bool(root) and p.heading.startswith(root) for p, _ in candidates])
    scores = said @ obstacle_v + np.where(part, SAME_PART_LIFT, 0.0)
    scores[~part & (near_method < ABOUT_METHOD)] = -1.0  # elsewhere in the source and about something else
    scores[restates] = -1.0
    best = int(np.argmax(scores))
    if scores[best] < COVERS:
        return []
    lead = Advice(*candidates[best], float(scores[best]))
    follow = _next_in_source(place, best)
    if follow is not None and float(said[follow] @ both_v) >= FOLLOW_FLOOR and scores[follow] > -1.0:
        return [lead, Advice(*candidates[follow], float(scores[follow]))]
    return [lead]


def obstacle_answer(item: PlanItem, said_back: str, advice: Sequence[Advice]) -> Answer:
    """The answer to a blocked item: the source's advice for the obstacle, cited, or the honest fallback."""
    opening = f"About your plan item {item.n}, “{inert(item.step)}”: {inert(said_back)}".rstrip()
    keep = f"Item {item.n} stays open in your plan. Tell me how it goes next time, or say “drop it” if it no longer fits."
    if not advice:
        where = f"“{inert(item.title)}”" if item.title else "its source"
        text = (
            f"{opening}\n\nThe sources don't cover that obstacle: nothing in {where} speaks to it, and I won't "
            "make advice up.\n\n**The next thing to try:** give the item a date (a reminder in your plan) so it "
            "comes back to you, or tell me more about what got in the way and I'll look again.\n\n"
            f"{keep}"
        )
        return Answer(text=text)
    book = CitationBook()
    cited = [f"{strip_end(_unquoted(a.quote.text))} [{book.cite_passage(a.passage, a.quote)}]." for a in advice]
    text = f"{opening}\n\n**What the source says about that:** {' '.join(cited)}\n\n{keep}"
    return Answer(text=text, citations=book.citations, lead=tuple(c.n for c in book.citations))


def _same_source(item: PlanItem, p: Passage) -> bool:
    return p.video_id == item.video_id if item.video_id else bool(item.source) and p.source == item.source


def _framework_sentences(item: PlanItem, frameworks: Sequence[SourcedFramework]) -> list[str]:
    """Every sentence of every step of the item's framework (none for a lone sentence)."""
    if not item.framework:
        return []
    return [
        s.text for fw in frameworks
        if " > ".join(fw.framework.heading_path) == item.framework and fw.video_id == item.video_id
        for step in fw.framework.steps for s in step.sentence_list()
    ]  # fmt: skip


def _speaks(p: Passage, q: Quote) -> bool:
    """A sentence that can carry advice: a statement of at least MIN_WORDS words, said by the source's guest where
    the source names its speakers (a host's question or a rhetorical "Shouldn't my manager…?" is not an answer)."""
    if q.text.rstrip('"”’ ').endswith("?") or len(q.text.split()) < MIN_WORDS:
        return False
    return not (q.speaker and p.guest) or q.speaker.split()[-1].lower() in p.guest.lower()


def _next_in_source(place: dict[tuple[str, int], int], at: int) -> int | None:
    """The candidate that is the very next sentence of the same passage after candidate `at` (None when that
    sentence was left out, or the passage ends)."""
    where = next(key for key, i in place.items() if i == at)
    return place.get((where[0], where[1] + 1))


def _unquoted(sentence: str) -> str:
    """A sentence of a quotation the source splits over sentences ('"What your manager should do…' and '…in your
    control."') without its one unmatched quotation mark, which would read as a stray in the answer."""
    text = sentence.strip()
    if (text.count('"') + text.count("“") + text.count("”")) % 2:
        text = text[1:] if text[:1] in '"“' else text[:-1] if text[-1:] in '"”' else text
    return text.strip()


def _key(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9']+", text.lower()))


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z']+", text.lower().replace("’", "'"))
