"""The web app (Gradio): a chat whose every claim links to the second of the episode it came from.

`build_app(coach)` wires the page from a Coach passed in; `serve(coach, host, port)` launches it.
Importing builds nothing and opens nothing. Everything a person or a source wrote is escaped before it reaches
the page: gr.HTML does not sanitize, and the chat's sanitizer is a second line of defence only.
"""

from __future__ import annotations

import contextlib
import html
import json
import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio reads it

import gradio as gr
from starlette.middleware import Middleware

from coach.gate import Gate, SignInThrottle
from coach.markup import api_payload, entities, link_citations, literal, render_answer, render_framework, render_sources
from coach.textutil import MARKER_PATTERN
from coach.ui_people import People, render_plan, steps_state

if TYPE_CHECKING:
    from coach.types import Citation

__all__ = ["api_payload", "build_app", "render_answer", "render_framework", "render_sources", "serve"]

log = logging.getLogger(__name__)

TITLE = "Coach — career advice with receipts"
PROMISE = "Career advice from people who've been there — every claim linked to the second it was said."
EXAMPLES = (
    "How do I get past senior manager?",
    "My manager never talks about my career growth. What should I do?",
    "How do I stand out in a job interview?",
    "How can I become more inventive at work?",
)
CONCURRENCY = 8  # conversations answered at once; more wait in the queue (answers take well under a second)
QUEUE_SIZE = 64
CSS_PATH = Path(__file__).with_name("ui.css")
SCREENS_CSS_PATH = Path(__file__).with_name("ui_screens.css")  # media queries, unscoped (see the file)
INPUT_LABEL = "Describe your situation or ask a question"
ERROR_TEXT = "Sorry — something went wrong on my side while answering. Please try again in a moment."
_STREAM_EVERY_S = 0.05  # the least time between two streamed versions of a message
_REVEAL_EVERY_S = 0.04  # an answer that is ready at once is shown growing, a sentence or line at a time …
_REVEAL_MAX_S = 0.6  # … for at most this long
_REVEAL_CUT = re.compile(MARKER_PATTERN + r"\.(?= )|\n")  # after a cited sentence or at a line end
THINKING = '<div class="coach-thinking">Searching the episodes for passages that fit…</div>'
THANKS = {"up": "Thanks — noted: this answer helped.", "down": "Thanks — noted: this answer did not help."}
UNVOTED = "Your vote was removed."


def plain_markdown(text: str) -> str:
    """User text shown literally in a Markdown message: HTML and Markdown syntax both neutralised."""
    return literal(text)


def render_partial(text: str, citations: Sequence[Citation] = ()) -> str:
    """Text streamed so far, escaped like the final answer (links only where the citations are known)."""
    return link_citations(text, citations)


def reveal(text: str, shown: int) -> list[str]:
    """The growing versions of `text` after its first `shown` characters: one per cited sentence or line,
    thinned so that showing them all takes at most _REVEAL_MAX_S."""
    before = text[:shown].rstrip()
    steps = [text[: m.end()].rstrip() for m in _REVEAL_CUT.finditer(text) if m.end() > shown]
    steps = [s for s in dict.fromkeys(steps) if len(before) < len(s) < len(text.rstrip())]
    most = max(1, int(_REVEAL_MAX_S / _REVEAL_EVERY_S))
    if len(steps) > most:
        steps = [steps[round(i * (len(steps) - 1) / (most - 1))] for i in range(most)] if most > 1 else steps[-1:]
    return steps


