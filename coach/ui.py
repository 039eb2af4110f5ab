"""The web app (Gradio): a chat whose every claim links to the second of the episode it came from.

`build_app(coach)` wires the page from a Coach passed in; `serve(coach, host, port)` launches it.
Importing builds nothing and opens nothing. Everything a person or a source wrote is escaped before it reaches
the page: gr.HTML does not sanitize, and the chat's sanitizer is a second line of defence only.
"""

from __future__ import annotations

import html
import json
import logging
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio reads it

import gradio as gr

from coach.textutil import MARKER, without_label
from ingest.timestamps import format_time

if TYPE_CHECKING:
    from coach.types import Answer

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
ERROR_TEXT = "Sorry — something went wrong on my side while answering. Please try again in a moment."
_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|~$])")
_SAFE_URL = re.compile(r"^https://www\.youtube\.com/watch\?v=[\w-]+&t=\d+s$")
_STREAM_EVERY_S = 0.05


# ---- rendering (pure functions: text in, escaped markup out) ----------------------------------
def plain_markdown(text: str) -> str:
    """User text shown literally in a Markdown message: HTML and Markdown syntax both neutralised."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text or "", quote=False))


def safe_url(url: str) -> str:
    """The URL when it is a YouTube timestamp link we built, else '' (never a javascript: or odd URL)."""
    return url if _SAFE_URL.match(url or "") else ""


def link_citations(text: str, citations: Sequence[Any]) -> str:
    """Escape the answer's HTML and turn each `[n]` marker into a link to its passage's second."""
    urls = {c.n: safe_url(c.url) for c in citations}

    def link(m: re.Match[str]) -> str:
        url = urls.get(int(m.group(1)))
        space = m.group(0)[: len(m.group(0)) - len(m.group(0).lstrip())]
        return f"{space}[[{m.group(1)}]]({url})" if url else m.group(0)

    return MARKER.sub(link, html.escape(text or "", quote=False))


def render_answer(answer: Answer) -> str:
    """The assistant's chat message: linked answer, then any notices in small print."""
    body = link_citations(answer.text, answer.citations)
    notes = "".join(f'<div class="coach-notice"><b>Note:</b> {html.escape(n)}</div>' for n in answer.notices)
    return f"{body}\n\n{notes}" if notes else body


def render_partial(text: str) -> str:
    """Text streamed so far (links come with the checked final answer)."""
    return html.escape(text, quote=False)


def _a(url: str, label: str, cls: str = "") -> str:
    url = safe_url(url)
    if not url:
        return f'<span class="{cls}">{html.escape(label)}</span>'
    return (
        f'<a class="{cls}" href="{html.escape(url)}" target="_blank" rel="noopener noreferrer">{html.escape(label)}</a>'
    )


def render_sources(answer: Answer | None) -> str:
    """The sources panel: each cited quote with its episode, guest and a link to the second."""
    head = '<div class="coach-panel-title">Sources{}</div>'
    if answer is None:
        return (
            f'<div class="coach-sources coach-empty">{head.format("")}'
            "<p>Every quote behind an answer appears here, linked to the exact second of the episode.</p></div>"
        )
    if answer.refused or not answer.citations:
        return (
            f'<div class="coach-sources coach-empty">{head.format("")}'
            "<p>No sources for this answer — rather than guess, the coach only answers what its sources cover.</p></div>"
        )
    cards = []
    for c in answer.citations:
        meta = " · ".join(html.escape(x) for x in (c.title, c.guest) if x)
        cards.append(
            f'<div class="coach-source" id="coach-source-{int(c.n)}">'
            f'<div class="coach-source-head"><span class="coach-badge">{int(c.n)}</span>'
            f"{_a(c.url, ('▶ ≈ ' if c.approximate else '▶ ') + format_time(c.start), 'coach-time')}"
            + ('<span class="coach-approx"> (approximate: the notes give this sentence no time of its own)</span>'
               if c.approximate else "")
            + "</div>"
            f'<blockquote class="coach-quote">{html.escape(c.quote)}</blockquote>'
            f'<div class="coach-meta">{meta}</div></div>'
        )
    count = f' <span class="coach-count">{len(answer.citations)}</span>'
    return f'<div class="coach-sources">{head.format(count)}{"".join(cards)}</div>'


