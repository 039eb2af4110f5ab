"""The offline composer: writes an AdvicePlan out as coaching, every sentence from the sources and cited.

It never invents a claim: each advice sentence is a source sentence (quoted verbatim in its citation) cited at
its own second. Around them stand only the person's own words said back, a few words of structure ("Start
here", "Why it works") and one question for the person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from coach.advice import Point
from coach.citations import CitationBook, Quote
from coach.frameworks import FrameworkMatch, SourcedFramework
from coach.phrasing import is_advice, says_something
from coach.plan import AdvicePlan
from coach.premises import Correction
from coach.textutil import first_sentences, strip_end
from coach.types import Answer, FrameworkCard, StepCard, youtube_url


@dataclass
class _Writer:
    book: CitationBook

    def number(self, ref: tuple[str, str, str, str], quote: Quote) -> int:
        """The citation number of `quote` (its own chunk when it continues another's passage)."""
        return self.book.cite(quote.passage_id or ref[0], *ref[1:], quote)

    def cite(self, ref: tuple[str, str, str, str], quote: Quote) -> str:
        """The sentence with its marker: "Ask your boss how you can help [2]." """
        return f"{strip_end(quote.text)} [{self.number(ref, quote)}]."

    def cite_all(self, ref: tuple[str, str, str, str], quotes: tuple[Quote, ...]) -> str:
        return " ".join(self.cite(ref, q) for q in quotes)


class OfflineComposer:
    """Writes framework-aware, situation-first advice from an AdvicePlan without any language model."""

    name = "offline"

    def compose(self, plan: AdvicePlan) -> Answer:
        w = _Writer(CitationBook())
        lines: list[str] = []
        corrects = plan.correction is not None and plan.lead is not None and plan.correction.quote in plan.lead.sentences
        if plan.correction:
            lines += [_correction(w, plan.correction, plan.lead if corrects else None), ""]
        if plan.reflection:
            lines += [plan.reflection, ""]
        lead: tuple[int, ...] = ()
        if plan.lead is not None:
            if plan.walk is not None:
                lines += _walk(w, plan.walk)
                lines.append(_walk_start(plan.lead))
                shown = plan.lead.sentences[:WALKED_SENTENCES]
                lead = tuple(dict.fromkeys(w.number(plan.lead.ref, q) for q in shown))
                lines += _why_lines(w, plan.lead, plan.lead.sentences[WALKED_SENTENCES:], ())
            elif not plan.personal:  # a question about the sources: answer it plainly
                lead = tuple(w.number(plan.lead.ref, q) for q in plan.lead.sentences[:3])
                lines.append(w.cite_all(plan.lead.ref, plan.lead.sentences[:3]))
            elif plan.lead.quote.speaker:  # spoken: the rest of the speaker's turn, in their words, not "reasons"
                lines.append(_lead(w, plan.lead, tuple(q for q in plan.lead.sentences if q not in _shown(plan.lead))))
                lead = tuple(dict.fromkeys(w.number(plan.lead.ref, q) for q in _shown(plan.lead)))
            else:
                rest = tuple(
                    q for i, q in enumerate(plan.lead.sentences) if i not in (0, plan.lead.best) and says_something(q.text)
                )[:2]
                if corrects:  # the correction already said what to do first: add only its reasons
                    rest = tuple(q for q in plan.lead.sentences if q != plan.correction.quote)[:2]  # type: ignore[union-attr]
                else:
                    lines.append(_lead(w, plan.lead, tuple(q for q in rest if not _explains(q.text))))
                lead = tuple(dict.fromkeys(w.number(plan.lead.ref, q) for q in _shown(plan.lead)))
                lines += _why_lines(w, plan.lead, tuple(q for q in rest if _explains(q.text)), plan.why)
                if plan.context is not None and (described := _context(w, plan.context)):
                    lines += ["", described]
        if plan.more:
            heading = "**Then:**" if plan.personal else "**Related:**"
            if plan.several_guests:
                lines += ["", _who_says_what((plan.lead, *plan.more))]
            lines += ["", heading, *(_bullet(w, p, plan.several_guests) for p in plan.more)]
        if plan.question:
            lines += ["", f"**A question for you:** {plan.question}"]
        text = "\n".join(lines).strip()
        card = framework_card(plan.framework) if plan.framework else None
        return Answer(text=text, citations=w.book.citations, framework=card, backend=self.name, lead=lead)


WALKED_SENTENCES = 2  # a walk shows each step's first two sentences


def _why_lines(w: _Writer, lead: Point, reasons: tuple[Quote, ...], why: tuple[Point, ...]) -> list[str]:
    """The lead's own reasons, or failing those a statement from its part of the source."""
    if reasons:
        return [f"**Why it works:** {w.cite_all(lead.ref, reasons)}"]
    if why:
        return [f"**Worth knowing:** {w.cite(why[0].ref, why[0].quote)}"]
    return []


def _walk_start(lead: Point) -> str:
    """Which of the walked steps to take first (its words are in the list above)."""
    if lead.step is None:
        return ""
    return f"**Start here: step {lead.step.n}, {strip_end(lead.step.label)}.**"


def _correction(w: _Writer, c: Correction, lead: Point | None = None) -> str:
    """The premise corrected with the sentence that contradicts it; when that sentence is a move, it is also
    where to start."""
    n = w.number(c.source_ref, c.quote)
    start = f" **Start there{_where(lead)}.**" if lead is not None else ""
    return f"**A correction first:** the sources say otherwise — “{strip_end(c.quote.text)}” [{n}].{start}"


def _where(lead: Point) -> str:
    """Where the move sits: "step 2 of" a sequence, "from" a set of options (a strategy is not a step 2)."""
    if not lead.step or not lead.item:
        return ""
    return f" (step {lead.step.n} of {_short_name(lead.item)})" if lead.item.ordered else f" (from {_short_name(lead.item)})"


def _explains(sentence: str) -> bool:
    """A sentence that gives a reason ("This simple question sets you apart…") rather than saying more of what
    to do ("Follow through on their requests…", "Even two hours once a month can be sufficient")."""
    return not is_advice(sentence) and not _ELABORATES.search(sentence) and says_something(sentence)


_ELABORATES = re.compile(r"^\W*(even|in |at |this means)\b|\b(for example|for instance|such as|e\.g\.)", re.IGNORECASE)


def _lead(w: _Writer, lead: Point, how: tuple[Quote, ...] = ()) -> str:
    """The one thing to do first: the move, and the sentence of it that fits the person best when that is
    another one ("Ask your boss how you can help: … Managers rarely get asked this")."""
    head = f"**Start here{_where(lead)}:**"
    who = f" {lead.guest} says:" if lead.step is None and _spoken(lead) else ""
    return f"{head}{who} {w.cite_all(lead.ref, _shown(lead) + how)}"


def _shown(lead: Point) -> tuple[Quote, ...]:
    return (lead.sentences[0],) if lead.best == 0 else (lead.sentences[0], lead.best_quote)


def _context(w: _Writer, item: SourcedFramework) -> str:
    """What the lead's list is, in the source's words, when its intro describes it ("The "Magic Loop" is a
    five-step framework…" [n]); '' when the intro is a story or missing."""
    fw = item.framework
    intro = first_sentences(fw.intro, 1)
    names = {x.lower() for x in re.findall(r"[A-Za-z]{4,}", fw.name)} - _GENERIC_HEADING_WORDS
    describes = len(names & {x.lower() for x in re.findall(r"[A-Za-z]{4,}", intro)}) >= MIN_SHARED_NAME_WORDS
    if not intro or fw.intro_start_s is None or not describes:
        return ""
    until = fw.intro_end_s if fw.intro_end_s is not None and fw.intro_end_s >= fw.intro_start_s else fw.intro_start_s
    quote = Quote(intro, fw.intro_start_s, until)
    ref = (f"framework:{fw.name}", item.video_id, item.title, item.guest)
    return f"**About {_short_name(item)}:** {w.cite(ref, quote)}"


def _short_name(item: SourcedFramework) -> str:
    """ "The Magic Loop for Career Growth" rather than "… — Steps of the Magic Loop"."""
    return item.framework.heading_path[0] if item.framework.heading_path else item.framework.name


MIN_SHARED_NAME_WORDS = 2  # an intro that names the list ("The Magic Loop is a five-step framework…") describes it
_GENERIC_HEADING_WORDS = frozenset(
    "steps step from with through about lessons takeaways strategies factors tips ways how".split()
)


def _walk(w: _Writer, item: SourcedFramework) -> list[str]:
    """Every step in order, each sentence at its own second."""
    fw = item.framework
    ref = (f"framework:{fw.name}", item.video_id, item.title, item.guest)
    lines = [f"**{item.display_name}, step by step:**"]
    for step in fw.steps:
        said = step.sentence_list()
        # the label, then what the step says ("This is where the "magic" happens" says nothing: the next one shows)
        shown = [*said[:1], *[s for s in said[1:] if says_something(s.text)][: WALKED_SENTENCES - 1]]
        quotes = tuple(Quote(s.text, s.start_s, s.start_s, approximate=not s.timed) for s in shown)
        lines.append(f"{step.n}. {w.cite_all(ref, quotes)}")
    return [*lines, ""]


def _bullet(w: _Writer, p: Point, name_guest: bool) -> str:
    who = f"**{p.guest.strip()}:** " if name_guest and p.guest.strip() else ""
    # a bare label ("Go back to your manager…:") takes the first sentence of its body that says something
    body = [q for q in p.sentences[1:] if says_something(q.text)][:1]
    if p.step is not None and _label_alone(p):
        quotes = (p.sentences[0], *body)
    elif p.quote.speaker:
        # spoken: the sentence that fits, not the lead-in before it ("Aha, that's an interesting strategy…")
        quotes = p.sentences[p.best : p.best + 1]
    else:
        quotes = p.sentences[:1]
    return f"- {who}{w.cite_all(p.ref, quotes)}"


def _who_says_what(points: tuple[Point | None, ...]) -> str:
    """One line naming each guest the answer draws on and their episode's subject."""
    seen: dict[str, str] = {}
    for p in points:
        if p is not None and p.guest.strip():
            seen.setdefault(p.guest.strip(), _subject(p.title, p.guest))
    return "**Who says what:** " + "; ".join(f"{g} ({t})" if t else g for g, t in seen.items()) + "."


def _subject(title: str, guest: str) -> str:
    """ "Feeling stuck? Here's how to know when it's time to leave your job | Ada Chen" → the part before "|"."""
    subject = title.split(" | ")[0].strip().strip("'\"")
    return "" if not subject or guest.lower() in subject.lower() else subject


def _label_alone(p: Point) -> bool:
    """The step's first sentence is its bare label ("Ask your boss how you can help:")."""
    return len(p.sentences) > 1 and p.sentences[0].text.rstrip().endswith(":")


def _spoken(p: Point) -> bool:
    return bool(p.quote.speaker)


def framework_card(match: FrameworkMatch) -> FrameworkCard:
    """The framework as data for a UI card: name, source, and each step with its second and link."""
    item, fw = match.item, match.item.framework
    return FrameworkCard(
        name=item.display_name,
        heading_path=tuple(fw.heading_path),
        video_id=item.video_id,
        title=item.title,
        guest=item.guest,
        score=match.score,
        moves=item.actionable,
        steps=tuple(
            StepCard(n=s.n, label=s.label, text=s.text, start=s.start_s, url=youtube_url(item.video_id, s.start_s))
            for s in fw.steps
        ),
    )
