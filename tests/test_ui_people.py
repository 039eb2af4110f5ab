"""The chat as people meet it, in a real headless Chromium on a real server: planted Markdown never becomes
markup, a visible 'searching' line and growing text, WCAG AA contrast, named input and links, focus order and
keyboard send, confirmed feedback whose changed vote replaces its row; and a shared deployment that throttles
sign-in per client and refuses uploads."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support import ANY_YT_URL, BUNDLED_URL, SENIOR, ProbeCoach, ask, open_page, serving

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
FIRST_CONTENT_MS = 300  # the bar: something visible in the chat this soon after Enter
AA = 4.5
CONTRAST_JS = r"""
() => {
  // WCAG 2 contrast of every visible text (and placeholder) against its effective background.
  const parse = (c) => {
    if (!c || c === "transparent") return null;
    let m = c.match(/^rgba?\(([^)]+)\)/);
    if (m) {
      const p = m[1].split(/[\s,\/]+/).filter(Boolean).map(Number);
      return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
    }
    m = c.match(/^color\(srgb ([^)]+)\)/);
    if (m) {
      const p = m[1].split(/[\s\/]+/).filter(Boolean).map(Number);
      return [p[0] * 255, p[1] * 255, p[2] * 255, p.length > 3 ? p[3] : 1];
    }
    return "unparsed:" + c;
  };
  const over = (top, bottom) => {
    const a = top[3];
    return [0, 1, 2].map((i) => top[i] * a + bottom[i] * (1 - a)).concat([1]);
  };
  const lum = (c) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(c[0]) + 0.7152 * f(c[1]) + 0.0722 * f(c[2]);
  };
  const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
  const problems = [];
  // The backgrounds behind an element: the composited colour, plus every gradient stop on the way (worst case).
  const backgrounds = (el) => {
    const layers = [];
    let stops = [];
    for (let e = el; e; e = e.parentElement) {
      const cs = getComputedStyle(e);
      const img = cs.backgroundImage;
      if (img && img !== "none" && img.includes("gradient")) {
        stops = stops.concat((img.match(/rgba?\([^)]+\)/g) || []).map(parse));
      }
      const c = parse(cs.backgroundColor);
      if (typeof c === "string") problems.push(c);
      else if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let bg = [255, 255, 255, 1];
    for (const l of layers.reverse()) bg = over(l, bg);
    return [bg].concat(stops.filter((s) => Array.isArray(s)).map((s) => over(s, bg)));
  };
  const opacity = (el) => {
    let o = 1;
    for (let e = el; e; e = e.parentElement) o *= Number(getComputedStyle(e).opacity);
    return o;
  };
  const visible = (el) => {
    const r = el.getBoundingClientRect();
    if (r.width <= 1 || r.height <= 1) return false;  // visually hidden (screen-reader only) text
    const cs = getComputedStyle(el);
    return cs.visibility !== "hidden" && cs.display !== "none" && opacity(el) > 0.05;
  };
  const results = [];
  const check = (el, color, what) => {
    const fg = parse(color);
    if (typeof fg === "string" || !fg) { problems.push(String(fg) + " on " + what); return; }
    const eff = [fg[0], fg[1], fg[2], fg[3] * opacity(el)];
    const worst = Math.min(...backgrounds(el).map((bg) => ratio(over(eff, bg), bg)));
    const id = el.id || el.className?.toString().slice(0, 60) || el.tagName;
    results.push({ what, ratio: Math.round(worst * 100) / 100, color, id });
  };
  for (const el of document.querySelectorAll("body *")) {
    if (["SCRIPT", "STYLE", "NOSCRIPT", "TEMPLATE", "svg", "path"].includes(el.tagName)) continue;
    if (el.closest("button:disabled, [aria-disabled='true'], [inert]")) continue;  // WCAG: inactive controls exempt
    const own = [...el.childNodes].filter((n) => n.nodeType === 3).map((n) => n.textContent).join("").trim();
    if (own && visible(el)) check(el, getComputedStyle(el).color, own.slice(0, 50));
    if ((el.tagName === "TEXTAREA" || el.tagName === "INPUT") && visible(el)) {
      if (el.value) check(el, getComputedStyle(el).color, "value of " + (el.getAttribute("aria-label") || el.placeholder));
      else if (el.placeholder) check(el, getComputedStyle(el, "::placeholder").color, "placeholder " + el.placeholder);
    }
  }
  return { results, problems };
}
"""


# ---- fixtures (`server`, `probe` and `feedback_file` come from tests/conftest.py) --------------------
class _Host(BaseHTTPRequestHandler):
    hits: list[str]

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def planted_host() -> Iterator[tuple[str, list[str]]]:
    """A loopback host the planted Markdown points at; it records every request that reaches it."""
    hits: list[str] = []
    handler = type("Host", (_Host,), {"hits": hits})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", hits
    finally:
        server.shutdown()


# ---- 1. nothing from a source or a person becomes markup ----------------------------------------------
@pytest.mark.browser
def test_planted_markdown_never_becomes_an_image_a_link_or_a_tag(
    browser: Any, planted_host: tuple[str, list[str]], tmp_path_factory: pytest.TempPathFactory, cache_dir: Path
) -> None:
    from coach import Coach
    from coach.settings import Settings

    host, hits = planted_host
    data = tmp_path_factory.mktemp("planted-md") / "data"
    data.mkdir()
    (data / "raises.md").write_text(
        f"---\ntitle: 'Raises ![t]({host}/title.png) [t](https://example.invalid/title)'\nvideoId: BBBBBBBBBBB\n---\n\n"
        f"## Negotiating a raise ![h]({host}/heading.png)\n\n"
        "### Steps to a raise\n"
        f"1. **Collect evidence ![s]({host}/step.png)** [00:00:30]: "
        "Keep a list of wins [there](https://example.invalid/s) [00:00:40].\n"
        "2. **Pick the moment** [00:00:50]: Ask for a raise right after a strong quarter [00:00:55].\n"
        "3. **Name a number** [00:01:05]: Say the figure first and then stop talking [00:01:10].\n\n"
        f"Ask for a raise after a strong quarter, with evidence of your impact ![raise]({host}/x.png) "
        "and log in [there](https://example.invalid/login) or [here](javascript:alert(1)) "
        f'<img src="{host}/raw.png"> at www.example.invalid or boss@example.invalid [00:01:00].\n'
        f"Bring numbers to the meeting so the raise is easy to approve <{host}/auto.png> [00:01:20].\n",
        encoding="utf-8",
    )
    settings = Settings(store_dir=data.parent / "store", cache_dir=cache_dir, data_dir=data)
    coach = Coach.open(settings=settings)
    question = f"When should I ask for a raise, and with what evidence? ![q]({host}/q.png) [q](https://example.invalid/q)"
    situation = {"level": f"![l]({host}/level.png)", "goal": "[g](https://example.invalid/goal) a raise", "manager": ""}
    direct = coach.ask(question, situation=situation)
    assert not direct.refused
    payload = "".join([direct.text, *(c.quote + c.title for c in direct.citations)])
    assert f"]({host}/x.png)" in payload  # the planted Markdown really reaches the page, as data
    assert "](https://example.invalid/login)" in payload
    assert direct.framework is not None
    assert host in "".join(s.label for s in direct.framework.steps) + direct.framework.title

    with serving(coach) as url, open_page(browser, url, allow=[host]) as tab:
        page = tab.page
        page.locator("#coach-intake").get_by_text("Your situation").click()
        page.get_by_label("Level / role").fill(situation["level"])
        page.get_by_label("Goal").fill(situation["goal"])
        answer = ask(page, question, 0)
        page.wait_for_timeout(500)  # time for any image request to leave
        assert hits == []  # the planted host was never asked for anything
        assert not [u for u in tab.external if "example.invalid" in u or u.startswith(host)], tab.external
        main = page.locator("#coach-main")
        assert main.locator("img").count() == 0
        hrefs = main.locator("a[href]").evaluate_all("els => els.map(a => a.getAttribute('href'))")
        assert hrefs  # the app's own links are there …
        assert all(ANY_YT_URL.match(h) for h in hrefs), hrefs  # … and they are the only ones
        assert re.search(r"watch\?v=BBBBBBBBBBB&t=\d+s$", answer.locator("a").first.get_attribute("href") or "")
        shown = page.locator("#coach-main").inner_text()
        assert f"![raise]({host}/x.png)" in shown  # shown literally, as the source wrote it
        assert "[there](https://example.invalid/login)" in shown
        assert f"![q]({host}/q.png)" in page.locator("#coach-chat [data-testid='user']").last.inner_text()
        assert "Collect evidence" in page.locator("#coach-framework").inner_text()
        assert not tab.errors, tab.errors


# ---- 2. streaming a person can see -------------------------------------------------------------------
WATCH_JS = """() => {
  window.__seen = [];
  document.querySelector('#coach-input textarea').addEventListener('keydown', e => {
    if (e.key === 'Enter' && !e.shiftKey) window.__enter = performance.now();
  }, {capture: true});
  const note = () => {
    const bots = document.querySelectorAll("#coach-chat [data-testid='bot']");
    const last = bots[bots.length - 1];
    const text = last ? last.innerText.trim() : '';
    const done = !document.querySelector('#coach-sources .coach-searching');
    const prev = window.__seen[window.__seen.length - 1];
    if (!prev || prev.text !== text || prev.done !== done) window.__seen.push({t: performance.now(), text, done});
  };
  new MutationObserver(note).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def _watch_one_answer(page: Any, question: str) -> dict[str, Any]:
    page.evaluate(WATCH_JS)
    page.fill("#coach-input textarea", question)
    page.keyboard.press("Enter")
    page.wait_for_function("() => window.__seen.some(s => s.done && s.text && !s.text.includes('Searching'))",
                           timeout=30000)  # fmt: skip
    seen = page.evaluate("() => window.__seen")
    enter = page.evaluate("() => window.__enter")
    first = next(s for s in seen if s["text"])
    words = next(s for s in seen if s["text"] and "Searching" not in s["text"])
    final = next(s for s in seen if s["done"] and s["text"] and "Searching" not in s["text"])
    growing = [s["text"] for s in seen if "Searching" not in s["text"] and s["text"] and s["t"] < final["t"]]
    return {
        "first_ms": first["t"] - enter,
        "first_text": first["text"],
        "words_ms": words["t"] - enter,
        "final_ms": final["t"] - enter,
        "lengths": sorted({len(t) for t in growing}),
        "growing": growing,
        "final": final["text"],
    }


@pytest.mark.browser
def test_a_searching_line_at_once_then_the_answer_grows(server: str, browser: Any) -> None:
    runs = []
    for question in (SENIOR, "How do I stand out in a job interview?"):  # each on a fresh page: a first visit
        with open_page(browser, server) as tab:
            runs.append(_watch_one_answer(tab.page, question))
    for r in runs:
        print(
            f"\nstreaming: first visible {r['first_ms']:.0f} ms ({r['first_text'][:40]!r}), first answer words "
            f"{r['words_ms']:.0f} ms, final {r['final_ms']:.0f} ms, {len(r['lengths'])} lengths before final"
        )
    for r in runs:
        assert r["first_text"].startswith("Searching the episodes")  # names what it is doing
        assert len(r["lengths"]) >= 2  # the text grows while the person watches
        assert all(r["final"].startswith(t.rstrip()[:-1]) for t in r["growing"])  # each version a start of the answer
    assert min(r["first_ms"] for r in runs) <= FIRST_CONTENT_MS, runs
    assert max(r["first_ms"] for r in runs) <= 3 * FIRST_CONTENT_MS, runs  # a busy shared machine, not a stall


# ---- 4. WCAG AA: contrast, names, focus order, keyboard ------------------------------------------------
def _contrast(page: Any, state: str, failures: list[str], ratios: list[float]) -> None:
    out = page.evaluate(CONTRAST_JS)
    assert not out["problems"], out["problems"]
    assert out["results"]
    ratios += [r["ratio"] for r in out["results"]]
    failures += [f"{state}: {r['ratio']} {r['color']} {r['id']!r}: {r['what']!r}" for r in out["results"] if r["ratio"] < AA]


@pytest.mark.browser
def test_every_text_meets_wcag_aa_contrast(server: str, browser: Any, probe: ProbeCoach) -> None:
    failures: list[str] = []
    ratios: list[float] = []
    with open_page(browser, server) as tab:
        page = tab.page
        _contrast(page, "empty page", failures, ratios)
        page.locator("#coach-intake").get_by_text("Your situation").click()
        page.get_by_label("Goal").wait_for()
        _contrast(page, "intake open (placeholders)", failures, ratios)
        probe.delay = 3.0
        try:
            page.fill("#coach-input textarea", SENIOR)
            page.keyboard.press("Enter")
            page.wait_for_selector("#coach-chat .coach-thinking")
            _contrast(page, "searching", failures, ratios)
        finally:
            probe.delay = 0.0
        page.wait_for_function("() => !document.querySelector('#coach-sources .coach-searching')", timeout=30000)
        ask(page, "How do I get past senior manager? " + "Really. " * 600, 1)  # trimmed: the answer has a notice
        page.wait_for_selector("#coach-chat .coach-notice")
        page.locator("#coach-chat button[aria-label='Like']").last.click()
        page.wait_for_selector("#coach-feedback-note .coach-thanks")
        _contrast(page, "answer, notice, sources, card, thanks", failures, ratios)
        ask(page, "EXPLODE", 2)
        page.wait_for_selector("#coach-chat .coach-warning")
        _contrast(page, "error", failures, ratios)
        page.screenshot(path=str(ARTIFACTS / "ui-contrast.png"), full_page=True)
    median = sorted(ratios)[len(ratios) // 2]
    print(f"\ncontrast: {len(ratios)} texts checked, lowest {min(ratios):.2f}:1, median {median}:1")
    assert not failures, "\n".join(failures)


@pytest.mark.browser
def test_named_input_and_links_focus_order_and_keyboard_send(server: str, browser: Any, probe: ProbeCoach) -> None:
    with open_page(browser, server) as tab:
        page = tab.page
        box = page.get_by_role("textbox", name="Describe your situation or ask a question")
        assert box.count() == 1
        assert box.evaluate("el => el === document.activeElement")  # focused on load: type at once
        page.keyboard.type("My manager never talks about my career growth.")
        page.keyboard.press("Shift+Enter")  # a new line, not a send
        page.keyboard.type("What should I do?")
        assert "\n" in box.input_value()
        calls = len(probe.calls)
        page.keyboard.press("Enter")  # sends
        page.wait_for_function(
            "() => !document.querySelector('#coach-sources .coach-searching') "
            "&& document.querySelector(\"#coach-chat [data-testid='bot'] a\")",
            timeout=30000,
        )
        assert len(probe.calls) == calls + 1
        assert probe.calls[-1]["question"] == "My manager never talks about my career growth.\nWhat should I do?"

        cites = page.locator("#coach-chat [data-testid='bot'] a.coach-cite")
        assert cites.count() >= 2
        for i in range(cites.count()):
            name = cites.nth(i).evaluate("a => a.innerText")
            n = re.fullmatch(r"\[(\d+)\]", name.strip()).group(1)  # type: ignore[union-attr]
            link = page.get_by_role("link", name=re.compile(rf"^Source {n}, \d+:\d\d, Ethan Evans$"))
            assert link.count() == 2  # the citation in the answer and the time link in the sources panel
        steps = page.locator("#coach-framework a.coach-time")
        assert steps.count() >= 3
        assert re.fullmatch(r"Step 1: .+, \d+:\d\d, Ethan Evans", steps.first.get_attribute("aria-label") or "")

        # Tab order follows the page: the question box, its send button, New conversation, then the card and sources.
        box.focus()
        order = []
        for _ in range(60):
            page.keyboard.press("Tab")
            order.append(
                page.evaluate("""() => { const e = document.activeElement;
                const r = e.getBoundingClientRect();
                return {tag: e.tagName, text: (e.innerText || e.getAttribute('aria-label') || '').trim().slice(0, 40),
                        id: e.id, cls: e.className.toString(), inSide: !!e.closest('#coach-side'),
                        inChat: !!e.closest('#coach-chat'), visible: r.width > 0 && r.height > 0}; }""")
            )
            if order[-1]["tag"] == "BODY" or "footer" in order[-1]["cls"]:
                break
        labels = [o["text"] for o in order]
        assert labels[0] == "Ask", labels  # the send button right after the box
        assert labels[1] == "New conversation", labels
        side = [i for i, o in enumerate(order) if o["inSide"]]
        assert side, labels
        assert side == list(range(side[0], side[0] + len(side)))  # the side column in one run, after the input
        assert next(o["text"] for o in order if o["inSide"]).startswith("▶")  # the card's first step, then sources
        assert all(o["visible"] for o in order if o["tag"] != "BODY"), order


@pytest.mark.browser
def test_thumbs_are_confirmed_and_a_changed_vote_replaces_its_row(server: str, browser: Any, feedback_file: Path) -> None:
    def rows() -> list[dict[str, Any]]:
        text = feedback_file.read_text(encoding="utf-8") if feedback_file.exists() else ""
        return [json.loads(x) for x in text.splitlines()]

    def wait_rows(check: Any) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not check(rows()):
            time.sleep(0.05)
        return rows()

    question = "How can I become more inventive at work?"
    with open_page(browser, server) as tab:
        page = tab.page
        ask(page, question, 0)
        before = [r for r in rows() if r["question"] != question]
        page.locator("#coach-chat button[aria-label='Like']").last.click()
        page.wait_for_function("() => document.querySelector('#coach-feedback-note').innerText.includes('Thanks — noted')")
        mine = [r for r in wait_rows(lambda rs: any(r["question"] == question for r in rs)) if r["question"] == question]
        assert [r["vote"] for r in mine] == ["up"]
        page.locator("#coach-chat button[aria-label='Dislike']").last.click()
        page.wait_for_function("() => document.querySelector('#coach-feedback-note').innerText.includes('did not help')")
        now = wait_rows(lambda rs: [r["vote"] for r in rs if r["question"] == question] == ["down"])
        assert [r["vote"] for r in now if r["question"] == question] == ["down"]  # replaced, not a second row
        assert [r for r in now if r["question"] != question] == before  # other rows untouched
        assert all(BUNDLED_URL.match(u) for r in now if r["question"] == question for u in r["citations"])


# ---- 5. a shared deployment that resists guessing -----------------------------------------------------
def _login(base: str, password: str, local: str = "127.0.0.1") -> Any:
    import httpx

    with httpx.Client(transport=httpx.HTTPTransport(local_address=local), timeout=10) as client:
        return client.post(f"{base}login", data={"username": "ada", "password": password})


def test_sign_in_is_throttled_per_client_and_the_right_password_works_after_the_wait(bundled) -> None:  # type: ignore[no-untyped-def]
    from pydantic import SecretStr

    settings = bundled.settings.model_copy(update={
        "auth_user": "ada", "auth_password": SecretStr("s3cret-pass"), "auth_max_attempts": 5, "auth_lockout_s": 2.0,
    })  # fmt: skip
    with serving(ProbeCoach(bundled, settings)) as url:
        started = time.monotonic()
        assert [_login(url, f"guess-{i}").status_code for i in range(5)] == [400] * 5
        sixth = _login(url, "guess-5")
        assert sixth.status_code == 429  # refused without being checked
        assert int(sixth.headers["retry-after"]) >= 1
        assert _login(url, "s3cret-pass").status_code == 429  # even the right one, until the wait is over
        assert _login(url, "s3cret-pass", local="127.0.0.2").status_code == 200  # another client is not held up
        assert time.monotonic() - started < 2.0  # all of this inside the lockout
        time.sleep(2.1)
        right = _login(url, "s3cret-pass")
        assert right.status_code == 200
        assert right.json() == {"success": True}


def test_uploads_are_refused(server: str, tmp_path: Path) -> None:
    import httpx

    big = tmp_path / "big.bin"
    big.write_bytes(b"\0" * (20 * 1024 * 1024))
    with httpx.Client(timeout=30) as client:
        with big.open("rb") as fh:
            large = client.post(f"{server}gradio_api/upload", files={"files": ("big.bin", fh)})
        small = client.post(f"{server}gradio_api/upload", files={"files": ("a.txt", b"hello")})
    assert large.status_code == 413
    assert small.status_code == 413  # the page has no upload component: nothing is accepted
    assert "path" not in large.text
    assert "no uploads" in small.json()["detail"]
