"""A blocked plan item gets what its own source says about the obstacle named, not the same step again.

The oracle is the notes file itself (data/ethan-evans-career-development.md), read here without the parser: a
timestamp closes the text before it, so a cited sentence must sit verbatim in the text its citation's second
closes. The Magic Loop's step sentences are read from its numbered list the same way; none may be cited in the
answer to an obstacle met on a Magic Loop step. For "too busy" the notes' own answer is known: "Most managers are
not 'that good' at thinking about their employees' careers due to their own busy schedules" (00:10:08) and "The
Magic Loop puts the control in your hands…" (00:11:50).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from coach.api import Coach
from coach.plan_obstacles import obstacle_of
from coach.profile_store import Step
from tests.conftest import CORPUS, NOTES

ASK_BOSS = "Ask your boss how you can help"
BUSY, CONTROL = 608, 710  # 00:10:08 and 00:11:50
OBSTACLES = {
    "busy": "I tried but my manager is too busy to talk about it",
    "refused": "I asked but my manager said no, she refused to discuss it",
    "no time": "I didn't have time to do it this month",
    "reorg": "My manager changed in a reorg so I couldn't ask",
}
_ANCHOR = re.compile(r'<a class="yt-timestamp" data-t="(\d\d):(\d\d):(\d\d)">\[[\d:]+\]</a>')


def _plain(text: str) -> str:
    text = re.sub(r"\[\[(?:[^\]|]*\|\s*)?([^\]]*)\]\]", r"\1", text)  # wiki links → their labels
    text = re.sub(r"[*_“”\"]|^\s*(?:>|\d+\.|\*)\s+", "", text, flags=re.MULTILINE)
    return " ".join(text.split()).lower()


def _closed_by() -> dict[int, list[str]]:
    """Second → the texts its anchors close (from the previous anchor or the line's start)."""
    closed: dict[int, list[str]] = {}
    for line in NOTES.read_text(encoding="utf-8").splitlines():
        at = 0
        for m in _ANCHOR.finditer(line):
            second = int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3])
            closed.setdefault(second, []).append(_plain(line[at : m.start()]))
            at = m.end()
    return closed


def _magic_loop_sentences() -> set[str]:
    """Every sentence of the five numbered Magic Loop steps, as the notes write them."""
    text = NOTES.read_text(encoding="utf-8")
    steps = text[text.index("### Steps of the Magic Loop") : text.index("### Why It Works")]
    said = set()
    for line in steps.splitlines()[1:]:
        for part in _ANCHOR.split(line)[::4]:
            for sentence in re.split(r"(?<=[.:])\s+", _plain(part)):
                if sentence.strip(" .:"):
                    said.add(sentence.strip(" .:"))
    return said


CLOSED = _closed_by()
STEP_SENTENCES = _magic_loop_sentences()


@pytest.fixture
def coach(bundled, tmp_path: Path) -> Coach:  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'people.sqlite3'}"
    return Coach(bundled.settings.model_copy(update={"database_url": url}), bundled.store, bundled.embedder)


def _blocked(coach: Coach, step: str, reply: str):  # type: ignore[no-untyped-def]
    item = coach.plan.add_named(step, owner="ada")
    result = coach.plan.reply(reply, owner="ada")
    assert result.outcome == "blocked"
    assert result.item is not None
    assert result.item.n == item.n
    assert [i.status for i in coach.plan.items("ada")][-1] == "open"  # a blocked item stays planned
    return result.answer


def _assert_cited_at_own_second(answer) -> None:  # type: ignore[no-untyped-def]
    for c in answer.citations:
        quote = _plain(c.quote).rstrip(" .:")
        assert any(quote in text for text in CLOSED.get(c.start, [])), (c.start, c.quote)
        assert c.url == f"https://www.youtube.com/watch?v=GB0P0_nFPTA&t={c.start}s"
        assert f"[{c.n}]" in answer.text