# ---- feedback ----------------------------------------------------------------------------------
class FeedbackLog:
    """Opt-in thumbs up/down, one JSON object per line and per answer: a changed vote replaces the answer's
    row, a withdrawn vote removes it. Writes are serialised and atomic (a reader never sees half a file)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def record(self, answer_id: str, question: str, answer: str, urls: list[str], vote: str) -> None:
        """Store `vote` for the answer `answer_id` ("" withdraws it)."""
        row = {
            "id": answer_id,
            "ts": datetime.now(UTC).isoformat(timespec="seconds"),
            "question": question,
            "answer": answer,
            "citations": urls,
            "vote": vote,
        }
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            kept = [line for line in self._lines() if _row_id(line) != answer_id]
            if vote:
                kept.append(json.dumps(row, ensure_ascii=False))
            tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            tmp.write_text("".join(line + "\n" for line in kept), encoding="utf-8")
            os.replace(tmp, self.path)

    def _lines(self) -> list[str]:
        try:
            return [line for line in self.path.read_text(encoding="utf-8").splitlines() if line.strip()]
        except FileNotFoundError:
            return []


def _row_id(line: str) -> str | None:
    try:
        row = json.loads(line)
    except ValueError:
        return None
    return row.get("id") if isinstance(row, dict) else None


def new_state() -> dict[str, Any]:
    """Per-session conversation: turns for the coach, and what each answer was (for feedback)."""
    return {"turns": [], "records": {}}


# ---- handlers ----------------------------------------------------------------------------------
@dataclass
class Handlers:
    """The app's event functions, kept apart from the layout so tests can call them directly."""

    coach: Any  # coach.api.Coach or anything with .ask_stream and .settings
    feedback: FeedbackLog | None = None
    people: People | None = None  # profile, plan and check-in (a Coach with .profiles and .plan)

    def respond(
        self, message: str, chat: list[Any] | None, state: dict[str, Any] | None, level: str, goal: str, manager: str,
        note: str = "", request: gr.Request | None = None,
    ) -> Iterator[tuple[list[dict[str, str]], str, dict[str, Any], str, str]]:  # fmt: skip
        """Stream an answer into the chat: outputs are (chat, textbox, state, sources, framework). A reply to the
        check-in goes to the plan instead (coach.checkin)."""
        from coach.guard import QuestionError

        chat = [_message(m) for m in chat or []]
        state = _copy_state(state)
        question = message or ""
        situation = {"level": level or "", "goal": goal or "", "manager": manager or "", "note": note or ""}
        if question.strip():
            chat.append({"role": "user", "content": plain_markdown(question)})
        sources, framework = _searching(), ""
        yield [*chat, _bot(THINKING)], "", state, sources, framework  # at once: says what is happening
        streamed, shown, last = "", "", 0.0
        try:
            if state.get("checkin") and self.people is not None and question.strip():
                state["checkin"] = False
                shown_reply, answer = self.people.reply(question, state, request)
                chat.append(_bot(shown_reply))
                state["turns"] += [["user", question], ["assistant", answer.text]]
                state["steps"] = steps_state(answer)
                yield chat, "", state, render_sources(answer), render_framework(answer)
                return
            for event in self.coach.ask_stream(question, list(state["turns"]), situation):
                if event.kind == "delta":
                    streamed += event.text
                    if time.monotonic() - last >= _STREAM_EVERY_S and streamed.strip():
                        last, shown = time.monotonic(), streamed
                        yield [*chat, _bot(render_partial(streamed))], "", state, sources, framework
                elif event.kind == "final" and event.answer is not None:
                    answer = event.answer
                    if answer.text.startswith(shown):  # the text so far stands: let the rest grow from it
                        for i, text in enumerate(reveal(answer.text, len(shown))):
                            if i or shown:
                                time.sleep(_REVEAL_EVERY_S)
                            yield [*chat, _bot(render_partial(text, answer.citations))], "", state, sources, framework
                    chat.append(_bot(render_answer(answer)))
                    state["turns"] += [["user", question], ["assistant", answer.text]]
                    state["steps"] = steps_state(answer) if self.people is not None else []
                    state["records"][str(len(chat) - 1)] = {
                        "id": uuid.uuid4().hex,
                        "question": question,
                        "answer": answer.text,
                        "citations": [c.url for c in answer.citations],
                    }
                    yield chat, "", state, render_sources(answer), render_framework(answer)
                    return
            raise RuntimeError("the answer stream ended without a final answer")
        except QuestionError as exc:
            chat.append(_bot(f'<div class="coach-warning">{entities(str(exc))}</div>'))
        except Exception:
            log.exception("answering failed")
            chat.append(_bot(f'<div class="coach-warning">{entities(ERROR_TEXT)}</div>'))
        yield chat, question, state, render_sources(None), ""

    def chat_api(
        self, message: str, history: list[Any] | None = None, level: str = "", goal: str = "", manager: str = "",
        note: str = "", request: gr.Request = None,  # type: ignore[assignment]
    ) -> dict[str, Any]:  # fmt: skip
        """Answer one message. history: [[role, text], …] (role 'user' or 'assistant') or
        [{"role", "content"}, …]. level, goal, manager, note: the profile for this question; a field left
        empty takes the signed-in person's saved profile. Returns the linked Markdown as `text`, plus citations
        (n, url, title, guest, quote, start, end), framework, notices and whether the coach declined."""
        from coach.guard import QuestionError

        try:
            final = None
            situation: Any = {"level": level or "", "goal": goal or "", "manager": manager or "", "note": note or ""}
            if self.people is not None:
                situation = self.people.situation(situation, request)
            for event in self.coach.ask_stream(message or "", history or [], situation):
                if event.kind == "final":
                    final = event.answer
            if final is None:
                raise RuntimeError("the answer stream ended without a final answer")
            return api_payload(final)
        except QuestionError as exc:
            raise gr.Error(str(exc), print_exception=False) from None
        except Exception:
            log.exception("answering failed (api)")
            raise gr.Error(ERROR_TEXT, print_exception=False) from None

    def on_like(self, state: dict[str, Any] | None, data: gr.LikeData) -> str:
        """Store a thumbs vote (a changed vote replaces the answer's row) and say so under the chat."""
        if self.feedback is None:
            return ""
        index = data.index[0] if isinstance(data.index, list | tuple) else data.index
        record = (state or {}).get("records", {}).get(str(index))
        vote = ("up" if data.liked else "down") if isinstance(data.liked, bool) else str(data.liked or "")
        if record is None:
            return ""
        try:
            self.feedback.record(record["id"], record["question"], record["answer"], list(record["citations"]), vote)
        except OSError:
            log.exception("could not save feedback")
            return feedback_note("Sorry — your feedback could not be saved.")
        return feedback_note(THANKS.get(vote, "Thanks — noted.") if vote else UNVOTED)

    @staticmethod
    def reset() -> tuple[list[Any], str, dict[str, Any], str, str]:
        return [], "", new_state(), render_sources(None), ""


