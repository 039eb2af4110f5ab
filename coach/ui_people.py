"""The web app's profile, plan and check-in: event handlers for the page and the API endpoints for gradio_client.

Whose rows: the signed-in user (`request.username`) when sign-in is on, else LOCAL, the one person on this machine.
Nothing is written until a person clicks Save, adds a step or changes an item. Every person's or source's text is
escaped before it reaches the page.
"""

from __future__ import annotations

import html
from dataclasses import asdict
from pathlib import Path
from typing import Any

import gradio as gr

from coach.markup import render_answer, time_link
from coach.plan_export import PrivateExports
from coach.profile_store import LOCAL, PlanItem, ProfileError, Step

PLAN_EMPTY = "Your plan is empty. After an answer, click a step under “Add a step to My plan”."


def owner_of(request: gr.Request | None) -> str:
    return str(getattr(request, "username", None) or LOCAL)


def render_plan(items: list[PlanItem] | None) -> str:
    """The plan panel (None: before the page has loaded the person's plan)."""
    if items is None:
        return '<div class="coach-plan coach-loading"><div class="coach-panel-title">My plan</div></div>'
    if not items:
        return f'<div class="coach-plan coach-empty"><div class="coach-panel-title">My plan</div><p>{PLAN_EMPTY}</p></div>'
    rows = []
    for i in items:
        link = time_link(i.url, "▶ source", f"Source of step {i.n}") if i.url else ""
        remind = f" · remind {i.remind_on.isoformat()}" if i.remind_on else ""
        note = f'<div class="coach-plan-note">{html.escape(i.note)}</div>' if i.note else ""
        rows.append(
            f'<li class="coach-plan-item coach-{i.status}" data-n="{i.n}"><b>{i.n}.</b> {html.escape(i.step)} '
            f'<span class="coach-plan-status">[{i.status}]</span> {link}'
            f'<div class="coach-meta">added {i.added_on.isoformat()}{remind}</div>{note}</li>'
        )
    return f'<div class="coach-plan"><div class="coach-panel-title">My plan</div><ol>{"".join(rows)}</ol></div>'


def _status_line(text: str, warn: bool = False) -> str:
    cls = "coach-warning" if warn else "coach-thanks"
    return f'<div class="{cls}" role="status" aria-live="polite">{html.escape(text)}</div>' if text else ""


