"""A person who comes back, through the Python API and the CLI: a saved profile shapes the answers, cited steps go
into a plan, the coach checks in on them, and three visits walk the Magic Loop (data/ethan-evans-career-development.md:
step 2 "Ask your boss how you can help" at 00:06:31, step 3 "Do whatever they ask" at 00:06:55 and "Follow through on
their requests, even if the work isn't your favorite" at 00:07:09)."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from coach.api import Coach
from coach.profile_store import ProfileError
from tests.postgres import postgres_server, reset
from tests.support import cli_env, run_cli

MANAGER_Q = "My manager never talks about my career growth. What should I do?"
ASK_BOSS, DO_WHATEVER = 391, 415  # the seconds the source gives Magic Loop steps 2 and 3
FOLLOW_THROUGH = 429  # "Follow through on their requests, even if the work isn't your favorite."
BUSY_MANAGERS = 608  # "Most managers are not "that good" at thinking about … careers due to their own busy schedules…"
MAGIC_LOOP = "The Magic Loop for Career Growth > Steps of the Magic Loop"
YT = "https://www.youtube.com/watch?v=GB0P0_nFPTA&t={}s"


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def coach(request: pytest.FixtureRequest, bundled, tmp_path: Path) -> Coach:  # type: ignore[no-untyped-def]
    """The bundled index, with an empty profile database of its own."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'people' / 'db.sqlite3'}"
    else:
        url = request.getfixturevalue("postgres_url")
        reset(url)
    return Coach(bundled.settings.model_copy(update={"database_url": url}), bundled.store, bundled.embedder)


def test_a_saved_profile_shapes_later_answers(coach: Coach) -> None:
    plain = coach.ask(MANAGER_Q)
    assert "senior engineer" not in plain.text.lower()
    coach.profiles.save_profile("ada", level="senior engineer", goal="become a staff engineer", manager="new")
    shaped = coach.ask(MANAGER_Q, profile=coach.profiles.profile("ada"))
    assert "You're a senior engineer" in shaped.text  # the reflection line says the saved situation back
    assert "staff engineer" in shaped.text
    assert shaped.citations
    given = coach.ask(MANAGER_Q, situation={"level": "senior engineer", "goal": "become a staff engineer",
                                            "manager": "new"})  # fmt: skip
    assert shaped.text == given.text  # the profile is the Situation the advisor already uses
    override = coach.ask(MANAGER_Q, situation={"level": "director"}, profile=coach.profiles.profile("ada"))
    assert "You're a director" in override.text  # a field given for this question wins


def test_the_note_joins_the_retrieval_query(coach: Coach) -> None:
    from coach.conversation import Situation
    from coach.query import read_query

    note = "I interview for a new job next week."
    query = read_query("What should I focus on?", [], Situation(note=note), coach.embedder, 4000)
    assert note in query.search
    with_note = coach.ask("What should I focus on?", profile={"note": note})
    without = coach.ask("What should I focus on?")
    assert {c.start for c in with_note.citations} != {c.start for c in without.citations}


def test_any_cited_step_of_an_answer_can_be_added(coach: Coach) -> None:
    answer = coach.ask(MANAGER_Q)
    steps = coach.plan.steps(answer)
    assert steps
    cited = {c.url for c in answer.citations}
    assert all(s.url in cited or s.framework for s in steps)
    by_start = {s.start: s for s in steps}
    assert ASK_BOSS in by_start  # "Then: Ask your boss how you can help [5]"
    n = next(c.n for c in answer.citations if c.start == ASK_BOSS)
    item = coach.plan.add_from_answer(answer, n, owner="ada", note="at our 1:1")
    assert (item.step, item.url, item.framework, item.step_n) == ("Ask your boss how you can help", YT.format(ASK_BOSS),
                                                                   MAGIC_LOOP, 2)  # fmt: skip
    assert item.quote.startswith("Ask your boss how you can help: This simple question sets you apart")
    with pytest.raises(ProfileError, match=r"no citation \[99\]"):
        coach.plan.add_from_answer(answer, 99, owner="ada")
    assert [i.n for i in coach.plan.items("ada")] == [1]


def test_three_visits_through_the_magic_loop(coach: Coach) -> None:
    # Visit 1: advice, and the person adds "ask your boss how you can help" to their plan.
    assert coach.plan.check_in("ada") is None  # nothing planned: an ordinary start
    first = coach.ask(MANAGER_Q)
    coach.plan.add_named("Ask your boss how you can help", owner="ada")

    # Visit 2: the coach opens by asking how it went; the person did it.
    opening = coach.plan.check_in("ada")
    assert opening is not None
    assert "How did it go" in opening.text
    assert "Ask your boss how you can help" in opening.text
    done = coach.plan.reply("I did it: I asked my boss how I can help, and she gave me a project.", owner="ada")
    assert done.outcome == "done"
    assert [(i.step, i.status) for i in coach.plan.items("ada")] == [
        ("Ask your boss how you can help", "done"), ("Do whatever they ask", "open")]  # fmt: skip
    assert done.answer.citations[0].url == YT.format(DO_WHATEVER)  # the next step, cited to its second
    assert "Do whatever they ask [1]" in done.answer.text
    assert FOLLOW_THROUGH in {c.start for c in done.answer.citations}
    assert all(c.quote in (first.framework.steps[2].text if first.framework else "") for c in done.answer.citations)

    # Visit 3: the coach asks about the new step; the person is stuck on it.
    again = coach.plan.check_in("ada")
    assert again is not None
    assert "Do whatever they ask" in again.text
    assert "Ask your boss" not in again.text  # done items are not asked about
    stuck = coach.plan.reply("I'm stuck: my manager is too busy to give me anything to do.", owner="ada")
    assert stuck.outcome == "blocked"
    assert not stuck.answer.refused
    # the source's advice for that obstacle (00:10:08), not the step again (tests/test_checkin_obstacles.py)
    assert stuck.answer.citations[0].start == BUSY_MANAGERS
    assert {DO_WHATEVER, FOLLOW_THROUGH}.isdisjoint(c.start for c in stuck.answer.citations)
    assert all(c.url.startswith("https://www.youtube.com/watch?v=GB0P0_nFPTA&t=") for c in stuck.answer.citations)
    assert [i.status for i in coach.plan.items("ada")] == ["done", "open"]  # still planned
    assert coach.plan.items("bob") == []