def _message(m: Any) -> dict[str, Any]:
    """A chat message as the dict Gradio sends back (or its ChatMessage form)."""
    return dict(m) if isinstance(m, Mapping) else {"role": m.role, "content": m.content}


def _bot(content: str) -> dict[str, str]:
    return {"role": "assistant", "content": content}


def feedback_note(text: str) -> str:
    """The line under the chat that confirms a vote (a live region, so screen readers hear it too)."""
    return f'<div class="coach-thanks" role="status" aria-live="polite">{html.escape(text)}</div>' if text else ""


def _searching() -> str:
    return (
        '<div class="coach-sources coach-empty coach-searching"><div class="coach-panel-title">Sources</div>'
        "<p>Finding the passages that fit…</p></div>"
    )


def _copy_state(state: Mapping[str, Any] | None) -> dict[str, Any]:
    state = state or {}
    return {**state, "turns": [list(t) for t in state.get("turns", [])], "records": dict(state.get("records", {}))}


# ---- the page ----------------------------------------------------------------------------------
HEADER = f"""
<header class="coach-header">
  <div class="coach-logo" aria-hidden="true">
    <svg viewBox="0 0 24 24" width="22" height="22" fill="none" stroke="#ffffff" stroke-width="2.2"
      stroke-linecap="round" stroke-linejoin="round"><path d="M4 17l5-5 4 4 7-8"/><path d="M14 8h6v6"/></svg>
  </div>
  <div>
    <div class="coach-brand">Coach</div>
    <div class="coach-promise">{html.escape(PROMISE)}</div>
  </div>
</header>
"""