def _assert_not_the_steps(answer) -> None:  # type: ignore[no-untyped-def]
    for c in answer.citations:
        assert _plain(c.quote).strip(" .:") not in STEP_SENTENCES, c.quote
    assert "Start here" not in answer.text
    assert f"{ASK_BOSS} [" not in answer.text


def test_the_oracle_reads_the_notes() -> None:
    assert any("due to their own busy schedules and priorities" in t for t in CLOSED[BUSY])
    assert any("the magic loop puts the control in your hands" in t for t in CLOSED[CONTROL])
    assert "ask your boss how you can help" in STEP_SENTENCES
    assert "follow through on their requests, even if the work isn't your favorite" in STEP_SENTENCES
    assert len(STEP_SENTENCES) == 14


def test_too_busy_gets_the_notes_passage_on_busy_managers(coach: Coach) -> None:
    answer = _blocked(coach, ASK_BOSS, OBSTACLES["busy"])
    assert [c.start for c in answer.citations] == [BUSY, CONTROL]
    assert answer.lead == (1, 2)
    assert answer.text.startswith(f"About your plan item 1, “{ASK_BOSS}”: you tried but your manager is too busy")
    assert "due to their own busy schedules and priorities [1]." in answer.text
    _assert_cited_at_own_second(answer)
    _assert_not_the_steps(answer)


@pytest.mark.parametrize("obstacle", list(OBSTACLES))
def test_an_obstacle_never_gets_the_step_back(coach: Coach, obstacle: str) -> None:
    answer = _blocked(coach, ASK_BOSS, OBSTACLES[obstacle])
    assert not answer.refused
    _assert_not_the_steps(answer)
    _assert_cited_at_own_second(answer)
    if answer.citations:
        assert answer.lead
        assert answer.lead[0] == 1
        assert "**What the source says about that:**" in answer.text
    else:
        assert "The sources don't cover that obstacle" in answer.text
        assert "The next thing to try" in answer.text
    assert "Item 1 stays open in your plan. Tell me how it goes next time" in answer.text


def test_different_obstacles_get_different_leads(coach: Coach) -> None:
    leads = {}
    for name, reply in OBSTACLES.items():
        answer = _blocked(coach, ASK_BOSS, reply)
        leads[name] = answer.citations[0].start if answer.citations else None
        coach.plan.update(coach.plan.items("ada")[-1].n, "ada", status="dropped")
    assert len(set(leads.values())) >= 3, leads
    assert leads["busy"] == BUSY
    assert leads["reorg"] not in (BUSY, None)  # "It's crucial to explicitly share your goals…" at 00:21:05


def test_a_quotation_split_over_two_sentences_reads_without_stray_marks(coach: Coach) -> None:
    answer = _blocked(coach, ASK_BOSS, "I tried, but my manager keeps cancelling our 1:1s")
    assert [c.start for c in answer.citations] == [690, 690]  # the blockquote at 00:11:30: "…it's in your control."
    assert answer.citations[0].quote.startswith('"What your manager should do')  # cited verbatim …
    assert ("**What the source says about that:** What your manager should do and $4 will get you a cup of coffee at "
            "Starbucks [1]. The point of this loop is it's in your control [2].") in answer.text  # … read without them
    _assert_cited_at_own_second(answer)


def test_an_obstacle_the_notes_never_mention_is_said_plainly(coach: Coach) -> None:
    answer = _blocked(coach, ASK_BOSS, "I couldn't, my dog got sick")
    assert answer.citations == []
    assert answer.lead == ()
    assert "The sources don't cover that obstacle" in answer.text
    assert "“Career development and progression strategies”" in answer.text
    assert "you couldn't, your dog got sick" in answer.text


def test_later_steps_are_left_out_too(coach: Coach) -> None:
    coach.plan.add_named(ASK_BOSS, owner="ada")
    coach.plan.reply("Done, I asked my boss.", owner="ada")  # → "Do whatever they ask" is added, open
    result = coach.plan.reply("I couldn't, my manager is too busy to give me anything", owner="ada")
    assert result.outcome == "blocked"
    assert result.item is not None
    assert result.item.step == "Do whatever they ask"
    assert result.answer.citations
    assert result.answer.citations[0].start == BUSY
    _assert_not_the_steps(result.answer)
    _assert_cited_at_own_second(result.answer)


