"""Profile, plan and check-in in the web app, on a real server with two signed-in users: through gradio_client (the
API) and through a real headless Chromium (the page). Nobody reads or writes another's rows; bad input and an edit
from a stale tab get a message and lose nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from coach.api import Coach
from tests.support import api_client, ask, serving

pytestmark = pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword).*")
MANAGER_Q = "My manager never talks about my career growth. What should I do?"
YT = "https://www.youtube.com/watch?v=GB0P0_nFPTA&t={}s"
USERS = {"ada": "ada-pass-1", "bob": "bob-pass-2"}


@pytest.fixture(scope="module")
def people_coach(bundled, tmp_path_factory: pytest.TempPathFactory) -> Coach:  # type: ignore[no-untyped-def]
    db = tmp_path_factory.mktemp("people") / "people.sqlite3"
    settings = bundled.settings.model_copy(update={
        "database_url": f"sqlite:///{db}", "auth_users": {k: SecretStr(v) for k, v in USERS.items()},
    })  # fmt: skip
    return Coach(settings, bundled.store, bundled.embedder)


@pytest.fixture(scope="module")
def server(people_coach: Coach) -> Iterator[str]:
    with serving(people_coach) as url:
        yield url


@pytest.fixture(autouse=True)
def _empty(people_coach: Coach) -> None:
    for user in USERS:
        people_coach.profiles.forget(user)


def test_api_two_users_never_cross(server: str, people_coach: Coach) -> None:
    from gradio_client.exceptions import AppError

    ada, bob = api_client(server, auth=("ada", USERS["ada"])), api_client(server, auth=("bob", USERS["bob"]))
    assert ada.predict(api_name="/profile") == {"profile": None}
    saved = ada.predict("senior engineer", "become a staff engineer", "", "", 0, api_name="/profile_save")
    assert saved["profile"]["level"] == "senior engineer"
    added = ada.predict("Ask your boss how you can help", "", "2027-01-15", api_name="/plan_add")["item"]
    assert (added["n"], added["url"]) == (1, YT.format(391))

    assert bob.predict(api_name="/profile") == {"profile": None}
    assert bob.predict(api_name="/plan") == {"items": []}
    with pytest.raises(AppError, match="There is no plan item 1"):
        bob.predict(1, "dropped", api_name="/plan_update")  # cannot write ada's item
    assert bob.predict(api_name="/forget_me") == {"deleted": 0}
    assert [i["status"] for i in ada.predict(api_name="/plan")["items"]] == ["open"]

    # The chat: the profile as parameters, or the saved one when they are left empty.
    with_saved = ada.predict(MANAGER_Q, [], "", "", "", "", api_name="/chat")
    assert "You're a senior engineer" in with_saved["answer"]
    assert "senior engineer" not in bob.predict(MANAGER_Q, [], "", "", "", "", api_name="/chat")["answer"]
    given = bob.predict(MANAGER_Q, [], "director", "", "", "", api_name="/chat")
    assert "You're a director" in given["answer"]

    # Bad input: a clear message, nothing lost.
    with pytest.raises(AppError, match="The note is 10,240 characters"):
        ada.predict(1, "", "n" * 10_240, api_name="/plan_update")
    with pytest.raises(AppError, match="not a date in the form YYYY-MM-DD"):
        ada.predict(1, "", None, "01/15/2027", api_name="/plan_update")
    with pytest.raises(AppError, match="changed in another tab"):
        ada.predict("principal", "", "", "", 0, api_name="/profile_save")  # version 0: made before the save
    assert ada.predict(api_name="/profile")["profile"]["level"] == "senior engineer"
    assert ada.predict(api_name="/plan")["items"][0]["remind_on"] == "2027-01-15"

    # The check-in, through the API.
    assert "How did it go" in ada.predict(api_name="/checkin")["text"]
    assert bob.predict(api_name="/checkin")["text"] == ""
    done = ada.predict("Done: I asked my boss and she gave me a project.", api_name="/checkin_reply")
    assert done["outcome"] == "done"
    assert done["added"]["step"] == "Do whatever they ask"
    assert done["citations"][0]["url"] == YT.format(415)
    assert ada.predict(api_name="/forget_me")["deleted"] == 3
    assert people_coach.profiles.profile("ada") is None


# ---- the page ----------------------------------------------------------------------------------------
@contextmanager
def signed_in(browser: Any, url: str, user: str) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1360, "height": 1000})
    page = context.new_page()
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(url.rstrip("/")) else r.abort())
    page.goto(url)
    page.get_by_label("username").fill(user)
    page.get_by_label("password").fill(USERS[user])
    page.get_by_role("button", name="Login").click()
    page.wait_for_selector("#coach-input textarea", timeout=30000)
    page.wait_for_selector("#coach-plan .coach-plan:not(.coach-loading)", timeout=30000)  # the person's own, loaded
    try:
        yield page
    finally:
        context.close()


def _open_intake(page: Any) -> None:
    page.locator("#coach-intake").get_by_text("Your situation").click()


def _plan_text(page: Any) -> str:
    return str(page.locator("#coach-plan").inner_text())


@pytest.mark.browser
def test_browser_profile_plan_and_check_in_per_user(server: str, browser: Any, people_coach: Coach) -> None:
    with signed_in(browser, server, "ada") as page:
        _open_intake(page)
        page.get_by_label("Level / role").fill("senior engineer")
        page.get_by_label("Anything else (optional)").fill("My team was reorganised last month.")
        page.locator("#coach-save-profile").click()
        page.wait_for_selector("#coach-profile-note:has-text('Profile saved')")
        answer = ask(page, MANAGER_Q, 0)
        assert "You're a senior engineer" in answer.inner_text()
        # The answer's first cited step, whichever the advisor leads with (its lead is not this test's subject).
        first = page.locator("#coach-steps button").first
        first.wait_for(timeout=30000)
        offered = first.inner_text().strip()
        try:
            first.click(timeout=10000)  # one click
        finally:
            page.screenshot(path=str(Path(__file__).parent / "artifacts" / "ui-plan.png"))
        page.wait_for_selector("#coach-plan-note:has-text('Added to your plan as item 1')")
        (item,) = people_coach.plan.items("ada")
        assert item.step == offered
        assert offered in _plan_text(page)
        link = page.locator("#coach-plan a.coach-time").first.get_attribute("href")
        assert link == YT.format(item.start)
        assert any(c in answer.inner_text() for c in (item.quote[:40], item.step))  # a step the answer gave
    if "Ask your boss how you can help" not in {i.step for i in people_coach.plan.items("ada")}:
        people_coach.plan.add_named("Ask your boss how you can help", owner="ada")  # the step the check-in walks on

    with signed_in(browser, server, "bob") as page:  # another person sees none of it
        assert "Your plan is empty" in _plan_text(page)
        _open_intake(page)
        assert page.get_by_label("Level / role").input_value() == ""
        assert page.locator("#coach-chat [data-testid='bot']").count() == 0  # no check-in for bob

    with signed_in(browser, server, "ada") as page:  # ada comes back
        page.wait_for_selector("#coach-chat [data-testid='bot']")
        opening = page.locator("#coach-chat [data-testid='bot']").first.inner_text()
        assert "How did it go" in opening
        assert "Ask your boss how you can help" in opening
        _open_intake(page)
        assert page.get_by_label("Level / role").input_value() == "senior engineer"
        reply = ask(page, "Done, I asked my boss and she gave me a project.", 1)
        assert "Do whatever they ask" in reply.inner_text()
        assert reply.locator(f"a[href='{YT.format(415)}']").count() == 1
        page.wait_for_function("() => document.querySelector('#coach-plan').innerText.includes('Do whatever they ask')")
        assert re.search(r"\d\.\s*Ask your boss how you can help\s*\[done\]", _plan_text(page))

        page.locator("#coach-forget").click()
        page.wait_for_selector("#coach-profile-note:has-text('Forgotten')")
        assert "Your plan is empty" in _plan_text(page)
    assert people_coach.profiles.profile("ada") is None
    assert people_coach.plan.items("ada") == []
    db = people_coach.profiles.path
    assert db is not None
    assert b"reorganised" not in db.read_bytes()


@pytest.mark.browser
def test_browser_edit_from_a_stale_tab_is_refused_and_loses_nothing(server: str, browser: Any, people_coach: Coach) -> None:
    people_coach.plan.add_named("Ask your boss how you can help", owner="ada")
    with signed_in(browser, server, "ada") as one, signed_in(browser, server, "ada") as two:
        for page, note in ((one, "asked at our 1:1"), (two, "typed in the second tab")):
            page.locator("#coach-plan-edit").get_by_text("Change a plan item").click()
            page.get_by_label("Item number").fill("1")
            page.get_by_label("Note").fill(note)
        one.locator("#coach-save-item").click()
        one.wait_for_selector("#coach-plan-note:has-text('Plan item 1 saved')")
        two.locator("#coach-save-item").click()
        two.wait_for_selector("#coach-plan-note:has-text('changed in another tab')")
        assert two.get_by_label("Note").input_value() == "typed in the second tab"  # still there to save again
    assert [i.note for i in people_coach.plan.items("ada")] == ["asked at our 1:1"]


# ---- export: the plan as Markdown and an .ics calendar, per person ----------------------------------------
def _exported_folders(marker: str) -> list[Path]:
    """The server's export folders whose Markdown holds `marker` (Gradio's file cache is shared by every app)."""
    from gradio.utils import get_upload_folder

    return [md.parent for md in Path(get_upload_folder()).glob("coach-plan-*/coach-plan.md")
            if marker in md.read_text(encoding="utf-8")]  # fmt: skip


def test_api_export_is_per_user_and_private(server: str, people_coach: Coach, tmp_path: Path) -> None:
    import stat

    from icalendar import Calendar

    ada, bob = (api_client(server, auth=(u, USERS[u]), download_files=str(tmp_path / u)) for u in ("ada", "bob"))
    ada.predict("Ask your boss how you can help", "ada-export-marker", "2027-01-15", api_name="/plan_add")
    bob.predict("Do whatever they ask", "bob-export-marker", "", api_name="/plan_add")

    files = {Path(p).name: Path(p) for p in ada.predict(api_name="/plan_export")}  # downloaded by the client
    assert sorted(files) == ["coach-plan.ics", "coach-plan.md"]
    md_path, ics_path = files["coach-plan.md"], files["coach-plan.ics"]
    markdown = Path(md_path).read_text(encoding="utf-8")
    assert f"({YT.format(391)})" in markdown
    assert "ada-export-marker" in markdown
    assert "Do whatever they ask" not in markdown
    assert "bob-export-marker" not in markdown
    events = list(Calendar.from_ical(Path(ics_path).read_bytes()).walk("VEVENT"))
    assert [e.decoded("dtstart").isoformat() for e in events] == ["2027-01-15"]

    files = {Path(p).name: Path(p) for p in bob.predict(api_name="/plan_export")}
    bob_md, bob_ics = files["coach-plan.md"], files["coach-plan.ics"]
    assert "Do whatever they ask" in Path(bob_md).read_text(encoding="utf-8")
    assert "Ask your boss" not in Path(bob_md).read_text(encoding="utf-8")
    assert list(Calendar.from_ical(Path(bob_ics).read_bytes()).walk("VEVENT")) == []  # bob set no reminder

    (ada_folder,), (bob_folder,) = _exported_folders("ada-export-marker"), _exported_folders("bob-export-marker")
    assert ada_folder != bob_folder
    for folder in (ada_folder, bob_folder):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        assert sorted(p.name for p in folder.iterdir()) == ["coach-plan.ics", "coach-plan.md"]
        assert {stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir()} == {0o600}
        assert len(folder.name) == len("coach-plan-") + 32  # 128 random bits: a link nobody else can guess

    ada.predict(api_name="/plan_export")  # again: the earlier export is deleted
    (again,) = _exported_folders("ada-export-marker")
    assert again != ada_folder
    assert not ada_folder.exists()
    ada.predict(api_name="/forget_me")  # forgetting ada deletes her export too, and nobody else's
    assert _exported_folders("ada-export-marker") == []
    assert not again.exists()
    assert bob_folder.exists()


@pytest.mark.browser
def test_browser_export_downloads_the_signed_in_users_own_plan(server: str, browser: Any, people_coach: Coach) -> None:
    people_coach.plan.add_named("Ask your boss how you can help", owner="ada", remind_on="2027-01-15", note="ada-note")
    people_coach.plan.add_named("Do whatever they ask", owner="bob", note="bob-note")
    downloads: dict[str, dict[str, str]] = {}
    for user in ("ada", "bob"):
        with signed_in(browser, server, user) as page:
            page.locator("#coach-export").click()
            page.wait_for_selector("#coach-exported a[download='coach-plan.ics']", timeout=30000)
            for name in ("coach-plan.md", "coach-plan.ics"):
                with page.expect_download(timeout=30000) as info:
                    page.locator(f"#coach-exported a[download='{name}']").click()
                downloads.setdefault(user, {})[name] = Path(info.value.path()).read_text(encoding="utf-8")
                assert info.value.suggested_filename == name
            if user == "ada":
                page.screenshot(path=str(Path(__file__).parent / "artifacts" / "ui-plan-export.png"))
    ada, bob = downloads["ada"], downloads["bob"]
    assert f"({YT.format(391)})" in ada["coach-plan.md"]
    assert "ada-note" in ada["coach-plan.md"]
    assert "bob-note" not in ada["coach-plan.md"]
    assert "DTSTART;VALUE=DATE:20270115" in ada["coach-plan.ics"]
    assert f"({YT.format(415)})" in bob["coach-plan.md"]
    assert "ada-note" not in bob["coach-plan.md"]
    assert "Ask your boss" not in bob["coach-plan.md"]
    assert "VEVENT" not in bob["coach-plan.ics"]