def test_a_dropped_item_and_an_unclear_reply(coach: Coach) -> None:
    coach.plan.add_named("Do your current job well", owner="ada")
    unclear = coach.plan.reply("How do I get past senior manager?", owner="ada")
    assert unclear.outcome == "unclear"
    assert unclear.answer.citations  # answered as a question
    assert coach.plan.items("ada")[0].status == "open"
    dropped = coach.plan.reply("I'm dropping that one, I no longer need it.", owner="ada")
    assert dropped.outcome == "dropped"
    assert coach.plan.items("ada")[0].status == "dropped"
    assert coach.plan.check_in("ada") is None


def test_exports_have_links_and_a_calendar_of_reminders(coach: Coach, tmp_path: Path) -> None:
    from icalendar import Calendar

    coach.plan.add_named("Ask your boss how you can help", owner="ada", remind_on="2027-01-15", note="*bold* [x](y)")
    coach.plan.add_named("Do whatever they ask", owner="ada")
    markdown = coach.plan.markdown("ada")
    assert f"({YT.format(ASK_BOSS)})" in markdown
    assert f"({YT.format(DO_WHATEVER)})" in markdown
    assert "\\*bold\\* \\[x\\](y)" in markdown  # a note is text, not Markdown
    calendar = Calendar.from_ical(coach.plan.calendar("ada"))
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 1  # only the item with a reminder
    assert events[0].decoded("dtstart").isoformat() == "2027-01-15"
    assert "Ask your boss how you can help" in str(events[0]["summary"])
    assert str(events[0]["url"]) == YT.format(ASK_BOSS)
    assert list(events[0].walk("VALARM"))


# ---- the CLI, as a person runs it ------------------------------------------------------------------------
def _cli(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    return run_cli(*args, env=env, timeout=300)


def test_cli_profile_and_plan(bundled, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    store = bundled.settings.store_dir
    db = tmp_path / "people.sqlite3"
    env = cli_env(bundled.settings.cache_dir, COACH_STORE_DIR=str(store), COACH_DATABASE_URL=f"sqlite:///{db}")
    code, out, _ = _cli(env, "plan")
    assert code == 0
    assert "Your plan is empty" in out
    assert not db.exists()  # listing wrote nothing

    code, _, _ = _cli(env, "profile", "save", "--level", "senior engineer", "--goal", "become a staff engineer")
    assert code == 0
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    code, out, _ = _cli(env, "profile", "show", "--json")
    assert json.loads(out)["profile"]["level"] == "senior engineer"
    code, out, _ = _cli(env, "ask", MANAGER_Q, "--json")
    assert "You're a senior engineer" in json.loads(out)["text"]  # the saved profile shapes `coach ask`

    code, out, err = _cli(env, "plan", "add", "Ask your boss how you can help", "--remind", "2027-01-15")
    assert code == 0, err
    code, out, _ = _cli(env, "plan", "--json")
    items = json.loads(out)["items"]
    assert [(i["n"], i["step"], i["url"], i["status"]) for i in items] == [
        (1, "Ask your boss how you can help", YT.format(ASK_BOSS), "open")]  # fmt: skip

    # bad input: one readable line, exit 2, nothing lost
    for args, says in [
        (("plan", "set", "7", "--status", "done"), "There is no plan item 7. Your plan has items 1."),
        (("plan", "set", "1", "--note", "n" * 10_240), "The note is 10,240 characters; it can hold 2,000."),
        (("plan", "set", "1", "--remind", "15/01/2027"), "is not a date in the form YYYY-MM-DD"),
        (("plan", "add", "Ask your boss", "--remind", "tomorrow"), "is not a date in the form YYYY-MM-DD"),
    ]:
        code, _, err = _cli(env, *args)
        assert code == 2, (args, err)
        assert says in " ".join(err.split()), err
    code, out, _ = _cli(env, "plan", "--json")
    assert json.loads(out)["items"] == items

    code, out, _ = _cli(env, "plan", "checkin")
    assert "How did it go" in out
    code, out, err = _cli(env, "plan", "checkin", "Done, I asked my boss and got a project.", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["outcome"] == "done"
    assert result["added"]["step"] == "Do whatever they ask"
    assert result["citations"][0]["url"] == YT.format(DO_WHATEVER)

    code, out, err = _cli(env, "plan", "export", "--markdown", str(tmp_path / "plan.md"), "--ics", str(tmp_path / "p.ics"))
    assert code == 0, err
    for name in ("plan.md", "p.ics"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o600
    assert YT.format(DO_WHATEVER) in (tmp_path / "plan.md").read_text(encoding="utf-8")
    assert "DTSTART;VALUE=DATE:20270115" in (tmp_path / "p.ics").read_text(encoding="utf-8")

    code, out, _ = _cli(env, "profile", "delete", "--yes")
    assert code == 0
    assert "2 record" in out or "3 record" in out
    assert re.search(rb"senior engineer|Ask your boss", db.read_bytes()) is None
    code, out, _ = _cli(env, "plan", "--json")
    assert json.loads(out)["items"] == []
