"""Over many episodes an answer follows the retriever's order of sources, one sentence each, before any second
sentence from a source whose lines merely resemble the question; off-topic sentences never lead."""

from __future__ import annotations

import numpy as np

from coach.advice import rank_points
from coach.compose import OfflineComposer
from coach.frameworks import FrameworkView
from coach.plan import make_plan
from coach.query import read_query
from coach.types import Passage

QUESTION = "How do I give difficult feedback to someone on my team?"


def _passage(source: str, text: str, start: int) -> Passage:
    return Passage(
        id=f"{source}-{start}", text=text, video_id=source.upper().ljust(11, "X"), start=start, end=start + 30,
        title=f"Episode {source}", guest=f"Guest {source.title()}", score=0.5, source=source,
    )  # fmt: skip


def _cited_sources(embedder, passages: list[Passage], floor: float = -1.0) -> list[str]:  # type: ignore[no-untyped-def]
    query = read_query(QUESTION, None, None, embedder, 4000)
    no_frameworks = FrameworkView(("", 0, 0), (), np.zeros((0, 1), dtype=np.float32), ())
    points = rank_points(no_frameworks, passages, (query.focus_vector,), embedder)[0]
    answer = OfflineComposer().compose(make_plan(query, points, passages, None, embedder, floor))
    assert answer.citations, answer.text
    by_video = {p.video_id: p.source for p in passages}
    return list(dict.fromkeys(by_video[c.video_id] for c in answer.citations))


def test_one_sentence_per_retrieved_source_in_retrieval_order(embedder) -> None:  # type: ignore[no-untyped-def]
    passages = [
        _passage("alpha", "Difficult feedback lands best when it is specific and given soon after the event.", 10),
        _passage("bravo", "When you coach people on your team, describe the behaviour and its effect on others.", 20),
        # The closest words to the question, twice: ranked by sentence alone, both would come before bravo.
        _passage(
            "charlie",
            "Give difficult feedback to someone on your team in private, never in front of others. "
            "Giving difficult feedback to your team is a skill you can practise every week.",
            30,
        ),
    ]
    cited = _cited_sources(embedder, passages)
    assert cited[:3] == ["alpha", "bravo", "charlie"], cited


def test_an_off_topic_source_does_not_lead(embedder) -> None:  # type: ignore[no-untyped-def]
    passages = [
        _passage("delta", "The weather in the mountains was cold and the trail was covered with snow for weeks.", 5),
        _passage("alpha", "Difficult feedback lands best when it is specific and given soon after the event.", 10),
        _passage("bravo", "When you coach people on your team, describe the behaviour and its effect on others.", 20),
    ]
    cited = _cited_sources(embedder, passages, floor=0.295)
    assert cited[:2] == ["alpha", "bravo"], cited
    # Without a floor the retriever's first source leads whatever its words: the floor is what keeps it out.
    assert _cited_sources(embedder, passages)[0] == "delta"


TRANSCRIPT = """---
guest: Kit Guest
title: 'Telling stories at work | Kit Guest'
video_id: CCCCCCCCCCC
duration_seconds: 900.0
---

Kit Guest (00:01:00):
I grew up on a farm in the north, where the winters were long and the roads were often closed for weeks. We kept sheep and a few cows, and my father fixed tractors for the neighbours. Later I studied chemistry, worked in a lab for six years, and only moved into software when a friend needed help with a database for her bakery.

Lenny (00:02:30):
So how can someone who feels they have no good personal stories build up a supply of them for talks and meetings?

Kit Guest (00:02:50):
Keep a daily log of one moment that changed how you felt, even a tiny one, and write it down every evening. After a month you will have thirty small stories, and each of them can open a talk or a meeting. Pick the ones where you changed your mind; those are the ones people remember. Then practise telling one of them out loud each week to a friend, and cut everything that does not serve the change.

Lenny (00:04:10):
That is a lovely habit.
"""  # noqa: E501


