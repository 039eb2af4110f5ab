"""Phone and small-laptop layouts (issue 15, point 3), from the DOM geometry of a real Chromium: the input
on screen without scrolling, on load and after an answer; no horizontal overflow; on a phone the sources
under the chat and no scroll box but the chat log. Screenshots go to tests/artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import SENIOR, serving

pytestmark = [pytest.mark.browser, pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
GEOMETRY = """() => {
  const input = document.querySelector('#coach-input textarea').getBoundingClientRect();
  const chat = document.querySelector('#coach-chat').getBoundingClientRect();
  const side = document.querySelector('#coach-side').getBoundingClientRect();
  const log = document.querySelector('#coach-chat .bubble-wrap');
  const boxes = [...document.querySelectorAll('body *')].filter(e => {
    const s = getComputedStyle(e);
    return /(auto|scroll)/.test(s.overflowY) && e.scrollHeight > e.clientHeight + 2 && e.clientHeight > 40 && e !== log;
  }).map(e => e.id || e.className.toString().slice(0, 40));
  return {width: innerWidth, height: innerHeight, scrollY: scrollY, scrollWidth: document.documentElement.scrollWidth,
          inputTop: input.top, inputBottom: input.bottom, chatBottom: chat.bottom, chatWidth: chat.width,
          sideTop: side.top, boxes: boxes};
}"""


@pytest.fixture(scope="module")
def server(bundled) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app on the bundled Coach itself, without feedback (in place of tests/conftest.py's `server`)."""
    with serving(bundled) as url:
        yield url


@pytest.mark.parametrize(("width", "height"), [(390, 844), (1280, 720)])
def test_the_input_stays_on_screen_and_nothing_overflows(server: str, browser: Any, width: int, height: int) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    try:
        page.goto(server)
        page.wait_for_selector("#coach-input textarea")
        page.wait_for_timeout(800)  # let the welcome and fonts settle
        seen = {"load": page.evaluate(GEOMETRY)}
        page.screenshot(path=str(ARTIFACTS / f"layout-{width}x{height}-load.png"))
        page.fill("#coach-input textarea", SENIOR)
        page.keyboard.press("Enter")
        page.wait_for_function(
            """() => document.querySelectorAll("#coach-chat [data-testid='bot']").length > 0
                     && !document.querySelector('#coach-sources .coach-searching')""",
            timeout=60000,
        )
        page.wait_for_timeout(800)
        seen["answer"] = page.evaluate(GEOMETRY)
        page.screenshot(path=str(ARTIFACTS / f"layout-{width}x{height}-answer.png"), full_page=True)
    finally:
        context.close()
    for moment, g in seen.items():
        where = f"{width}x{height} on {moment}: {g}"
        assert g["scrollY"] == 0, where
        assert g["inputTop"] >= 0, f"input above the screen; {where}"
        assert g["inputBottom"] <= height, f"input below the fold; {where}"
        assert g["scrollWidth"] <= width, f"horizontal overflow; {where}"
        if width < 720:
            assert g["boxes"] == [], f"a scroll box besides the chat log; {where}"
            assert g["sideTop"] >= g["chatBottom"], f"the sources must sit under the chat; {where}"
            assert g["chatWidth"] >= width - 24, f"the chat must use the phone's width; {where}"
