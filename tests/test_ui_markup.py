"""Pure tests of what reaches the page: escaped Markdown read back by an independent renderer (markdown-it,
CommonMark), the composer's structure kept, and the sign-in throttle on an injected clock."""

from __future__ import annotations

import html
import re

import pytest
from markdown_it import MarkdownIt

from coach import markup
from coach.gate import SignInThrottle
from coach.types import Answer, Citation

PAYLOADS = [
    "![raise](http://127.0.0.1:9/x.png) and [there](https://example.invalid/login)",
    "[x](javascript:alert(1)) <img src=x onerror=alert(1)> <a href='https://example.invalid'>a</a>",
    "<https://example.invalid/auto> www.example.invalid mail@example.invalid https://example.invalid/bare",
    "[ref]\n\n[ref]: https://example.invalid/ref",
    "# heading\n- item\n1. one\n> quote\n    code\n***\n| a | b |\n|---|---|\n~~gone~~ `code` $x$ **bold** _it_",
    "&lt;img src=x&gt; &amp; \\[escaped\\] a\\\\b",
]
_MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])


def _text_of(rendered: str) -> str:
    """The text a reader sees in rendered HTML (tags dropped, entities decoded, line structure ignored)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", rendered)).split())


@pytest.mark.parametrize("payload", PAYLOADS)
def test_literal_renders_exactly_the_characters_and_no_markup(payload: str) -> None:
    rendered = _MD.render(markup.literal(payload))
    assert re.findall(r"<(\w+)", rendered) == ["p"] * rendered.count("<p>")  # paragraphs only: no a, img, h1, li…
    assert _text_of(rendered) == " ".join(payload.split())


def test_bare_urls_and_addresses_are_broken_for_gfm_autolinks() -> None:
    """CommonMark has no bare-URL links, but the chat's GFM does: the scheme colon, 'www.' and '@' are escaped."""
    shown = markup.literal("see https://example.invalid/a, www.example.invalid and me@example.invalid")
    assert "https\\://example.invalid" in shown
    assert "www\\.example" in shown
    assert "me\\@example" in shown


def _cite(n: int, video: str = "GB0P0_nFPTA", start: int = 62, guest: str = "Ethan Evans") -> Citation:
    return Citation(n, video, start, start + 5, "Career development", "q", guest=guest)


def test_answer_keeps_the_composers_structure_and_escapes_the_quotes() -> None:
    text = (
        "You want ![me](http://127.0.0.1:9/me.png) promoted.\n\n"
        "**Start here (step 2 of [The](https://example.invalid) Loop):** "
        "Ask your boss [there](https://example.invalid) [1].\n"
        "**Why it works:** Managers rarely get asked www.example.invalid [2]. **Start there.**\n\n"
        "**Then:**\n- **Ada <b>Lovelace</b>:** Do whatever they ask [3].\n1. Follow through [9]."
    )
    answer = Answer(text=text, citations=[_cite(1), _cite(2, start=1057), _cite(3, start=415)])
    rendered = _MD.render(markup.render_answer(answer))
    hrefs = re.findall(r'href="([^"]*)"', rendered)
    assert [html.unescape(h) for h in hrefs] == [
        "https://www.youtube.com/watch?v=GB0P0_nFPTA&t=62s",
        "https://www.youtube.com/watch?v=GB0P0_nFPTA&t=1057s",
        "https://www.youtube.com/watch?v=GB0P0_nFPTA&t=415s",
    ]
    assert "<img" not in rendered
    assert "<b>" not in rendered
    assert re.findall(r"<strong>(.*?)</strong>", rendered) == [
        "Start here (step 2 of [The](https://example.invalid) Loop):",
        "Why it works:",
        "Start there.",
        "Then:",
        "Ada &lt;b&gt;Lovelace&lt;/b&gt;:",
    ]
    assert rendered.count("<li>") == 2  # the bullet and the numbered line the composer wrote
    assert "[9]" in _text_of(rendered)  # a marker with no citation stays text
    assert 'title="Source 2, 17:37, Ethan Evans"' in rendered


def test_a_citation_with_a_foreign_url_is_not_linked() -> None:
    odd = Citation(1, "x", 5, 6, "T", "q")
    object.__setattr__(odd, "video_id", "x&t=1s#javascript:alert(1)")  # a URL the app would never build
    rendered = _MD.render(markup.render_answer(Answer(text="Do it [1].", citations=[odd])))
    assert "href" not in rendered
    assert "[1]" in _text_of(rendered)


def test_link_names_say_which_source_when_and_who() -> None:
    assert markup.source_label(_cite(3, start=1057)) == "Source 3, 17:37, Ethan Evans"
    approx = Citation(4, "v", 62, 70, "Episode title", "q", approximate=True)
    assert markup.source_label(approx) == "Source 4, about 1:02, Episode title"


def test_notices_are_inert_inside_their_html_block() -> None:
    answer = Answer(text="x", notices=["Trimmed [a](https://example.invalid) <img src=x> www.example.invalid"])
    rendered = _MD.render(markup.render_answer(answer))
    assert "href" not in rendered
    assert "<img" not in rendered
    assert "Trimmed [a](https://example.invalid) <img src=x> www.example.invalid" in html.unescape(rendered)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_throttle_refuses_the_sixth_wrong_try_then_allows_one_after_the_wait() -> None:
    clock = Clock()
    throttle = SignInThrottle(max_failures=5, lockout_s=30, clock=clock)
    for _ in range(5):
        assert throttle.begin("a") == 0
        throttle.end("a", ok=False)
    assert throttle.begin("a") == pytest.approx(30)
    assert throttle.begin("b") == 0  # another client is not affected
    clock.now += 29
    assert throttle.begin("a") == pytest.approx(1)
    clock.now += 1.5
    assert throttle.begin("a") == 0  # one try after the wait …
    assert throttle.begin("a") > 0  # … and only one at a time
    throttle.end("a", ok=True)
    for _ in range(4):  # a right password starts the count afresh
        assert throttle.begin("a") == 0
        throttle.end("a", ok=False)


def test_throttle_counts_guesses_sent_in_parallel() -> None:
    throttle = SignInThrottle(max_failures=5, lockout_s=30, clock=Clock())
    started = [throttle.begin("a") for _ in range(8)]
    assert started.count(0) == 5
