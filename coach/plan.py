"""The plan of an answer: what to say back, what to correct, what to do first and why, what else, what to ask.

One plan per question, from one ranking of the sources' advice. The offline composer writes it out; the LLM
path gives the model the same passages and shape, and falls back to writing out this same plan.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from coach.advice import PASSAGE_RANK_WEIGHT, Point, choose_lead, norm
from coach.citations import quotes_of
from coach.frameworks import FrameworkMatch, SourcedFramework, is_move
from coach.phrasing import FIRST_PERSON, asks_how, says_something
from coach.premises import Correction, SourceSentence, find_correction
from coach.query import Query
from coach.reflection import question_back, reflect
from coach.sentence_vectors import Encoder
from coach.textutil import strip_end
from coach.types import Passage
from ingest.chunking import split_sentences

MORE_MOVES = 2  # further moves after the lead: "the rest briefly"
FOLLOW_UP_MORE = 3  # a follow-up's answer adds what fits the point asked and what fits the conversation, in turn
# Over many sources, a source the retriever ranked speaks when its best sentence fits at least this well: spoken
# sentences fit a question less than written ones, and the refusal floor (0.309) judges the whole answer. Corpus
# suite, answers citing a gold episode, dev: 0.571 at the refusal floor, 0.643 at 0.28 or 0.25 (the higher kept).
SOURCE_FLOOR = 0.28
RELATIVE_FIT = 0.8  # a further move must fit the person at least this share as well as the lead does
# A question walks a whole list when it asks for one ("what are the steps…", "walk me through…") or names it.
_WALK = re.compile(
    r"\b(steps|stages|framework|process|walk me through|walk through|each step|every step|step by step|checklist|"
    r"playbook|list of|what are the)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class AdvicePlan:
    reflection: str
    correction: Correction | None
    lead: Point | None
    why: tuple[Point, ...]  # a statement that explains the lead, when the lead brings no reason of its own
    more: tuple[Point, ...]
    walk: SourcedFramework | None  # walk all its steps (asked for)
    context: SourcedFramework | None  # the lead is one of its steps: name the whole in one line
    framework: FrameworkMatch | None  # the card
    question: str
    several_guests: bool
    personal: bool = True  # about the person's situation (coach them), not a question about the sources


def make_plan(
    query: Query,
    points: list[Point],
    passages: list[Passage],
    framework: FrameworkMatch | None,
    embedder: Encoder,
    floor: float,
    search: Callable[[str], list[Passage]] | None = None,
    context_points: list[Point] | None = None,
) -> AdvicePlan:
    """`points` ranked by the message, `context_points` by the whole conversation (follow-ups); `search` finds
    passages for a claim the question makes, to check it against."""
    walk = _walked(query, framework)
    points = _without_excluded(points, query.text)
    context_points = _without_excluded(context_points, query.text) if context_points else context_points
    sources = list(dict.fromkeys(p.source for p in passages))
    if len(sources) > 1:
        return _across_sources(query, points, sources, framework, floor)
    personal = _personal(query)
    if query.follow_up and context_points:
        # A follow-up asks about one point of the conversation: a point leads by how well it fits both.
        points = _by_both(points, context_points)

    def sentences_for(claim: str) -> list[SourceSentence]:
        found = search(claim) if search else []
        return [SourceSentence(q, (p.id, p.video_id, p.title, p.guest)) for p in found for q in quotes_of(p)]

    correction = find_correction(query.text, _sentences(points), _names(points, passages), embedder, sentences_for)
    lead = _choose_lead(query, points, walk or _method_asked(query, framework), correction, personal)
    lead = _walk_entry(walk, points) or lead
    used = {norm(q.text) for q in lead.sentences} if lead else set()
    why = _choose_why(points, lead, floor, used)
    used |= {norm(q.text) for p in why for q in p.sentences[:1]}
    more = _choose_more(query, points, context_points, lead, walk, personal, floor, used)
    context = lead.item if lead is not None and lead.item is not None and walk is None else None
    framework = _card(framework, lead)
    advice = " ".join(q.text for q in lead.sentences) if lead else ""
    guests = {p.guest.strip() for p in ([lead] if lead else []) + more if p.guest.strip()}
    return AdvicePlan(
        reflection=reflect(query.text, query.situation) if not correction else "",
        correction=correction,
        lead=lead,
        why=why,
        more=tuple(more),
        walk=walk,
        context=context,
        framework=framework,
        question=question_back(query.text, query.situation, advice, _step_before(lead, walk)) if personal else "",
        several_guests=len(guests) > 1,
        personal=personal,
    )


def _step_before(lead: Point | None, walk: SourcedFramework | None) -> str:
    """The label of the step before the lead in a sequence ("Ask your boss how you can help" before "Do whatever
    they ask"), which the person may not have taken yet; '' for a first step, an option or a walk."""
    if lead is None or lead.step is None or lead.item is None or walk is not None or not lead.item.ordered:
        return ""
    before = [s for s in lead.item.framework.steps if s.n == lead.step.n - 1]
    return strip_end(before[0].label).strip('"“”') if before else ""


def _card(framework: FrameworkMatch | None, lead: Point | None) -> FrameworkMatch | None:
    """The card beside the answer shows the list the answer draws on: the lead's own list when the lead is a
    step, else the fitting list only when the lead comes from its part of the source (a card that contradicts
    the text confused the blind readers)."""
    beside = (
        framework is not None and lead is not None and lead.item is not None and not framework.item.actionable
        and framework.item.framework.heading_path[:1] == lead.item.framework.heading_path[:1]
    )  # fmt: skip
    if beside:
        return framework  # "why do people plateau?": the causes listed beside the strategy that leads
    if lead is not None and lead.item is not None:
        return FrameworkMatch(lead.item, framework.score if framework else round(lead.cosine, 4))
    if framework is not None and lead is not None:
        same_part = framework.item.framework.heading_path[:1] == tuple(lead.heading.split(" > ")[:1])
        return framework if same_part and framework.item.same_source_id(lead.source, lead.video_id) else None
    return framework


def _choose_lead(
    query: Query, points: list[Point], method: SourcedFramework | None, correction: Correction | None, personal: bool
) -> Point | None:
    """A move that corrects the person's premise leads ("go quiet" → "Provide frequent updates…"); the lead of a
    walk, or of "how do I…", is the step of that list that fits best; otherwise the best-ranked point."""
    if correction is not None:
        fixing = next((p for p in points if p.action and correction.quote.text in {q.text for q in p.sentences}), None)
        if fixing is not None:
            return fixing
    lead = choose_lead(points, prefer_moves=personal and not query.follow_up)
    if method is not None:
        lead = next((p for p in points if p.item is method), lead)
    return lead


def _walk_entry(walk: SourcedFramework | None, points: list[Point]) -> Point | None:
    """A sequence walked whole starts where the source starts it: step 1 ("do your current job well" before any
    ask), not the step whose words fit the message best. A set of options has no first move: None."""
    if walk is None or not walk.ordered:
        return None
    steps = [p for p in points if p.item is walk and p.step is not None]
    return min(steps, key=lambda p: p.step.n if p.step else 0, default=None)


def _choose_why(points: list[Point], lead: Point | None, floor: float, used: set[str]) -> tuple[Point, ...]:
    """When the lead brings no reason of its own: the best statement (not a move, not an example) from the lead's
    own part of the source."""
    if lead is None or len(lead.sentences) > 1:
        return ()
    section = lead.heading.split(" > ")[0]
    return tuple(
        p for p in points
        if not p.action and p.cosine >= floor and norm(p.quote.text) not in used
        and p.heading.split(" > ")[0] == section and not _EXAMPLE.search(p.quote.text) and says_something(p.quote.text)
    )[:1]  # fmt: skip


_EXAMPLE = re.compile(r"\b(for example|for instance|e\.g\.|such as)\b", re.IGNORECASE)


def _choose_more(
    query: Query,
    points: list[Point],
    context_points: list[Point] | None,
    lead: Point | None,
    walk: SourcedFramework | None,
    personal: bool,
    floor: float,
    used: set[str],
) -> list[Point]:
    """The rest, briefly. After a step, the steps that follow it, in order; after a single sentence, the next
    best moves that fit nearly as well; a question about the sources gets the next most relevant sentences; a
    follow-up, what fits the point asked and what fits the conversation, in turn."""
    if walk is not None or lead is None:
        return []
    if query.follow_up and context_points:
        by_context = sorted(context_points, key=lambda p: -p.cosine)
        pool, limit = [p for p in _alternate(points, by_context) if p.cosine >= floor], FOLLOW_UP_MORE
    else:
        following = sorted(
            (p for p in points if lead.step and p.item is lead.item and p.step and p.step.n > lead.step.n),
            key=lambda p: p.step.n if p.step else 0,
        )
        pool = [p for p in points if (p.action or not personal) and p.cosine >= max(floor, RELATIVE_FIT * lead.cosine)]
        if not personal:
            pool.sort(key=lambda p: -p.cosine)
        pool, limit = following or pool, MORE_MOVES
    more: list[Point] = []
    for p in pool:
        if len(more) == limit:
            break
        if p is not lead and norm(p.quote.text) not in used:
            more.append(p)
            used |= {norm(q.text) for q in p.sentences}
    return more


def _across_sources(
    query: Query, points: list[Point], sources: list[str], framework: FrameworkMatch | None, floor: float
) -> AdvicePlan:
    """Over many episodes the retriever (dense + keywords over whole passages, spread over sources) knows better
    than one sentence's cosine which episode answers: each source's best point, in the retriever's order of
    sources, one per guest ("who says what"); a source whose best point is below the evidence floor does not
    lead. Corpus suite, answers citing a gold episode: top source first then by sentence score 12 of 28, one
    per source in retrieval order with the floor 15 (docs/measurements.md)."""
    best: dict[str, Point] = {}
    for p in points:
        best.setdefault(p.source, p)
    # a source whose own library knows this situation speaks first (the library's judgement counts as fit); the
    # retriever's order ranks the rest
    floor = min(floor, SOURCE_FLOOR)
    order = sorted((best[s] for s in sources if s in best and best[s].cosine + best[s].lift >= floor),
                   key=lambda p: -p.lift)  # fmt: skip
    lead = order[0] if order else (points[0] if points else None)
    method = _method_asked(query, framework)
    if method is not None:  # "how do I…?" with a list of moves that fits it: its best step leads
        lead = next((p for p in points if p.item is method), lead)
        order = [lead, *(p for p in order if p.source != lead.source)] if lead else order
    # (Keeping only guests whose point fits nearly as well as the lead's read cleaner but cost key terms on the
    # dev split, 0.286 -> 0.214, with no more gold episodes cited: not kept.)
    more = tuple(p for p in order[1 : 1 + MORE_MOVES + 1] if p is not lead)
    guests = {p.guest.strip() for p in ([lead] if lead else []) + list(more) if p.guest.strip()}
    advice = " ".join(q.text for q in lead.sentences) if lead else ""
    return AdvicePlan(
        reflection=reflect(query.text, query.situation),
        correction=None,
        lead=lead,
        why=(),
        more=more,
        walk=None,
        context=None,
        framework=framework,
        question=question_back(query.text, query.situation, advice),
        several_guests=len(guests) > 1,
    )


def _personal(query: Query) -> bool:
    """The person speaks of themselves (or filled in the intake) and asks what to do, not why something is so."""
    asked = split_sentences(query.text)[-1] if query.text else ""
    return (bool(query.situation) or bool(FIRST_PERSON.search(query.text))) and not _WHY.match(asked)


_WHY = re.compile(r"^\W*(why|how come)\b", re.IGNORECASE)


_BESIDES = re.compile(r"\b(?:besides|other than|apart from|except(?: for)?)\s+([^.?!,;]+)\?", re.IGNORECASE)


def _without_excluded(points: list[Point], text: str) -> list[Point]:
    """ "What should I stress besides enthusiasm?" asks for everything but the enthusiasm advice: points that
    speak of what the person set aside are left out (an embedding reads "besides enthusiasm" as "enthusiasm")."""
    asked = " ".join(x for x in split_sentences(text) if x.rstrip().endswith("?"))  # only what a question sets aside
    words = {w[:6] for m in _BESIDES.finditer(asked) for w in re.findall(r"[a-z]{4,}", m.group(1).lower())}
    if not words:
        return points

    def mentions(p: Point) -> bool:
        return bool(words & {w[:6] for q in p.sentences for w in re.findall(r"[a-z]{4,}", q.text.lower())})

    return [p for p in points if not mentions(p)] or points


def _by_both(points: list[Point], context_points: list[Point]) -> list[Point]:
    """The follow-up's points, best first by their mean cosine to the follow-up and to the whole conversation
    (conversations suite, answers led by a gold second: the follow-up alone 4 of 10, the conversation 4, both 5)."""
    context = {norm(p.quote.text): p.cosine for p in context_points}
    both = [replace(p, cosine=(p.cosine + context.get(norm(p.quote.text), p.cosine)) / 2) for p in points]
    return sorted(both, key=lambda p: -(p.cosine - PASSAGE_RANK_WEIGHT * p.rank))


def _alternate(first: list[Point], second: list[Point]) -> list[Point]:
    """A follow-up's points and the conversation's, taken in turn: the point asked about, then what the whole
    conversation is about (conversations suite: cited gold with history 0.9 this way, 0.6 with the follow-up's
    ranking alone)."""
    merged: dict[str, Point] = {}
    for pair in zip(first, second, strict=False):
        for p in pair:
            merged.setdefault(norm(p.quote.text), p)
    for p in first + second:
        merged.setdefault(norm(p.quote.text), p)
    return list(merged.values())


def _walked(query: Query, framework: FrameworkMatch | None) -> SourcedFramework | None:
    if framework is None or not framework.item.actionable or query.follow_up:
        return None
    item = framework.item
    names = {w.lower() for w in re.findall(r"[A-Za-z]{4,}", item.framework.name)} - {"steps", "step", "from", "with"}
    named = any(w in query.text.lower() for w in names) and len(names) > 0
    asked = bool(_WALK.search(query.text))
    return item if asked and (named or sum(is_move(s) for s in item.framework.steps) >= 3) else None


def _method_asked(query: Query, framework: FrameworkMatch | None) -> SourcedFramework | None:
    """A one-line "how do I…?" asks for a method: the list of moves that fits the question as a whole (the
    calibrated framework fit) holds the answer. A described situation is matched sentence by sentence instead."""
    if framework is None or not framework.item.actionable or query.follow_up:
        return None
    one_question = len(split_sentences(query.text)) == 1 and query.text.rstrip().endswith("?")
    return framework.item if one_question and asks_how(query.text) else None


def _sentences(points: list[Point]) -> list[SourceSentence]:
    return [SourceSentence(q, p.ref) for p in points for q in p.sentences]


def _names(points: list[Point], passages: list[Passage]) -> list[str]:
    """What the sources name: guests, titles, headings and capitalised terms of the retrieved text."""
    names = {p.guest for p in passages} | {p.heading for p in passages} | {p.title for p in passages}
    for p in points:
        # mid-sentence capitals only: "Managers rarely…" names nothing, "…from Jeff Bezos…" does
        names |= set(re.findall(r"(?<=[a-z,] )[A-Z][a-z]+(?:\s+[A-Z][a-z]+)*", " ".join(q.text for q in p.sentences)))
    return [n for n in names if n]