def render_framework(answer: Answer | None) -> str:
    """The framework card: its name and steps, each step linked to when it is explained ('' when none)."""
    fw = answer.framework if answer is not None and not answer.refused else None
    if not fw:
        return ""
    path = [p for p in fw.heading_path if p.strip()]
    name = path[0] if path else fw.name
    sub = " — ".join(path[1:])
    steps = []
    for s in fw.steps:
        label = s.label.strip()
        text = without_label(s.text.strip(), label)
        steps.append(
            f'<li class="coach-step" title="{html.escape(text)}"><span class="coach-step-n">{int(s.n)}</span>'
            f'<span class="coach-step-label">{html.escape(label)}</span>'
            f"{_a(s.url, '▶ ' + format_time(s.start), 'coach-time')}</li>"
        )
    meta = " · ".join(html.escape(x) for x in (fw.guest, fw.title) if x)
    eyebrow = "Framework that fits" if fw.moves else "The list this comes from"
    return (
        f'<div class="coach-framework"><div class="coach-eyebrow">{eyebrow}</div>'
        f"<h3>{html.escape(name)}</h3>"
        + (f'<div class="coach-sub">{html.escape(sub)}</div>' if sub else "")
        + f'<ol class="coach-steps">{"".join(steps)}</ol><div class="coach-meta">{meta}</div></div>'
    )


def api_payload(answer: Answer) -> dict[str, Any]:
    """What the `chat` API returns: the linked Markdown plus the answer as data."""
    return {**answer.to_dict(), "text": render_answer(answer), "answer": answer.text}


# ---- feedback ----------------------------------------------------------------------------------
class FeedbackLog:
    """Opt-in thumbs up/down, one JSON object per line; appends are serialised across sessions."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()

    def record(self, question: str, answer: str, urls: list[str], vote: str) -> None:
        line = json.dumps(
            {
                "ts": datetime.now(UTC).isoformat(timespec="seconds"),
                "question": question,
                "answer": answer,
                "citations": urls,
                "vote": vote,
            },
            ensure_ascii=False,
        )
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line + "\n")


def new_state() -> dict[str, Any]:
    """Per-session conversation: turns for the coach, and what each answer was (for feedback)."""
    return {"turns": [], "records": {}}


# ---- handlers ----------------------------------------------------------------------------------
@dataclass
class Handlers:
    """The app's event functions, kept apart from the layout so tests can call them directly."""

    coach: Any  # coach.api.Coach or anything with .ask_stream and .settings
    feedback: FeedbackLog | None = None

    def respond(
        self, message: str, chat: list[Any] | None, state: dict[str, Any] | None, level: str, goal: str, manager: str
    ) -> Iterator[tuple[list[dict[str, str]], str, dict[str, Any], str, str]]:
        """Stream an answer into the chat: outputs are (chat, textbox, state, sources, framework)."""
        from coach.guard import QuestionError

        chat = [_message(m) for m in chat or []]
        state = _copy_state(state)
        question = message or ""
        situation = {"level": level or "", "goal": goal or "", "manager": manager or ""}
        if question.strip():
            chat.append({"role": "user", "content": plain_markdown(question)})
        sources, framework = _searching(), ""
        yield [*chat], "", state, sources, framework
        streamed, last = "", 0.0
        try:
            for event in self.coach.ask_stream(question, list(state["turns"]), situation):
                if event.kind == "delta":
                    streamed += event.text
                    if time.monotonic() - last >= _STREAM_EVERY_S and streamed.strip():
                        last = time.monotonic()
                        yield [*chat, _bot(render_partial(streamed))], "", state, sources, framework
                elif event.kind == "final" and event.answer is not None:
                    answer = event.answer
                    chat.append(_bot(render_answer(answer)))
                    state["turns"] += [["user", question], ["assistant", answer.text]]
                    state["records"][str(len(chat) - 1)] = {
                        "question": question,
                        "answer": answer.text,
                        "citations": [c.url for c in answer.citations],
                    }
                    yield chat, "", state, render_sources(answer), render_framework(answer)
                    return
            raise RuntimeError("the answer stream ended without a final answer")
        except QuestionError as exc:
            chat.append(_bot(f'<div class="coach-warning">{html.escape(str(exc))}</div>'))
        except Exception:
            log.exception("answering failed")
            chat.append(_bot(f'<div class="coach-warning">{html.escape(ERROR_TEXT)}</div>'))
        yield chat, question, state, render_sources(None), ""

    def chat_api(
        self, message: str, history: list[Any] | None = None, level: str = "", goal: str = "", manager: str = ""
    ) -> dict[str, Any]:
        """Answer one message. history: [[role, text], …] (role 'user' or 'assistant') or
        [{"role", "content"}, …]. Returns the linked Markdown as `text`, plus citations (n, url,
        title, guest, quote, start, end), framework, notices and whether the coach declined."""
        from coach.guard import QuestionError

        try:
            final = None
            situation = {"level": level or "", "goal": goal or "", "manager": manager or ""}
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

    def on_like(self, state: dict[str, Any] | None, data: gr.LikeData) -> None:
        if self.feedback is None:
            return
        index = data.index[0] if isinstance(data.index, list | tuple) else data.index
        record = (state or {}).get("records", {}).get(str(index))
        vote = {True: "up", False: "down"}.get(data.liked) if isinstance(data.liked, bool) else str(data.liked or "")
        if record is None or not vote:
            return
        try:
            self.feedback.record(record["question"], record["answer"], list(record["citations"]), vote)
        except OSError:
            log.exception("could not save feedback")
            gr.Warning("Sorry — your feedback could not be saved.")
            return
        gr.Info("Thanks — your feedback was saved.")

    @staticmethod
    def reset() -> tuple[list[Any], str, dict[str, Any], str, str]:
        return [], "", new_state(), render_sources(None), ""


