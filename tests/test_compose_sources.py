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
