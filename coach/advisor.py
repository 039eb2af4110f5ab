"""From a person's message to a cited answer: guard → retrieve → fit a framework → compose → check.

`stream` yields events so a UI can show text as it is written; `ask` returns the final Answer.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from coach.citations import CitationChecker
from coach.compose import Candidate, OfflineComposer, framework_card
from coach.conversation import Situation, Turn, is_follow_up, normalize_history, retrieval_query
from coach.coverage import covered_topics
from coach.frameworks import FrameworkIndex, FrameworkMatch
from coach.guard import clean_question, is_code_request, is_injection
from coach.prompts import render
from coach.retrieval import Retriever
from coach.settings import Settings
from coach.types import Answer, Passage

# Evidence (best cosine of the question to a retrieved passage or to one of its sentences) below
# which the sources are taken not to cover the question. Sentence level matters for short
# messages ("my manager ignores me") that no 128-token chunk resembles as a whole.
# Calibrated on the dev split of evals/datasets/notes.jsonl: `python -m evals.calibrate`.
REFUSE_BELOW = 0.295


@dataclass(frozen=True)
class AnswerEvent:
    """`delta`: more text; `final`: the checked answer (replaces any streamed text)."""

    kind: str
    text: str = ""
    answer: Answer | None = None


class Advisor:
    def __init__(
        self,
        retriever: Retriever,
        frameworks: FrameworkIndex,
        settings: Settings,
        llm: Any = None,
        checker: CitationChecker | None = None,
        refuse_below: float = REFUSE_BELOW,
    ) -> None:
        self.retriever = retriever
        self.embedder = retriever.embedder
        self.frameworks = frameworks
        self.settings = settings
        self.llm = llm
        self.composer = OfflineComposer(self.embedder, evidence_floor=refuse_below)
        self.checker = checker or CitationChecker(self.embedder)
        self.refuse_below = refuse_below

    def ask(
        self, question: str, history: Sequence[Any] | None = None, situation: Situation | None = None
    ) -> Answer:
        final = None
        for event in self.stream(question, history, situation):
            if event.kind == "final":
                final = event.answer
        assert final is not None
        return final

    def stream(
        self, question: str, history: Sequence[Any] | None = None, situation: Situation | None = None
    ) -> Iterator[AnswerEvent]:
        """Raises QuestionError (a readable message) for an empty question or malformed history."""
        cleaned = clean_question(question, self.settings.max_question_chars)
        turns = normalize_history(history)
        situation = _inert_situation(situation or Situation())
        text = _inert(cleaned.text)
        query = retrieval_query(text, turns, situation)
        qvec = self.embedder.encode([query])[0]
        if is_injection(text) or is_code_request(text):
            yield self._final(self._decline(text, qvec, cleaned.notices))
            return
        passages = self.retriever.retrieve(query, k=self.settings.top_k, vector=qvec)
        follow_up = is_follow_up(text, turns)
        # The conversation finds the passages; the follow-up itself picks the sentences that answer it...
        svec = self.embedder.encode([text])[0] if follow_up else qvec
        candidates = self.composer.rank_sentences(svec, passages)
        if follow_up:  # ...alternating with the sentences that fit the whole conversation
            candidates = _interleave(candidates, self.composer.rank_sentences(qvec, passages))
        if evidence(passages, candidates) < self.refuse_below:
            yield self._final(self._decline(text, qvec, cleaned.notices))
            return
        framework = self.frameworks.match(qvec, passages)
        if self.llm is not None:
            yield from self._from_llm(text, turns, situation, qvec, passages, framework, cleaned.notices)
            return
        answer = self.composer.compose(text, svec, passages, framework, candidates, situation, follow_up)
        answer.notices = cleaned.notices + answer.notices
        yield from _replay(answer)

    # ---- declining ---------------------------------------------------------------
    def _decline(self, text: str, qvec: np.ndarray, notices: list[str]) -> Answer:
        snap = self.retriever.snapshot()
        topics = covered_topics(snap.passages, snap.vectors, qvec) if snap.passages else []
        if is_injection(text):
            opening = "I can't change how I work or share my instructions, but I'm glad to help with your career."
        elif is_code_request(text):
            opening = "I don't write code — I'm a career coach, and I answer only from my sources."
        else:
            opening = "My sources don't cover that, so I won't guess."
        cover = f" My sources cover: {'; '.join(topics)}." if topics else " No sources are indexed yet."
        return Answer(
            text=f"{opening}{cover} Ask me about one of those, or describe a situation at work.",
            refused=True,
            notices=list(notices),
        )

    # ---- LLM path ----------------------------------------------------------------
    def _from_llm(
        self,
        text: str,
        turns: list[Turn],
        situation: Situation,
        qvec: np.ndarray,
        passages: list[Passage],
        framework: FrameworkMatch | None,
        notices: list[str],
    ) -> Iterator[AnswerEvent]:
        from langchain_core.messages import HumanMessage, SystemMessage

        system = render("answer_system")
        user = render(
            "answer_user",
            sources=_numbered(passages, framework),
            situation=situation.describe() or "(not given)",
            history="\n".join(f"{r}: {t[:600]}" for r, t in turns[-6:]) or "(none)",
            question=text,
        )
        backend = getattr(self.llm, "model_name", None) or getattr(self.llm, "_llm_type", "llm")
        streamed: list[str] = []
        try:
            for chunk in self.llm.stream([SystemMessage(system), HumanMessage(user)]):
                piece = str(chunk.content or "")
                streamed.append(piece)
                yield AnswerEvent("delta", piece)
        except Exception as exc:  # any transport or server failure: the offline composer still answers
            reason = _reason(exc)
            answer = self.composer.compose(text, qvec, passages, framework, situation=situation)
            answer.notices = [*notices, f"The language model could not be reached ({reason}); "
                              "this answer comes from the offline composer."]  # fmt: skip
            yield self._final(answer)
            return
        raw = "".join(streamed)
        if _leaks(raw, system):
            yield self._final(self._decline("reveal your prompt", qvec, notices))
            return
        checked = self.checker.check(raw, passages)
        if not checked.citations:
            answer = self.composer.compose(text, qvec, passages, framework, situation=situation)
            answer.notices = [*notices, "The language model's answer had no sentence its sources support; "
                              "this answer comes from the offline composer."]  # fmt: skip
            answer.flagged = list(dict.fromkeys(checked.dropped))
            yield self._final(answer)
            return
        out_notices = list(notices)
        if checked.dropped:
            out_notices.append(f"{len(checked.dropped)} sentence(s) removed: the cited source does not support them.")
        if checked.removed_markers:
            marks = ", ".join(f"[{n}]" for n in checked.removed_markers)
            out_notices.append(f"Citation marker(s) {marks} pointed at no source and were removed.")
        answer = Answer(
            text=checked.text,
            citations=checked.citations,
            framework=framework_card(framework) if framework else None,
            notices=out_notices,
            backend=str(backend),
            flagged=list(dict.fromkeys(checked.dropped)),
        )
        yield self._final(answer)

    @staticmethod
    def _final(answer: Answer) -> AnswerEvent:
        return AnswerEvent("final", answer.text, answer)


def evidence(passages: list[Passage], candidates: list[Candidate]) -> float:
    """How well the sources cover a question: the best passage or sentence cosine (0 when nothing)."""
    return max([p.score for p in passages] + [c.cosine for c in candidates], default=0.0)


def _interleave(first: list[Candidate], second: list[Candidate]) -> list[Candidate]:
    merged: dict[str, Candidate] = {}
    for pair in zip(first, second, strict=False):
        for c in pair:
            merged.setdefault(c.quote.text, c)
    for c in first[len(second) :] + second[len(first) :]:
        merged.setdefault(c.quote.text, c)
    return list(merged.values())


def _replay(answer: Answer) -> Iterator[AnswerEvent]:
    """The offline answer is ready at once; stream it line by line so UIs behave the same for all backends."""
    for line in answer.text.splitlines(keepends=True):
        yield AnswerEvent("delta", line)
    yield AnswerEvent("final", answer.text, answer)


def _numbered(passages: list[Passage], framework: FrameworkMatch | None) -> str:
    blocks = []
    for i, p in enumerate(passages, start=1):
        where = f"{p.title} — {p.heading}" if p.heading else p.title
        blocks.append(f"[{i}] ({where}, at {p.when})\n{p.text}")
    if framework:
        fw = framework.item.framework
        steps = "; ".join(f"{s.n}. {s.label}" for s in fw.steps)
        blocks.append(f"(Framework that fits: {framework.item.display_name} — steps: {steps})")
    return "\n\n".join(blocks)


def _reason(exc: BaseException) -> str:
    name = type(exc).__name__
    return "timed out" if "Timeout" in name else "connection failed" if "Connect" in name else name


def _leaks(output: str, prompt: str, window: int = 8) -> bool:
    """True when the output repeats any `window` consecutive words of the system prompt."""
    words = re.findall(r"\w+", prompt.lower())
    said = " ".join(re.findall(r"\w+", output.lower()))
    return any(" ".join(words[i : i + window]) in said for i in range(len(words) - window + 1))


_TYPED_MARKER = re.compile(r"\[(\d{1,3})\]")


def _inert(text: str) -> str:
    """The person's words are echoed into answers; a typed "[2]" must not read as citation 2, so it becomes "(2)"."""
    return _TYPED_MARKER.sub(r"(\1)", text)


def _inert_situation(situation: Situation) -> Situation:
    from dataclasses import replace

    return replace(situation, level=_inert(situation.level), goal=_inert(situation.goal), manager=_inert(situation.manager))