def _message(m: Any) -> dict[str, Any]:
    """A chat message as the dict Gradio sends back (or its ChatMessage form)."""
    return dict(m) if isinstance(m, Mapping) else {"role": m.role, "content": m.content}


def _bot(content: str) -> dict[str, str]:
    return {"role": "assistant", "content": content}


def _searching() -> str:
    return (
        '<div class="coach-sources coach-empty coach-searching"><div class="coach-panel-title">Sources</div>'
        "<p>Finding the passages that fit…</p></div>"
    )


def _copy_state(state: Mapping[str, Any] | None) -> dict[str, Any]:
    state = state or {}
    return {"turns": [list(t) for t in state.get("turns", [])], "records": dict(state.get("records", {}))}


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
    handlers = Handlers(coach, FeedbackLog(feedback_path) if feedback_path else None)

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
                            else "Advice comes only from the indexed episodes; nothing you type is stored."
                        )
                        + "</div>",
                        padding=False,
                    )
            with gr.Column(scale=5, min_width=320, elem_id="coach-side"):
                framework = gr.HTML("", elem_id="coach-framework", padding=False)
                sources = gr.HTML(render_sources(None), elem_id="coach-sources", padding=False)

        outputs = [chatbot, box, state, sources, framework]
        answer: dict[str, Any] = {
            "fn": handlers.respond,
            "inputs": [box, chatbot, state, level, goal, manager],
            "outputs": outputs,
            "api_visibility": "private",
            "show_progress_on": [chatbot],
        }
        box.submit(**answer)
        chatbot.example_select(_example_text, None, box, queue=False, api_visibility="private").then(**answer)
        new.click(handlers.reset, None, outputs, queue=False, api_visibility="private")
        chatbot.clear(handlers.reset, None, outputs, queue=False, api_visibility="private")  # its trash icon
        if handlers.feedback:
            chatbot.like(handlers.on_like, [state], None, queue=False, api_visibility="private")
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
        "footer_links": ["api"],
        "run_history": False,  # conversations about careers stay out of browser storage
        "show_error": False,
    }
    user, password = getattr(settings, "auth_user", None), getattr(settings, "auth_password", None)
    if user and password:
        options["auth"] = (user, password.get_secret_value())
        options["auth_message"] = "Sign in to Coach."
    return options


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
