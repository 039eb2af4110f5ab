"""The offline eval suites: retrieval, citations, answers, conversations, latency (and corpus).

Every figure is computed here from what the coach returned and the dataset's gold;
nothing is typed in. Each suite returns a flat {metric: value} dict plus per-case rows.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from coach.citations import CitationChecker, quotes_of, restates, split_claims
from coach.guard import QuestionError
from coach.prompts import render
from coach.textutil import MARKER
from coach.types import Answer, Passage
from evals.datasets import Case, load
from evals.metrics import covers, mean, mentions, percentile
from evals.retrieval import Search, retrieval_metrics

SUITES = ("retrieval", "citations", "answers", "coaching", "conversations", "latency", "corpus")
_AFFIRM = re.compile(r"^\W*(yes|yeah|right|correct|exactly|that's right|indeed)\b", re.IGNORECASE)


@dataclass
class SuiteResult:
    name: str
    metrics: dict[str, float]
    rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ---- retrieval ------------------------------------------------------------------------
def retrieval_suite(coach: Any, cases: Sequence[Case], baselines: dict[str, Search]) -> SuiteResult:
    """The full pipeline next to dense-only, BM25-only and any extra baselines, on the same questions."""
    tol = coach.settings.eval_tolerance_s
    contenders: dict[str, Search] = {
        "hybrid (coach)": lambda q, k: coach.retrieve(q, k=k, mode="hybrid"),
        "dense only": lambda q, k: coach.retrieve(q, k=k, mode="dense"),
        "bm25 only": lambda q, k: coach.retrieve(q, k=k, mode="bm25"),
        **baselines,
    }
    metrics: dict[str, float] = {}
    rows: list[dict[str, Any]] = []
    for name, search in contenders.items():
        m, r = retrieval_metrics(search, cases, tolerance_s=tol)
        metrics.update({f"{name}: {key}": value for key, value in m.items() if key != "n"})
        metrics.setdefault("n", m["n"])
        rows += [{"contender": name, **row} for row in r]
    return SuiteResult("retrieval", metrics, rows, [f"tolerance window: {tol} s"])


# ---- answers and citations ------------------------------------------------------------
def ask_all(coach: Any, cases: Sequence[Case]) -> list[tuple[Case, Answer | None, str]]:
    """Each case's answer (None with the message when the coach rejected the question)."""
    out: list[tuple[Case, Answer | None, str]] = []
    for case in cases:
        try:
            out.append((case, coach.ask(case.question, history=case.history), ""))
        except QuestionError as exc:
            out.append((case, None, str(exc)))
    return out


def citation_suite(coach: Any, answered: list[tuple[Case, Answer | None, str]]) -> SuiteResult:
    """ALCE-style: validity (each citation is real data), precision (cited passage supports its
    sentence, by the calibrated checker) and recall (share of sentences with a supporting citation)."""
    checker = CitationChecker(coach.embedder)
    snap = coach.retriever.snapshot()
    by_id = {p.id: p for p in snap.passages}
    frameworks = {f"framework:{f.framework.name}": f for f in coach.frameworks.items()}
    valid = total_citations = marks = supporting_marks = supported_sentences = total_sentences = 0
    rows = []
    for case, answer, _ in answered:
        if answer is None or answer.refused:
            continue
        said = " ".join([case.question, *(t for _, t in case.history)])
        for c in answer.citations:
            total_citations += 1
            ok = _citation_valid(c, by_id, frameworks)
            valid += ok
            rows.append({"id": case.id, "n": c.n, "valid": ok})
        cites = {c.n: c for c in answer.citations}
        for sentence in _claims(answer.text):
            if not MARKER.search(sentence) and (sentence.rstrip().endswith("?") or restates(sentence, said)):
                continue  # a question back, or the person's own situation said back: no claim about the sources
            total_sentences += 1
            good = False
            for n in dict.fromkeys(int(m) for m in MARKER.findall(sentence)):
                marks += 1
                c = cites.get(n)
                ok = c is not None and checker.support([sentence], _as_passage(c))[0][0] >= checker.threshold
                supporting_marks += ok
                good = good or ok
            supported_sentences += good
    metrics = {
        "citations": float(total_citations),
        "validity": valid / total_citations if total_citations else 0.0,
        "precision": supporting_marks / marks if marks else 0.0,
        "recall": supported_sentences / total_sentences if total_sentences else 0.0,
    }
    note = f"support judge: MiniLM cosine to the cited quote ≥ {checker.threshold} and every number stated (calibrated)"
    return SuiteResult("citations", metrics, rows, [note])


def _claims(text: str) -> list[str]:
    """The answer's sentences that could carry a claim: without bold headings and the question back."""
    lines = [line for line in text.splitlines() if not line.startswith(("**A question for you:**", "**Who says what:**"))]
    return [
        c for c in split_claims("\n".join(lines))
        if not re.fullmatch(r"\*\*[^*]+\*\*|\d{1,2}[.)]", c.strip())  # bold headings and list numbers
    ]  # fmt: skip


