"""The web app: escaped rendering, the `chat` API over a real server, many users at once, auth, the
`coach serve` command, and a real headless Chromium that streams answers, follows citation links to
the second, records feedback, and runs no script from a question or a source."""

from __future__ import annotations

import html
import itertools
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from coach import ui
from coach.types import Answer, Citation, FrameworkCard, StepCard
from tests.support import BUNDLED_URL, SENIOR, ProbeCoach, api_client, ask, free_port, open_page, serving

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
# The app's own citation link in a chat message: "[n]" named for screen readers, to the second of the episode.
CITE_LINK = re.compile(r'<a class="coach-cite" href="([^"]+)"[^>]*><span role="img" title="[^"]*">\\\[(\d+)\\\]</span></a>')
MANAGER = "My manager never talks about my career growth. What should I do?"
XSS = '<script>window.__pwned=1</script> How do I get past senior manager? <img src=x onerror="window.__pwned=1">'
# Gradio's queue statistics use pandas APIs that pandas 3 deprecates: noise, not ours.
pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")
# `server` (the app on a loopback port), `probe` (the Coach behind it) and `feedback_file`: tests/conftest.py.


# ---- rendering -------------------------------------------------------------------------------------
def _answer(text: str, **kw: Any) -> Answer:
    title, quote = 'Title <img src=x onerror="alert(1)">', "quote <script>x</script>"
    cit = Citation(1, "GB0P0_nFPTA", 1543, 1571, title, quote, guest="G&G")
    return Answer(text=text, citations=[cit], **kw)


def _cite_links(text: str) -> list[tuple[str, str]]:
    """(n, url) of each citation link in a chat message."""
    return [(n, html.unescape(url)) for url, n in CITE_LINK.findall(text)]


def test_markers_become_links_to_the_second_and_html_is_escaped() -> None:
    out = ui.render_answer(_answer("Do it <b>now</b> [1]. Not this [7].", notices=["Trimmed <i>it</i>."]))
    assert _cite_links(out) == [("1", "https://www.youtube.com/watch?v=GB0P0_nFPTA&t=1543s")]
    assert 'title="Source 1, 25:43, G&amp;G"' in out  # what a screen reader says for the link
    assert "\\[7\\]" in out  # a marker without a source stays literal text
    assert "<b>now</b>" not in out
    assert "&lt;b&gt;now&lt;/b&gt;" in out
    assert 'class="coach-notice"' in out
    assert "Trimmed &lt;i&gt;it&lt;/i&gt;." in out


def test_sources_and_framework_escape_source_text() -> None:
    answer = _answer("x [1]", framework=FrameworkCard(
        name="Loop <svg onload=alert(1)>", heading_path=("Loop <svg onload=alert(1)>", "Steps"),
        title="T", guest="G", video_id="GB0P0_nFPTA", score=0.7,
        steps=(StepCard(n=1, label="Ask <b>", text="Ask <b>: then \"act\"", start=362,
                        url="https://www.youtube.com/watch?v=GB0P0_nFPTA&t=362s"),
               StepCard(n=2, label="Bad", text="t", start=5, url="javascript:alert(1)")),
    ))  # fmt: skip
    sources = ui.render_sources(answer)
    assert "<img" not in sources
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in sources
    assert "<script>" not in sources
    assert "G&amp;G" in sources
    assert 'href="https://www.youtube.com/watch?v=GB0P0_nFPTA&amp;t=1543s" target="_blank"' in sources
    assert "▶ 25:43" in sources
    card = ui.render_framework(answer)
    assert "<svg" not in card
    assert "<b>" not in card
    assert 'href="https://www.youtube.com/watch?v=GB0P0_nFPTA&amp;t=362s"' in card
    assert "6:02" in card
    assert "javascript:" not in card  # a URL that is not a YouTube timestamp link is not linked
    refused = _answer("My sources don't cover that.", refused=True)
    assert 'class="coach-source"' not in ui.render_sources(refused)
    assert "No sources" in ui.render_sources(refused)
    assert ui.render_framework(refused) == ""


def test_user_text_is_shown_literally() -> None:
    shown = ui.plain_markdown("**hi** <script>x</script> [a](javascript:alert(1))")
    assert shown == r"\*\*hi\*\* &lt;script&gt;x&lt;/script&gt; \[a\](javascript\:alert(1))"