class People:
    """Handlers over `coach.profiles` and `coach.plan` (a Coach passed in)."""

    def __init__(self, coach: Any) -> None:
        self.coach = coach
        self._exports: PrivateExports | None = None

    def exports(self) -> PrivateExports:
        """Where exports are written: a private folder per export inside Gradio's file cache, served from there
        (anything outside it Gradio copies into the cache under a name derived from the content); removed at exit."""
        if self._exports is None:
            import atexit

            from gradio.utils import get_upload_folder

            self._exports = PrivateExports(Path(get_upload_folder()))
            atexit.register(self._exports.close)
        return self._exports

    # ---- the page --------------------------------------------------------------------------------------
    def load(self, state: dict[str, Any], request: gr.Request) -> tuple[Any, ...]:
        """On page load: the saved profile into the intake, the plan panel, and the check-in as the first message."""
        owner = owner_of(request)
        state = dict(state or {})
        profile = self.coach.profiles.profile(owner)
        state["profile_version"] = profile.version if profile else 0
        items = self.coach.plan.items(owner)
        state["versions"] = {str(i.n): i.version for i in items}
        check = self.coach.plan.check_in(owner)
        state["checkin"] = check is not None
        chat = [{"role": "assistant", "content": html.escape(check.text)}] if check else []
        fields = (profile.level, profile.goal, profile.manager, profile.note) if profile else ("", "", "", "")
        return (*fields, state, render_plan(items), chat)

    def save_profile(
        self, level: str, goal: str, manager: str, note: str, state: dict[str, Any], request: gr.Request
    ) -> tuple[str, dict[str, Any]]:
        state = dict(state or {})
        try:
            fields = {"level": level, "goal": goal, "manager": manager, "note": note}
            saved = self.coach.profiles.save_profile(
                owner_of(request), **fields, expected_version=state.get("profile_version", 0)
            )
        except ProfileError as exc:
            return _status_line(str(exc), warn=True), state
        state["profile_version"] = saved.version
        return _status_line("Profile saved: it shapes every answer from now on. “Forget me” deletes it."), state

    def forget(self, state: dict[str, Any], request: gr.Request) -> tuple[Any, ...]:
        owner = owner_of(request)
        gone = self.coach.profiles.forget(owner)
        self.exports().forget(owner)
        state = {**dict(state or {}), "profile_version": 0, "versions": {}, "checkin": False, "steps": []}
        said = f"Forgotten: {gone} record(s) deleted." if gone else "Nothing was stored for you."
        cleared = (render_plan([]), gr.Dataset(samples=[]), gr.File(None, visible=False))
        return "", "", "", "", _status_line(said), state, *cleared

    def export(self, request: gr.Request) -> list[str]:
        """The person's plan as Markdown (links to the second) and an .ics calendar of its reminders, written for
        them alone (see PrivateExports; their previous export is deleted): two files to download."""
        owner = owner_of(request)
        paths = self.exports().write(owner, self.coach.plan.markdown(owner), self.coach.plan.calendar(owner))
        return [str(p) for p in paths]

    @staticmethod
    def show_export() -> Any:
        return gr.File(visible=True)

    def after_answer(self, state: dict[str, Any], request: gr.Request) -> tuple[Any, str, dict[str, Any]]:
        """After each answer: its cited steps, each one click away from the plan, and the plan as stored now (a
        check-in reply may have changed it)."""
        state = dict(state or {})
        items = self.coach.plan.items(owner_of(request))
        state["versions"] = {str(i.n): i.version for i in items}
        steps = gr.Dataset(samples=[[s["step"]] for s in state.get("steps", [])])
        return steps, render_plan(items), state

    def add_step(self, index: int | None, state: dict[str, Any], request: gr.Request) -> tuple[str, str, dict[str, Any]]:
        state = dict(state or {})
        steps = state.get("steps", [])
        owner = owner_of(request)
        if index is None or not 0 <= int(index) < len(steps):
            return render_plan(self.coach.plan.items(owner)), _status_line("That step is no longer offered.", True), state
        try:
            item = self.coach.plan.add(Step(**steps[int(index)]), owner=owner)
        except ProfileError as exc:
            return render_plan(self.coach.plan.items(owner)), _status_line(str(exc), warn=True), state
        items = self.coach.plan.items(owner)
        state["versions"] = {str(i.n): i.version for i in items}
        return render_plan(items), _status_line(f"Added to your plan as item {item.n}: {item.step}"), state

    def update_item(
        self, n: float | None, status: str, note: str, remind: str, state: dict[str, Any], request: gr.Request
    ) -> tuple[str, str, dict[str, Any]]:
        """Change one item; a stale tab, an unknown number, a long note or a bad date get a message and the
        boxes keep what was typed."""
        state = dict(state or {})
        owner = owner_of(request)
        number = int(n) if n is not None else 0
        try:
            self.coach.plan.update(number, owner, status=status or None, note=note, remind_on=remind or None,
                                   clear_reminder=not remind,
                                   expected_version=state.get("versions", {}).get(str(number)))  # fmt: skip
            said, warn = f"Plan item {number} saved.", False
        except ProfileError as exc:  # StaleEdit too: the boxes keep what was typed
            said, warn = str(exc), True
        items = self.coach.plan.items(owner)
        if not warn:
            state["versions"] = {str(i.n): i.version for i in items}
        return render_plan(items), _status_line(said, warn), state

    def situation(self, given: dict[str, str], request: gr.Request | None) -> Any:
        """The fields given for one question, the rest from the person's saved profile (nothing when none)."""
        from coach.conversation import Situation
        from coach.profile_store import with_profile

        return with_profile(Situation.from_mapping(given), self.coach.profiles.profile(owner_of(request)))

    def reply(self, message: str, state: dict[str, Any], request: gr.Request | None) -> tuple[str, Any]:
        """The person's answer to the check-in: (the assistant message, the Answer)."""
        result = self.coach.plan.reply(message, owner_of(request))
        return render_answer(result.answer), result.answer

    # ---- the API (gradio_client) -----------------------------------------------------------------------
    def api_profile(self, request: gr.Request) -> dict[str, Any]:
        """The signed-in person's saved profile (null when none)."""
        found = self.coach.profiles.profile(owner_of(request))
        return {"profile": found.to_dict() if found else None}

    def api_save_profile(
        self, level: str = "", goal: str = "", manager: str = "", note: str = "", version: int | None = None,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> dict[str, Any]:  # fmt: skip
        """Save the profile; `version` (from api_profile, 0 for none) refuses an edit over a newer save."""
        saved = _api(self.coach.profiles.save_profile, owner_of(request), level=level, goal=goal, manager=manager,
                     note=note, expected_version=version)  # fmt: skip
        return {"profile": saved.to_dict()}

    def api_forget(self, request: gr.Request) -> dict[str, Any]:
        """Forget me: delete the profile, the whole plan and any export of it."""
        owner = owner_of(request)
        self.exports().forget(owner)
        return {"deleted": self.coach.profiles.forget(owner)}

    def api_plan(self, request: gr.Request) -> dict[str, Any]:
        """The plan's items."""
        return {"items": [i.to_dict() for i in self.coach.plan.items(owner_of(request))]}

    def api_plan_add(self, step: str, note: str = "", remind_on: str = "", request: gr.Request = None) -> dict[str, Any]:  # type: ignore[assignment]
        """Add the framework step named by `step` (its words in an answer), with its quote and link."""
        item = _api(self.coach.plan.add_named, step, owner_of(request), note, remind_on or None)
        return {"item": item.to_dict()}

    def api_plan_update(
        self, n: int, status: str = "", note: str | None = None, remind_on: str = "", version: int | None = None,
        request: gr.Request = None,  # type: ignore[assignment]
    ) -> dict[str, Any]:  # fmt: skip
        """Change item `n`: status (open, done, dropped), note, reminder date YYYY-MM-DD."""
        item = _api(self.coach.plan.update, int(n), owner_of(request), status=status or None, note=note,
                    remind_on=remind_on or None, expected_version=version)  # fmt: skip
        return {"item": item.to_dict()}

    def api_checkin(self, request: gr.Request) -> dict[str, Any]:
        """The check-in question when there are open items ('' when none)."""
        check = self.coach.plan.check_in(owner_of(request))
        return {"text": check.text if check else "", "items": [i.to_dict() for i in check.items] if check else []}

    def api_checkin_reply(self, reply: str, request: gr.Request) -> dict[str, Any]:
        """How it went: the plan is updated and the answer comes back like `chat`'s."""
        from coach.markup import api_payload

        result = _api(self.coach.plan.reply, reply, owner_of(request))
        return {**api_payload(result.answer), "outcome": str(result.outcome),
                "item": result.item.to_dict() if result.item else None,
                "added": result.added.to_dict() if result.added else None}  # fmt: skip


def _api(fn: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return fn(*args, **kwargs)
    except ProfileError as exc:
        raise gr.Error(str(exc), print_exception=False) from None


def steps_state(answer: Any) -> list[dict[str, Any]]:
    """An answer's cited steps as plain data for the page's state."""
    from coach.plan_steps import answer_steps

    return [asdict(s) for s in answer_steps(answer)]