PLACEHOLDER = (
    "<div class='coach-welcome'><h2>What's going on at work?</h2>"
    "<p>Describe your situation — your level, what you want, what's in the way. "
    "You get concrete steps, and every claim links to the moment in the episode it comes from.</p></div>"
)


def build_app(coach: Any, concurrency: int = CONCURRENCY) -> gr.Blocks:
    """The Gradio app for a Coach (anything with `.ask_stream` and `.settings`)."""
    feedback_path = getattr(coach.settings, "feedback_path", None)
    people = People(coach) if hasattr(coach, "plan") and hasattr(coach, "profiles") else None
    handlers = Handlers(coach, FeedbackLog(feedback_path) if feedback_path else None, people)

    with gr.Blocks(title=TITLE, analytics_enabled=False) as demo:
        state = gr.State(new_state())
        gr.HTML(HEADER, elem_id="coach-header-block", padding=False)
        with gr.Row(equal_height=False, elem_id="coach-main"):
            with gr.Column(scale=7, min_width=400, elem_id="coach-chat-col"):
                with gr.Accordion("Your situation (optional) — sharper advice", open=False, elem_id="coach-intake"):
                    with gr.Row():
                        level = gr.Textbox(
                            label="Level / role", placeholder="e.g. Senior manager, 40-person org", max_length=500
                        )
                        goal = gr.Textbox(label="Goal", placeholder="e.g. Make director within a year", max_length=500)
                    manager = gr.Textbox(
                        label="How things are with your manager",
                        placeholder="e.g. Supportive, but we never talk about my growth",
                        max_length=500,
                    )
                    note = gr.Textbox(
                        label="Anything else (optional)", placeholder="e.g. I interview for a new role next month",
                        lines=1, max_lines=4, visible=people is not None,
                    )  # fmt: skip
                    with gr.Row(visible=people is not None):
                        save = gr.Button("Save my profile", size="sm", variant="secondary", elem_id="coach-save-profile")
                        forget = gr.Button("Forget me", size="sm", variant="stop", elem_id="coach-forget")
                    profile_note = gr.HTML("", elem_id="coach-profile-note", padding=False)
                chatbot = gr.Chatbot(
                    elem_id="coach-chat",
                    show_label=False,
                    height="calc(100vh - 300px)",
                    min_height=440,
                    placeholder=PLACEHOLDER,
                    examples=[{"text": q} for q in EXAMPLES],
                    latex_delimiters=[],
                    sanitize_html=True,
                    buttons=["copy"],
                    feedback_options=("Like", "Dislike") if handlers.feedback else None,
                )
                box = gr.Textbox(
                    elem_id="coach-input",
                    label=INPUT_LABEL,  # what screen readers announce; hidden on screen (the placeholder says it)
                    show_label=False,
                    placeholder="Describe your situation or ask a question…",
                    lines=1,
                    max_lines=6,
                    submit_btn="Ask",
                    autofocus=True,
                )
                with gr.Row(elem_id="coach-actions"):
                    new = gr.Button("New conversation", size="sm", variant="secondary", elem_id="coach-new", scale=0)
                    gr.HTML(
                        "<div class='coach-fineprint'>"
                        + (
                            "Rating an answer (thumbs under it) saves the question, answer and sources to improve Coach."
                            if handlers.feedback
                            else "Advice comes only from the indexed episodes; nothing you type is stored"
                            + (" unless you save your profile or add to your plan." if people else ".")
                        )
                        + "</div>",
                        padding=False,
                    )
                note = gr.HTML("", elem_id="coach-feedback-note", padding=False)
                with gr.Group(visible=people is not None, elem_id="coach-plan-group"):
                    steps = gr.Dataset(
                        components=[gr.Textbox(visible=False)], samples=[], type="index", elem_id="coach-steps",
                        label="Add a step to My plan (one click)", samples_per_page=8,
                    )  # fmt: skip
                    plan = gr.HTML(render_plan(None), elem_id="coach-plan", padding=False)
                    with gr.Accordion("Change a plan item", open=False, elem_id="coach-plan-edit"):
                        with gr.Row():
                            item_n = gr.Number(label="Item number", precision=0, minimum=1, elem_id="coach-item-n")
                            status = gr.Radio(["open", "done", "dropped"], label="Status", value="open",
                                              elem_id="coach-item-status")  # fmt: skip
                        item_note = gr.Textbox(label="Note", lines=1, max_lines=4, elem_id="coach-item-note")
                        remind = gr.Textbox(label="Remind me on (YYYY-MM-DD)", elem_id="coach-item-remind")
                        save_item = gr.Button("Save item", size="sm", elem_id="coach-save-item")
                    plan_note = gr.HTML("", elem_id="coach-plan-note", padding=False)
                    export = gr.Button("Export my plan (Markdown and calendar)", size="sm", elem_id="coach-export")
                    exported = gr.File(label="My plan, to download", file_count="multiple", interactive=False,
                                       visible=False, elem_id="coach-exported")  # fmt: skip
            with gr.Column(scale=5, min_width=320, elem_id="coach-side"):
                framework = gr.HTML("", elem_id="coach-framework", padding=False)
                sources = gr.HTML(render_sources(None), elem_id="coach-sources", padding=False)

        outputs = [chatbot, box, state, sources, framework]
        answer: dict[str, Any] = {
            "fn": handlers.respond,
            "inputs": [box, chatbot, state, level, goal, manager, note],
            "outputs": outputs,
            "api_visibility": "private",
            "show_progress_on": [chatbot],
        }
        private: dict[str, Any] = {"api_visibility": "private"}
        submitted = box.submit(**answer)
        selected = chatbot.example_select(_example_text, None, box, queue=False, **private).then(**answer)
        if people is not None:
            for done in (submitted, selected):
                done.then(people.after_answer, [state], [steps, plan, state], queue=False, **private)
            demo.load(people.load, [state], [level, goal, manager, note, state, plan, chatbot], **private)
            save.click(people.save_profile, [level, goal, manager, note, state], [profile_note, state], **private)
            forget.click(people.forget, [state], [level, goal, manager, note, profile_note, state, plan, steps, exported],
                         **private)  # fmt: skip
            export.click(people.export, None, exported, api_name="plan_export").then(
                people.show_export, None, exported, queue=False, **private)  # fmt: skip
            steps.click(people.add_step, [steps, state], [plan, plan_note, state], **private)
            save_item.click(people.update_item, [item_n, status, item_note, remind, state], [plan, plan_note, state],
                            **private)  # fmt: skip
            for fn, name in ((people.api_profile, "profile"), (people.api_save_profile, "profile_save"),
                             (people.api_forget, "forget_me"), (people.api_plan, "plan"),
                             (people.api_plan_add, "plan_add"), (people.api_plan_update, "plan_update"),
                             (people.api_checkin, "checkin"), (people.api_checkin_reply, "checkin_reply")):  # fmt: skip
                gr.api(fn, api_name=name)
        new.click(handlers.reset, None, outputs, queue=False, api_visibility="private")
        new.click(lambda: "", None, note, queue=False, api_visibility="private")
        chatbot.clear(handlers.reset, None, outputs, queue=False, api_visibility="private")  # its trash icon
        if handlers.feedback:
            chatbot.like(handlers.on_like, [state], note, queue=False, api_visibility="private", show_progress="hidden")
        gr.api(handlers.chat_api, api_name="chat")
    demo.queue(default_concurrency_limit=concurrency, max_size=QUEUE_SIZE)
    return demo