# ---- handlers (the functions the page calls) ------------------------------------------------------
def test_answer_streams_then_final_has_links_and_sources(bundled) -> None:  # type: ignore[no-untyped-def]
    handlers = ui.Handlers(bundled)
    steps = list(handlers.respond(SENIOR, [], ui.new_state(), "Senior manager", "", ""))
    assert len(steps) >= 4  # the question and a "searching" line at once, growing text, then the checked answer
    first_chat, box, *_ = steps[0]
    assert first_chat[0] == {"role": "user", "content": SENIOR}
    assert "Searching the episodes" in first_chat[1]["content"]
    assert box == ""
    shown = [re.sub(r"<[^>]+>", "", s[0][-1]["content"]) for s in steps[1:-1]]  # the text, without link tags
    assert len({len(x) for x in shown}) >= 2  # the answer grows before it is final
    assert all(b.startswith(a) for a, b in itertools.pairwise(shown))
    chat, box, state, sources, framework = steps[-1]
    assert [m["role"] for m in chat] == ["user", "assistant"]
    links = _cite_links(chat[-1]["content"])
    assert links
    assert all(BUNDLED_URL.match(u) for _, u in links)
    assert sources.count('class="coach-source"') == len({n for n, _ in links})
    assert "Senior Manager Plateau" in framework
    direct = bundled.ask(SENIOR, situation={"level": "Senior manager"})
    assert state["turns"] == [["user", SENIOR], ["assistant", direct.text]]
    record = {"question": SENIOR, "answer": direct.text, "citations": [c.url for c in direct.citations]}
    assert {k: v for k, v in state["records"]["1"].items() if k != "id"} == record
    assert re.fullmatch(r"[0-9a-f]{32}", state["records"]["1"]["id"])


def test_errors_are_friendly_and_never_a_traceback(bundled) -> None:  # type: ignore[no-untyped-def]
    handlers = ui.Handlers(ProbeCoach(bundled))
    *_, (chat, box, state, _, _) = handlers.respond("   ", [], ui.new_state(), "", "", "")
    assert chat[-1]["role"] == "assistant"
    assert "Please describe your situation" in chat[-1]["content"]
    assert state["turns"] == []
    *_, (chat, box, state, _, _) = handlers.respond("EXPLODE please", [], ui.new_state(), "", "", "")
    assert ui.ERROR_TEXT in chat[-1]["content"]
    assert "secret" not in chat[-1]["content"]
    assert "Traceback" not in chat[-1]["content"]
    assert box == "EXPLODE please"  # the question is given back to retry