def test_a_lone_sentence_item_is_not_its_own_answer(coach: Coach) -> None:
    sentence = ("Most managers are not \"that good\" at thinking about their employees' careers due to their own "
                "busy schedules and priorities.")  # fmt: skip
    coach.plan.add(Step(step=sentence, quote=sentence, url="https://www.youtube.com/watch?v=GB0P0_nFPTA&t=608s",
                        video_id="GB0P0_nFPTA", start=BUSY, title="Career development and progression strategies"),
                   owner="ada")  # fmt: skip
    result = coach.plan.reply("I tried but my manager is too busy to talk about it", owner="ada")
    assert result.outcome == "blocked"
    assert BUSY not in {c.start for c in result.answer.citations}
    _assert_cited_at_own_second(result.answer)


@pytest.mark.parametrize(
    ("reply", "obstacle"),
    [
        ("I tried but my manager is too busy to talk about it", "my manager is too busy to talk about it"),
        ("My manager changed in a reorg so I couldn't ask", "My manager changed in a reorg"),
        ("I asked but my manager said no, she refused to discuss it", "my manager said no she refused to discuss it"),
        ("I didn't do it", "I didn't do it"),  # nothing but trying: the whole reply
    ],
)
def test_the_obstacle_is_the_reply_without_the_trying(reply: str, obstacle: str) -> None:
    assert obstacle_of(reply, ASK_BOSS) == obstacle


# ---- with the episode's transcript as well: its chatter, questions and host lines are not advice ------------
TRANSCRIPT = CORPUS / "ethan-evans" / "transcript.md"
_PARAGRAPH = re.compile(r"^(?:[^\n(]*)\((\d\d):(\d\d):(\d\d)\):\s*$", re.MULTILINE)


def _in_transcript_at(quote: str, second: int) -> bool:
    """The quote sits verbatim in the transcript paragraph whose time span holds `second`."""
    text = TRANSCRIPT.read_text(encoding="utf-8")
    heads = [(int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3]), m.end()) for m in _PARAGRAPH.finditer(text)]
    for (t, at), nxt in zip(heads, [*heads[1:], (10**9, len(text))], strict=True):
        if t <= second < nxt[0] and quote.strip() in " ".join(text[at : nxt[1]].split()):
            return True
    return False


@pytest.fixture(scope="module")
def with_transcript(bundled_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Coach:
    from coach.settings import Settings
    from tests.conftest import ROOT
    from tests.support import copy_store

    folder = tmp_path_factory.mktemp("with-transcript")
    store = copy_store(bundled_store, folder / "store")
    settings = Settings(store_dir=store, cache_dir=folder / "cache", data_dir=ROOT / "data",
                        database_url=f"sqlite:///{folder / 'people.sqlite3'}")  # fmt: skip
    coach = Coach.open(settings=settings)
    report = coach.ingest([TRANSCRIPT.parent])
    assert report.chunks_added > 100
    return coach


def test_with_the_transcript_too_the_lead_is_the_guests_statement_about_the_method(with_transcript: Coach) -> None:
    coach = with_transcript
    coach.profiles.forget("ada")
    answer = _blocked(coach, ASK_BOSS, OBSTACLES["refused"])
    assert answer.citations, answer.text
    _assert_not_the_steps(answer)
    for c in answer.citations:
        assert c.video_id == "GB0P0_nFPTA"
        assert not c.quote.rstrip('"”').endswith("?")
        in_notes = any(_plain(c.quote).rstrip(" .:") in t for t in CLOSED.get(c.start, []))
        assert in_notes or _in_transcript_at(c.quote, c.start), (c.start, c.quote)
    # "My dog's too heavy, thank you." is said in the episode (00:33:09), about nothing the plan is about
    dog = _blocked(coach, ASK_BOSS, "I couldn't, my dog got sick")
    assert dog.citations == []
    assert "The sources don't cover that obstacle" in dog.text