def _example_text(evt: gr.SelectData) -> str:
    value = evt.value
    return str(value.get("text", "") if isinstance(value, Mapping) else value or "")


def launch_options(coach: Any) -> dict[str, Any]:
    """Theme, stylesheet, auth and privacy options for `Blocks.launch` (Gradio 6 takes styling there)."""
    settings = coach.settings
    system = ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"]
    theme = gr.themes.Base(
        primary_hue=gr.themes.colors.indigo,
        neutral_hue=gr.themes.colors.slate,
        radius_size=gr.themes.sizes.radius_lg,
        font=system,  # system fonts: nothing is fetched from a font CDN
        font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"],
    ).set(
        body_background_fill="#f6f7fb",
        background_fill_primary="#ffffff",
        block_border_color="#e6e8ef",
        input_background_fill="#ffffff",
        input_placeholder_color="#5f6779",  # 5.3:1: WCAG AA (the slate default is 2.6:1)
        button_primary_background_fill="#4338ca",
        button_primary_background_fill_hover="#3730a3",
        button_primary_text_color="#ffffff",
        button_secondary_background_fill="#ffffff",
        button_secondary_background_fill_hover="#f1f2f8",
        button_secondary_border_color="#dcdfea",
        button_secondary_text_color="#2b3145",
    )
    options: dict[str, Any] = {
        "theme": theme,
        "css_paths": [CSS_PATH] if CSS_PATH.is_file() else None,
        "head": f"<style>{SCREENS_CSS_PATH.read_text(encoding='utf-8')}</style>" if SCREENS_CSS_PATH.is_file() else None,
        "footer_links": ["api"],
        "run_history": False,  # conversations about careers stay out of browser storage
        "show_error": False,
    }
    user, password = getattr(settings, "auth_user", None), getattr(settings, "auth_password", None)
    throttle = None
    accounts = [(user, password.get_secret_value())] if user and password else []
    accounts += [(name, secret.get_secret_value()) for name, secret in (getattr(settings, "auth_users", None) or {}).items()]
    if accounts:
        options["auth"] = accounts
        options["auth_message"] = "Sign in to Coach."
        throttle = SignInThrottle(settings.auth_max_attempts, settings.auth_lockout_s)
    # The page has no upload component: refuse every upload (the cap is a second line behind the gate).
    options["max_file_size"] = 1
    options["app_kwargs"] = {"middleware": [Middleware(Gate, throttle=throttle)]}
    return options


