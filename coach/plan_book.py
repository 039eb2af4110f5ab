"""`Coach.plan`: one person's plan through the Python API — add cited steps, change them, check in, export."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TYPE_CHECKING

from coach.checkin import CheckIn, CheckInResult, answer_reply, opening
from coach.frameworks import FrameworkIndex
from coach.plan_export import to_ics, to_markdown
from coach.plan_obstacles import Search, find_advice, obstacle_answer, obstacle_of
from coach.plan_steps import answer_steps, find_step, step_of_citation
from coach.profile_store import LOCAL, PlanItem, ProfileStore, Step
from coach.types import Answer

if TYPE_CHECKING:
    from ingest.embedding import LocalEmbedder


class PlanBook:
    """Every method takes `owner` (the signed-in user; LOCAL for the one person on this machine)."""

    def __init__(
        self, store: ProfileStore, frameworks: FrameworkIndex, ask: Callable[[str, str], Answer], search: Search,
        queries: LocalEmbedder,
    ) -> None:  # fmt: skip
        self.store = store
        self.frameworks = frameworks
        self._ask = ask  # (message, owner) -> Answer, with the owner's saved profile
        self._search = search  # (query, k) -> passages (Coach.retrieve), for an obstacle met on an item
        self._queries = queries  # embeds a person's words (never kept); the sources' sentences go to frameworks'

    def items(self, owner: str = LOCAL, status: str | None = None) -> list[PlanItem]:
        return self.store.plan(owner, status)

    def steps(self, answer: Answer) -> list[Step]:
        """The cited steps of an answer that can be added."""
        return answer_steps(answer)

    def add(self, step: Step, owner: str = LOCAL, note: str = "", remind_on: str | date | None = None) -> PlanItem:
        return self.store.add(owner, step, note, remind_on)

    def add_from_answer(
        self, answer: Answer, citation: int, owner: str = LOCAL, note: str = "", remind_on: str | date | None = None
    ) -> PlanItem:
        """Add the step that citation [n] of an answer belongs to."""
        return self.store.add(owner, step_of_citation(answer, citation), note, remind_on)

    def add_named(self, text: str, owner: str = LOCAL, note: str = "", remind_on: str | date | None = None) -> PlanItem:
        """Add the framework step a person names ("Ask your boss how you can help"), with its quote and link."""
        return self.store.add(owner, find_step(text, self.frameworks.items()), note, remind_on)

    def update(
        self, n: int, owner: str = LOCAL, *, status: str | None = None, note: str | None = None,
        remind_on: str | date | None = None, clear_reminder: bool = False, expected_version: int | None = None,
    ) -> PlanItem:  # fmt: skip
        return self.store.update(owner, n, status=status, note=note, remind_on=remind_on,
                                 clear_reminder=clear_reminder, expected_version=expected_version)  # fmt: skip

    def check_in(self, owner: str = LOCAL) -> CheckIn | None:
        """How a conversation opens when the person has open items (None when they have none)."""
        return opening(self.store.plan(owner))

    def reply(self, text: str, owner: str = LOCAL) -> CheckInResult:
        """Use the person's reply to the check-in (see coach.checkin)."""
        return answer_reply(text, owner, self.store, self.frameworks.items(), lambda m: self._ask(m, owner),
                            self.obstacle)  # fmt: skip

    def obstacle(self, item: PlanItem, reply: str) -> Answer:
        """What the item's source says about the obstacle a reply names (see coach.plan_obstacles)."""
        from coach.reflection import reflect

        obstacle = obstacle_of(reply, item.step)
        advice = find_advice(item, obstacle, self._search, self._queries, self.frameworks.embedder,
                             self.frameworks.items())  # fmt: skip
        said = reflect(reply) or f"you said “{obstacle}”."
        return obstacle_answer(item, said[:1].lower() + said[1:] if said[1:2].islower() else said, advice)

    def markdown(self, owner: str = LOCAL) -> str:
        return to_markdown(self.store.plan(owner))

    def calendar(self, owner: str = LOCAL) -> bytes:
        return to_ics(self.store.plan(owner), owner)
