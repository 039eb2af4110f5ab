"""Coming back: ask how the open plan items went, and use the reply.

Done → the item is marked done and the next step of the same framework is added and given, cited to its second.
Blocked → what the item's own source says about the obstacle named (coach.plan_obstacles), cited at each
sentence's second, never the item's step again; or, when the source does not speak to it, that said plainly.
Dropped → the item is marked dropped. Anything else is answered as an ordinary question.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from coach.frameworks import SourcedFramework
from coach.plan_steps import framework_step
from coach.profile_store import PlanItem, ProfileStore, Step
from coach.textutil import strip_end
from coach.types import Answer, Citation

Ask = Callable[[str], Answer]  # answers a message for the person (their situation already bound)
Advise = Callable[["PlanItem", str], Answer]  # answers an obstacle (the reply) met on an open item


class Outcome(enum.StrEnum):
    done = "done"
    blocked = "blocked"
    dropped = "dropped"
    unclear = "unclear"


@dataclass(frozen=True)
class CheckIn:
    """The opening question and the open items it asks about."""

    text: str
    items: tuple[PlanItem, ...]


@dataclass(frozen=True)
class CheckInResult:
    answer: Answer
    outcome: Outcome
    item: PlanItem | None  # the item the reply was about (as stored after it)
    added: PlanItem | None = None  # the next step, added to the plan


_DROPPED = re.compile(r"\b(drop(ped)?|give up|gave up|not (going|planning) to|no longer|skip(ping)?|abandon)", re.I)
_BLOCKED = re.compile(
    r"\b(stuck|blocked|(did|could|ca|have|has|was|were|is|are|does|do|wo)n'?t|did not|could not|cannot|have not|"
    r"has not|not yet|no time|too busy|nothing|never|but|hard|difficult|problem)\b|\b(refus|ignor|struggl|hate)",
    re.I,
)
_DONE = re.compile(
    r"\b(done|did it|i did|finished|complete[d]?|went (well|great|fine|ok)|worked|it's handled|yes|success)\b", re.I
)


def opening(items: Sequence[PlanItem]) -> CheckIn | None:
    """The check-in that opens a conversation when the person has open items; None when they have none."""
    open_items = tuple(i for i in items if i.status == "open")
    if not open_items:
        return None
    listed = "; ".join(f"{i.n}. “{i.step}” (since {i.added_on.isoformat()})" for i in open_items)
    return CheckIn(
        f"Welcome back. Last time you planned: {listed}. How did it go — did you do it, or did something get in "
        "the way?",
        open_items,
    )


def read_reply(reply: str) -> Outcome:
    """What a reply says happened: dropped, blocked (an obstacle is named), done, or unclear."""
    if _DROPPED.search(reply):
        return Outcome.dropped
    if _BLOCKED.search(reply):
        return Outcome.blocked
    return Outcome.done if _DONE.search(reply) else Outcome.unclear


def item_meant(reply: str, items: Sequence[PlanItem]) -> PlanItem | None:
    """The open item a reply is about: the one named by number or by most shared words, else the newest."""
    open_items = [i for i in items if i.status == "open"]
    if not open_items:
        return None
    numbers = {int(x) for x in re.findall(r"(?:#|\bitem\s*|\bstep\s*)(\d{1,4})\b", reply, re.I)}
    named = [i for i in open_items if i.n in numbers]
    if named:
        return named[0]
    said = set(re.findall(r"[a-z']{4,}", reply.lower()))
    scored = max(open_items, key=lambda i: (len(said & set(re.findall(r"[a-z']{4,}", i.step.lower()))), i.n))
    return scored


def next_step(item: PlanItem, frameworks: Sequence[SourcedFramework]) -> tuple[SourcedFramework, Step] | None:
    """The step after `item` in the framework it came from (None for a lone sentence or a last step)."""
    if item.step_n is None or not item.framework:
        return None
    for fw in frameworks:
        same = " > ".join(fw.framework.heading_path) == item.framework and fw.video_id == item.video_id
        if same and (step := framework_step(fw, item.step_n + 1)) is not None:
            return fw, step
    return None


def answer_reply(
    reply: str, owner: str, store: ProfileStore, frameworks: Sequence[SourcedFramework], ask: Ask, advise: Advise
) -> CheckInResult:
    """Use a reply to the check-in: update the plan and answer, cited like every answer."""
    item = item_meant(reply, store.plan(owner))
    outcome = read_reply(reply) if item is not None else Outcome.unclear
    if item is None or outcome is Outcome.unclear:
        return CheckInResult(ask(reply), Outcome.unclear, item)
    if outcome is Outcome.dropped:
        item = store.update(owner, item.n, status="dropped")
        text = f"Noted: “{item.step}” is dropped from your plan. What would you like to work on instead?"
        return CheckInResult(Answer(text=text), outcome, item)
    if outcome is Outcome.blocked:
        return CheckInResult(advise(item, reply), outcome, item)
    item = store.update(owner, item.n, status="done")
    found = next_step(item, frameworks)
    if found is None:
        answer = ask(f"I did this: {strip_end(item.step)}. What should I do next?")
        answer.text = f"Well done — “{item.step}” is marked done in your plan.\n\n{answer.text}"
        return CheckInResult(answer, outcome, item)
    fw, step = found
    added = store.add(owner, step)
    return CheckInResult(_next_answer(item, fw, step, added), outcome, item, added)


def _next_answer(done: PlanItem, fw: SourcedFramework, step: Step, added: PlanItem) -> Answer:
    """The next step in the source's words, each sentence cited to its own second."""
    source_step = next(s for s in fw.framework.steps if s.n == step.step_n)
    citations, cited = [], []
    for n, sentence in enumerate(source_step.sentence_list(), start=1):
        citations.append(Citation(n, fw.video_id, sentence.start_s, sentence.start_s, fw.title, sentence.text,
                                  guest=fw.guest, approximate=not sentence.timed))  # fmt: skip
        cited.append(f"{strip_end(sentence.text)} [{n}].")
    name = fw.display_name.split(" — ")[0]
    text = (
        f"Well done — “{done.step}” is marked done in your plan.\n\n"
        f"**Next (step {step.step_n} of {name}):** {' '.join(cited)}\n\n"
        f"I added it to your plan as item {added.n}. Tell me how it goes next time."
    )
    from coach.compose import framework_card
    from coach.frameworks import FrameworkMatch

    return Answer(text=text, citations=citations, lead=(1,), framework=framework_card(FrameworkMatch(fw, 1.0)))