def _warm_gradio() -> None:
    """Gradio imports matplotlib around every event; the first one would pay ~0.7 s before the page hears back."""
    with contextlib.suppress(ImportError):
        import matplotlib  # noqa: F401


def serve(
    coach: Any,
    host: str = "127.0.0.1",
    port: int = 7860,
    *,
    block: bool = True,
    quiet: bool = False,
    concurrency: int = CONCURRENCY,
    warm: bool = True,
) -> tuple[gr.Blocks, str]:
    """Launch the app; print its URL unless quiet. With block=False return (app, url) at once.

    `warm` answers one example first, so the first visitor does not wait for models and the keyword index to load.
    """
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    if warm:
        _warm_gradio()
        try:
            for _ in coach.ask_stream(EXAMPLES[0], [], {}):
                pass
        except Exception:  # a broken index shows up in the first real answer, with a friendly message
            log.exception("warm-up answer failed")
    demo = build_app(coach, concurrency=concurrency)
    options = launch_options(coach)
    demo.launch(server_name=host, server_port=port, prevent_thread_lock=True, quiet=True, **options)
    shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
    url = f"http://{shown}:{demo.server_port}/"
    if not quiet:
        print(f"Coach is running at {url}  (Ctrl+C to stop)", flush=True)
        settings = coach.settings
        if bool(getattr(settings, "auth_user", None)) != bool(getattr(settings, "auth_password", None)):
            print("warning: a password needs both COACH_AUTH_USER and COACH_AUTH_PASSWORD; none is asked.", flush=True)
        if "auth" not in options and host not in ("127.0.0.1", "localhost", "::1"):
            print(
                f"warning: listening on {host} without a password; set COACH_AUTH_USER and COACH_AUTH_PASSWORD.",
                flush=True,
            )
    if block:
        demo.block_thread()
    return demo, url