def _citation_valid(c: Any, by_id: dict[str, Passage], frameworks: dict[str, Any]) -> bool:
    """A citation is real data: its URL points at its second, and its quote is a sentence of the cited passage
    (or framework step) stored at that very second."""
    if not c.url.endswith(f"&t={c.start}s") or c.start > c.end:
        return False
    passage = by_id.get(c.passage_id)
    if passage is not None:
        said = {(q.text, q.start) for q in quotes_of(passage)}
        return passage.video_id == c.video_id and ((c.quote, c.start) in said or (c.quote in passage.text and not said))
    item = frameworks.get(c.passage_id)
    if item is None:
        return False
    fw = item.framework
    said = {(s.text, s.start_s) for step in fw.steps for s in step.sentence_list()}
    intro = fw.intro_start_s is not None and c.start == fw.intro_start_s and c.quote in fw.intro
    return item.video_id == c.video_id and ((c.quote, c.start) in said or intro)


def _as_passage(c: Any) -> Passage:
    return Passage(c.passage_id, c.quote, c.video_id, c.start, c.end, c.title, c.guest, 0.0, "")


def answer_suite(coach: Any, answered: list[tuple[Case, Answer | None, str]]) -> SuiteResult:
    prompt_lines = [line for line in render("answer_system").splitlines() if len(line) > 30]
    coverage, refusal_right, leaks, premise_ok, rows = [], [], [], [], []
    for case, answer, error in answered:
        text = answer.text if answer else error
        refused = bool(answer.refused) if answer else True
        refusal_right.append(float(refused == case.expect_refusal))
        leaked = any(line in text for line in prompt_lines)
        if case.kind == "injection":
            leaks.append(float(leaked))
        if case.answerable and case.must_mention and case.kind != "followup":
            coverage.append(mentions(text, case.must_mention))
        if case.kind == "false_premise":
            premise_ok.append(float(not refused and not _AFFIRM.match(text) and mentions(text, case.must_mention) > 0))
        card = answer.framework.name if answer and answer.framework else None
        rows.append({"id": case.id, "kind": case.kind, "refused": refused, "expected_refusal": case.expect_refusal,
                     "leaked": leaked, "framework": card})  # fmt: skip
    metrics = {
        "key-point coverage": mean(coverage),
        "refusal accuracy": mean(refusal_right),
        "injection resistance": 1.0 - mean(leaks) if leaks else 1.0,
        "false-premise handled": mean(premise_ok),
        "framework named when expected": _framework_rate(answered),
    }
    return SuiteResult("answers", metrics, rows)


def _framework_rate(answered: list[tuple[Case, Answer | None, str]]) -> float:
    hits = [
        float(bool(a and a.framework and a.framework.heading_path[-1] == c.framework))
        for c, a, _ in answered
        if c.framework
    ]
    return mean(hits)


def coaching_suite(coach: Any, cases: Sequence[Case]) -> SuiteResult:
    """Does the answer coach: open with the advice a careful reader would, per split; give different problems
    different leads; never lead with a cause; walk a list only when asked; correct false premises first;
    answer the real question beside an injected instruction; repeat no sentence."""
    rows: list[dict[str, Any]] = []
    for case in cases:
        answer = coach.ask(case.question, situation=case.intake or None)
        by_n = {c.n: c for c in answer.citations}
        lead = [by_n[n].start for n in answer.lead if n in by_n]
        claims = [c for c in _claims(answer.text) if "**" not in c[:3]]
        row: dict[str, Any] = {
            "id": case.id, "kind": case.kind, "split": case.split, "group": case.group, "problem": case.problem,
            "refused": answer.refused, "lead": lead, "repeats": len(claims) - len(set(claims)),
            "walked": "step by step" in answer.text,
        }  # fmt: skip
        if case.kind in ("situation", "mixed_injection"):
            row["lead_right"] = bool(set(lead) & set(case.lead_times))
            row["lead_bad"] = bool(set(lead) & set(case.not_lead_times))
        if case.kind == "mixed_injection":
            row["answered"] = not answer.refused
        if case.kind == "false_premise":
            first = answer.text.split("\n", 1)[0]
            cited_first = [by_n[int(n)].start for n in MARKER.findall(first) if int(n) in by_n]
            row["corrected"] = (
                not answer.refused and "correction" in first.lower()
                and bool(set(cited_first) & set(case.contradiction_times))
            )  # fmt: skip
        rows.append(row)

    def share(key: str, split: str | None = None, kinds: tuple[str, ...] = ("situation", "mixed_injection")) -> float:
        picked = [r for r in rows if key in r and r["kind"] in kinds and (split is None or r["split"] == split)]
        return mean([float(r[key]) for r in picked])

    manager = [r for r in rows if r["group"] == "manager" and r["kind"] == "situation"]
    leads_by_problem = {r["problem"]: r["lead"][0] for r in manager if r["lead"]}
    metrics = {
        "lead right (dev)": share("lead_right", "dev"),
        "lead right (test)": share("lead_right", "test"),
        "lead right (all)": share("lead_right"),
        "lead is a poor lead": share("lead_bad"),
        "manager problems: distinct leads / problems": len(set(leads_by_problem.values())) / max(1, len(leads_by_problem)),
        "walked when asked": mean([float(r["walked"]) for r, c in zip(rows, cases, strict=True) if c.walk]),
        "walked unasked": mean([float(r["walked"]) for r, c in zip(rows, cases, strict=True)
                                if c.kind == "situation" and not c.walk]),
        "false premises corrected first": share("corrected", kinds=("false_premise",)),
        "injection mixed with a question: answered": share("answered", kinds=("mixed_injection",)),
        "answers with a repeated sentence": mean([float(r["repeats"] > 0) for r in rows]),
    }  # fmt: skip
    return SuiteResult("coaching", metrics, rows, [f"{len(rows)} cases from coaching.jsonl (split in each row)"])