def test_a_chunk_ending_on_the_hosts_question_offers_the_guests_answer(tmp_path, settings, embedder) -> None:  # type: ignore[no-untyped-def]
    """The retriever often finds the host asking the person's question; the advice is the guest's reply, which
    the chunk's end cut off. Its opening sentences are points of that passage, each at its own second."""
    from dataclasses import replace

    from coach import Coach
    from coach.advice import sentences_of
    from coach.citations import quotes_of

    folder = tmp_path / "corpus" / "kit-guest"
    folder.mkdir(parents=True)
    (folder / "transcript.md").write_text(TRANSCRIPT, encoding="utf-8")
    coach = Coach.open(settings=settings.model_copy(update={"data_dir": tmp_path / "corpus"}))
    snapshot = coach.retriever.snapshot()
    asked = next(p for p in snapshot.passages if p.text.rstrip().endswith("talks and meetings?"))
    reply = snapshot.after(asked)
    assert reply is not None
    assert reply.text.startswith("Kit Guest: Keep a daily log")  # the premise of the test
    query = read_query("How can I build up a supply of personal stories for talks?", None, None, embedder, 4000)
    following = {asked.id: [replace(q, passage_id=reply.id) for q in quotes_of(reply)]}

    alone = sentences_of([asked], [query.vector], embedder, set())[0]
    assert not any("daily log" in s.text for p in alone for s in p.sentences)
    points = sentences_of([asked], [query.vector], embedder, set(), following)[0]
    heads = {p.quote.text: p.quote for p in points}
    log = next(q for text, q in heads.items() if text.startswith("Keep a daily log"))
    assert (log.start, log.passage_id, log.speaker) == (170, reply.id, "Kit Guest")  # 00:02:50, the reply's chunk
    assert "That is a lovely habit." not in heads  # the host's next turn ends the answer
    best = max(points, key=lambda p: p.score)
    assert (best.quote.speaker, best.quote.start) == ("Kit Guest", 170), [p.quote.text for p in points]


def test_the_first_episodes_retrieved_each_offer_their_chunk_nearest_the_question() -> None:
    """Over many episodes, each of the first EPISODE_SOURCES episodes adds its own chunk nearest the question
    when retrieval did not bring it (the guest's named idea often sits there); nothing is added twice, nothing
    from an episode that was not retrieved, and a single source (the notes) gets nothing."""
    from coach.advisor import EPISODE_SOURCES, _episode_focus
    from coach.retrieval import Snapshot

    def chunk(video: str, n: int, speakers: str = "Guest;Lenny") -> Passage:
        return Passage(id=f"{video}-{n}", text=f"chunk {n}", video_id=video, start=n, end=n + 1, title=video,
                       guest=video, score=0.0, source=video, speakers=speakers)  # fmt: skip

    videos = [f"V{i}" for i in range(EPISODE_SOURCES + 2)]
    passages = [chunk(v, n) for v in videos for n in range(3)]
    question = np.array([1.0, 0.0])
    # in every episode chunk 2 is nearest the question, chunk 0 next; chunk 1 is what retrieval found
    near = {0: [0.8, 0.6], 1: [0.0, 1.0], 2: [1.0, 0.0]}
    vectors = np.array([near[int(p.id.rsplit("-", 1)[1])] for p in passages])
    snapshot = Snapshot(("", 0, 0), passages, vectors, None, {})
    retrieved = [p for p in passages if p.id.endswith("-1")] + [passages[2]]  # V0's best chunk already retrieved
    added = _episode_focus(retrieved, snapshot, question)
    assert [p.id for p in added] == ["V0-0"] + [f"{v}-2" for v in videos[1:EPISODE_SOURCES]]
    assert added[0].score == 0.8  # scored by its own cosine
    notes = [chunk("NOTES", 1, speakers="")]
    assert _episode_focus(notes, snapshot, question) == []
    assert _episode_focus([chunk("V0", 1)], snapshot, question) == []  # one episode: its own chunks suffice