def test_feedback_is_opt_in(bundled, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    import gradio as gr

    def like_events(demo: gr.Blocks) -> int:
        return sum(1 for fn in demo.fns.values() for _, event in fn.targets if event == "like")

    assert like_events(ui.build_app(bundled)) == 0  # no path: no thumbs at all
    path = tmp_path / "fb" / "votes.jsonl"
    coach = ProbeCoach(bundled, bundled.settings.model_copy(update={"feedback_path": path}))
    assert like_events(ui.build_app(coach)) == 1
    handlers = ui.Handlers(coach, ui.FeedbackLog(path))
    *_, (_, _, state, _, _) = handlers.respond(MANAGER, [], ui.new_state(), "", "", "")
    *_, (_, _, other, _, _) = handlers.respond(SENIOR, [], ui.new_state(), "", "", "")

    def rows() -> list[dict[str, Any]]:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    note = handlers.on_like(state, gr.LikeData(None, {"index": 1, "value": ["…"], "liked": True}))
    assert "Thanks — noted" in note
    assert handlers.on_like(state, gr.LikeData(None, {"index": 0, "value": ["…"], "liked": True})) == ""  # own line
    handlers.on_like(other, gr.LikeData(None, {"index": 1, "value": ["…"], "liked": True}))
    handlers.on_like(state, gr.LikeData(None, {"index": 1, "value": ["…"], "liked": False}))  # changed: up → down
    assert len(rows()) == 2  # one row per answer: the changed vote replaced its row
    mine = next(r for r in rows() if r["question"] == MANAGER)
    assert mine["vote"] == "down"
    assert mine["citations"]
    assert all(BUNDLED_URL.match(u) for u in mine["citations"])
    assert set(mine) == {"id", "ts", "question", "answer", "citations", "vote"}
    assert next(r for r in rows() if r["question"] == SENIOR)["vote"] == "up"  # the other answer's row is kept
    note = handlers.on_like(state, gr.LikeData(None, {"index": 1, "value": ["…"], "liked": ""}))  # vote withdrawn
    assert "removed" in note
    assert [r["question"] for r in rows()] == [SENIOR]


# ---- the chat API over a real server ---------------------------------------------------------------
def test_chat_api_answers_with_links_to_the_second(server: str, bundled) -> None:  # type: ignore[no-untyped-def]
    client = api_client(server)
    result = client.predict(SENIOR, [], "", "", "", api_name="/chat")
    assert not result["refused"]
    assert result["answer"] == bundled.ask(SENIOR).text
    urls = [c["url"] for c in result["citations"]]
    assert urls
    assert all(BUNDLED_URL.match(u) for u in urls)
    links = _cite_links(result["text"])
    assert {int(n) for n, _ in links} == {c["n"] for c in result["citations"]}
    assert all(BUNDLED_URL.match(u) for _, u in links)
    assert result["framework"]
    assert all(BUNDLED_URL.match(s["url"]) for s in result["framework"]["steps"])

    # Multi-turn: the history sent is the one used (the follow-up means something else without it).
    first = client.predict(MANAGER, [], "", "", "", api_name="/chat")
    history = [["user", MANAGER], ["assistant", first["answer"]]]
    with_history, alone = bundled.ask("What should I do first?", history), bundled.ask("What should I do first?")
    assert with_history.text != alone.text
    follow = client.predict("What should I do first?", history, "", "", "", api_name="/chat")
    assert follow["answer"] == with_history.text

    off_topic = client.predict("What's a good recipe for lasagna?", api_name="/chat")
    assert off_topic["refused"]
    assert off_topic["citations"] == []
    assert "youtube.com" not in off_topic["text"]

    long = client.predict("How do I get past senior manager? " + "Really. " * 600, api_name="/chat")
    assert long["notices"]  # the message was trimmed, and the answer says so in small print
    assert all(f'<div class="coach-notice"><b>Note:</b> {html.escape(n)}</div>' in long["text"] for n in long["notices"])


def _question_error(bundled: Any, *args: Any) -> str:
    from coach.guard import QuestionError

    with pytest.raises(QuestionError) as info:
        bundled.ask(*args)
    return str(info.value)


def test_chat_api_errors_are_readable(server: str, bundled) -> None:  # type: ignore[no-untyped-def]
    from gradio_client.exceptions import AppError

    client = api_client(server)
    with pytest.raises(AppError, match=re.escape(_question_error(bundled, "  "))):
        client.predict("  ", api_name="/chat")
    with pytest.raises(AppError, match=re.escape(_question_error(bundled, "And then?", [["boss", "do it"]]))):
        client.predict("And then?", [["boss", "do it"]], api_name="/chat")
    with pytest.raises(AppError) as info:
        client.predict("EXPLODE", api_name="/chat")
    assert str(info.value) == ui.ERROR_TEXT  # no internals leak


def test_eight_simultaneous_conversations_stay_apart(server: str, probe: ProbeCoach, bundled) -> None:  # type: ignore[no-untyped-def]
    questions = [
        SENIOR, MANAGER, "How do I stand out in a job interview?", "How can I become more inventive at work?",
        "Who is Ethan Evans and what's his background?", "Why do people get stuck at the senior manager level?",
        "How do I tell my manager what my career goals are?",
        "How many steps does the Magic Loop have, and what comes first?",
    ]  # fmt: skip
    levels = [f"level {i}" for i in range(8)]
    expected = [bundled.ask(q, situation={"level": lv}) for q, lv in zip(questions, levels, strict=True)]
    assert len({a.text for a in expected}) == 8
    assert not any(a.refused for a in expected)
    clients = [api_client(server) for _ in questions]
    start = threading.Barrier(len(questions))
    results: dict[int, Any] = {}

    def converse(i: int) -> None:
        start.wait()
        results[i] = clients[i].predict(questions[i], [], levels[i], "", "", api_name="/chat")

    probe.delay, probe.peak = 1.0, 0  # each answer holds its slot for a second, so overlap is certain
    try:
        threads = [threading.Thread(target=converse, args=(i,)) for i in range(len(questions))]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        probe.delay = 0.0
    assert probe.peak >= 8, f"only {probe.peak} answers ran at once"
    for i, answer in enumerate(expected):
        assert results[i]["answer"] == answer.text, f"conversation {i} got another conversation's answer"
        assert [c["url"] for c in results[i]["citations"]] == [c.url for c in answer.citations]


def test_auth_when_configured(bundled) -> None:  # type: ignore[no-untyped-def]
    from gradio_client.exceptions import AuthenticationError
    from pydantic import SecretStr

    settings = bundled.settings.model_copy(update={"auth_user": "ada", "auth_password": SecretStr("s3cret-pass")})
    with serving(ProbeCoach(bundled, settings)) as url:
        with pytest.raises(AuthenticationError):
            api_client(url)
        with pytest.raises(ValueError, match="Could not login"):
            api_client(url, auth=("ada", "wrong"))
        result = api_client(url, auth=("ada", "s3cret-pass")).predict(SENIOR, api_name="/chat")
        assert result["citations"]


def test_coach_serve_command_binds_loopback_and_prints_url(bundled) -> None:  # type: ignore[no-untyped-def]
    import httpx

    port = free_port()
    env = {
        **os.environ,
        "COACH_STORE_DIR": str(bundled.settings.store_dir),
        "COACH_CACHE_DIR": str(bundled.settings.cache_dir),
        "PYTHONUNBUFFERED": "1",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "coach.cli", "serve", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline, line = time.monotonic() + 90, ""
        while time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline() if proc.stdout else ""
            if "running at" in line:
                break
        assert f"http://127.0.0.1:{port}/" in line, line
        assert httpx.get(f"http://127.0.0.1:{port}/", timeout=10).status_code == 200
        listening = subprocess.run(["ss", "-ltn"], capture_output=True, text=True).stdout
        bound = [ln for ln in listening.splitlines() if f":{port} " in ln]
        assert bound, listening
        assert all("127.0.0.1:" in ln for ln in bound), bound
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


# ---- a real browser --------------------------------------------------------------------------------
@pytest.mark.browser
def test_browser_answer_with_citations_sources_framework_and_feedback(
    server: str, browser: Any, feedback_file: Path
) -> None:
    with open_page(browser, server) as tab:
        page = tab.page
        assert "every claim linked to the second" in page.inner_text(".coach-header")
        assert page.get_by_text(SENIOR).count() >= 1  # example prompts on the empty chat
        answer = ask(page, SENIOR, 0)
        page.wait_for_selector("#coach-chat a[href*='youtube.com/watch']")
        links = answer.locator("a[href*='youtube.com/watch']")
        assert links.count() >= 3
        first = links.first
        assert re.search(r"youtube\.com/watch\?v=GB0P0_nFPTA&t=\d+s$", first.get_attribute("href") or "")
        assert first.inner_text().strip() == "[1]"
        assert first.get_attribute("target") == "_blank"
        assert "noopener" in (first.get_attribute("rel") or "")

        cards = page.locator("#coach-sources .coach-source")
        assert cards.count() >= 3
        card = cards.first
        assert "Ethan Evans" in card.inner_text()
        assert "Career development" in card.inner_text()
        assert BUNDLED_URL.match(card.locator("a.coach-time").get_attribute("href") or "")
        assert re.fullmatch(r"▶ \d+:\d\d", card.locator("a.coach-time").inner_text().strip())

        framework = page.locator("#coach-framework .coach-framework")
        assert "Senior Manager Plateau" in framework.locator("h3").inner_text()
        steps = framework.locator(".coach-step")
        assert steps.count() >= 3
        assert all(BUNDLED_URL.match(steps.nth(i).locator("a").get_attribute("href") or "") for i in range(steps.count()))

        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.evaluate("() => document.querySelector('#coach-chat [role=log]').scrollTo(0, 0)")
        page.screenshot(path=str(ARTIFACTS / "ui-answer.png"))

        before = feedback_file.read_text(encoding="utf-8").splitlines() if feedback_file.exists() else []
        page.locator("#coach-chat button[aria-label='Like']").last.click()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and len(
            feedback_file.read_text(encoding="utf-8").splitlines() if feedback_file.exists() else []
        ) == len(before):
            time.sleep(0.1)
        row = json.loads(feedback_file.read_text(encoding="utf-8").splitlines()[-1])
        assert row["vote"] == "up"
        assert row["question"] == SENIOR
        assert row["citations"]
        assert all(BUNDLED_URL.match(u) for u in row["citations"])
        assert not tab.external, tab.external  # nothing fetched from outside (fonts, CDNs, analytics)
        assert not tab.errors, tab.errors


@pytest.mark.browser
def test_browser_multi_turn_situation_and_new_conversation(server: str, browser: Any, probe: ProbeCoach) -> None:
    with open_page(browser, server) as tab:
        page = tab.page
        page.locator("#coach-intake").get_by_text("Your situation").click()
        page.get_by_label("Level / role").fill("Senior engineer")
        ask(page, MANAGER, 0)
        assert probe.calls[-1]["situation"]["level"] == "Senior engineer"
        follow = ask(page, "What should I do first?", 1)
        assert follow.locator("a[href*='youtube.com/watch']").count() >= 1  # answered, thanks to the history
        assert [t[0] for t in probe.calls[-1]["history"]] == ["user", "assistant"]
        assert probe.calls[-1]["history"][0][1] == MANAGER
        page.screenshot(path=str(ARTIFACTS / "ui-follow-up.png"))

        page.locator("#coach-new").click()
        page.wait_for_function("() => !document.querySelector(\"#coach-chat [data-testid='bot']\")")
        assert page.locator("#coach-sources .coach-source").count() == 0
        assert page.locator("#coach-framework .coach-framework").count() == 0
        ask(page, SENIOR, 0)
        assert probe.calls[-1]["history"] == []  # a new conversation starts clean


@pytest.mark.browser
def test_browser_runs_no_script_from_a_question(server: str, browser: Any, bundled) -> None:  # type: ignore[no-untyped-def]
    with open_page(browser, server) as tab:
        page = tab.page
        answer = ask(page, XSS, 0)
        assert answer.locator("a[href*='youtube.com/watch']").count() >= 1
        user = page.locator("#coach-chat [data-testid='user']").last.inner_text()
        assert '<img src=x onerror="window.__pwned=1">' in user
        assert "<script>" in user
        assert page.evaluate("() => window.__pwned") is None
        assert page.locator("#coach-chat img[src='x'], #coach-chat script").count() == 0

        failed = ask(page, 'EXPLODE <img src=x onerror="window.__pwned=1">', 1)
        assert ui.ERROR_TEXT in failed.inner_text()
        assert "secret" not in failed.inner_text()
        assert page.evaluate("() => window.__pwned") is None
        page.fill("#coach-input textarea", "")
        page.keyboard.press("Enter")
        empty = _question_error(bundled, "")
        page.wait_for_function("text => document.body.innerText.includes(text)", arg=empty, timeout=15000)
        assert not tab.errors, tab.errors


@pytest.mark.browser
def test_browser_runs_no_script_from_a_source(browser: Any, settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from coach import Coach

    data = tmp_path / "data"
    data.mkdir()
    (data / "planted.md").write_text(
        "---\ntitle: 'Raises <img src=x onerror=\"window.__pwned=1\"> episode'\nvideoId: AAAAAAAAAAA\n---\n\n"
        "## Negotiating a raise\n"
        "Ask for a raise after a strong quarter, with evidence of your impact "
        '&lt;img src=x onerror="window.__pwned=1"&gt; [00:01:00].\n'
        "Bring numbers to the meeting so the raise is easy to approve [00:01:20].\n",
        encoding="utf-8",
    )
    coach = Coach.open(settings=settings.model_copy(update={"data_dir": data}))
    # the question the planted sentence answers best, so the payload really reaches the page as data
    question = "When is a good time to ask for a raise, after a strong quarter?"
    direct = coach.ask(question)
    assert any("<img" in c.title for c in direct.citations)
    assert any("<img" in c.quote for c in direct.citations)
    with serving(coach) as url, open_page(browser, url) as tab:
        page = tab.page
        answer = ask(page, question, 0)
        assert re.search(r"watch\?v=AAAAAAAAAAA&t=\d+s$", answer.locator("a").first.get_attribute("href") or "")
        assert page.evaluate("() => window.__pwned") is None
        assert page.evaluate("() => window.pwned") is None  # Markdown may eat the underscores
        assert page.locator("img[src='x']").count() == 0  # never an element …
        assert "<img src=x onerror=" in page.locator("#coach-sources").inner_text()  # … but shown, as text
        assert "<img src=x" in answer.inner_text()
        assert not tab.errors, tab.errors