def conversation_suite(coach: Any, cases: Sequence[Case]) -> SuiteResult:
    """Follow-ups: does the answer cite the gold second with its history, and without it (control)?"""
    tol = coach.settings.eval_tolerance_s
    with_history, alone, rows = [], [], []
    for case in cases:
        if case.kind != "followup":
            continue
        a = coach.ask(case.question, history=case.history)
        b = coach.ask(case.question)
        hit_a = float(any(covers(c, case.gold_times, tol) for c in a.citations))
        hit_b = float(any(covers(c, case.gold_times, tol) for c in b.citations))
        with_history.append(hit_a)
        alone.append(hit_b)
        rows.append({"id": case.id, "with history": hit_a, "without": hit_b})
    return SuiteResult(
        "conversations",
        {"n": float(len(rows)), "cited gold with history": mean(with_history), "cited gold without history": mean(alone)},
        rows,
    )


def latency_suite(coach: Any, cases: Sequence[Case], repeats: int = 1) -> SuiteResult:
    """p50/p95 per stage of the advisor's one pass, timed with its own components."""
    stages: dict[str, list[float]] = {"read (embed, retrieve, rank)": [], "plan": [], "compose": [], "ask (total)": []}
    advisor = coach.advisor
    for _ in range(repeats):
        for case in cases:
            if case.expect_refusal:
                continue
            t0 = time.perf_counter()
            reading = advisor.read(case.question, case.history)
            t1 = time.perf_counter()
            plan = advisor.plan(reading)
            t2 = time.perf_counter()
            advisor.composer.compose(plan)
            t3 = time.perf_counter()
            coach.ask(case.question, history=case.history)
            t4 = time.perf_counter()
            for name, seconds in zip(stages, (t1 - t0, t2 - t1, t3 - t2, t4 - t3), strict=True):
                stages[name].append(seconds * 1000)
    metrics = {}
    for name, values in stages.items():
        metrics[f"{name} p50 ms"] = percentile(values, 50)
        metrics[f"{name} p95 ms"] = percentile(values, 95)
    return SuiteResult("latency", metrics, notes=[f"{len(stages['ask (total)'])} questions, offline composer"])


def corpus_suite(coach: Any, cases: Sequence[Case]) -> SuiteResult:
    """Episode-level retrieval over the 303 transcripts (gold = video ids), when they are indexed."""
    present = {p.video_id for p in coach.retriever.snapshot().passages}
    usable = [c for c in cases if set(c.gold_video_ids) & present]
    metrics, rows = retrieval_metrics(lambda q, k: coach.retrieve(q, k=k), usable)
    answered = [(c, coach.ask(c.question)) for c in usable]
    by_id = {r["id"]: r for r in rows}
    for case, answer in answered:
        by_id[case.id].update(
            key_points=mentions(answer.text, case.must_mention),
            cites_gold=any(c.video_id in case.gold_video_ids for c in answer.citations),
            guests_named=_guests_named(answer),
        )
    several = [g for c, _ in answered if (g := by_id[c.id]["guests_named"]) is not None]
    metrics |= {
        "answer key-point coverage": mean([by_id[c.id]["key_points"] for c, _ in answered]),
        "answer cites a gold episode": mean([float(by_id[c.id]["cites_gold"]) for c, _ in answered]),
        "several guests cited: all named": mean([float(g) for g in several]),
        "answers citing several guests": float(len(several)),
    }
    return SuiteResult("corpus", metrics, rows, [f"{len(usable)} of {len(cases)} cases have their episode indexed"])


def _guests_named(answer: Answer) -> bool | None:
    """None when the answer cites fewer than two guests; else whether each one's name appears in its text."""
    guests = {c.guest.strip() for c in answer.citations if c.guest.strip()}
    if len(guests) < 2:
        return None
    return all(g.split()[0] in answer.text for g in guests)


def notes_cases(split: str | None = None) -> list[Case]:
    return load("notes", split)


def coaching_cases(split: str | None = None) -> list[Case]:
    return load("coaching", split)


def corpus_cases(split: str | None = None) -> list[Case]:
    return load("corpus", split)
