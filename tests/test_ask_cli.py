"""`coach ask` end to end in a subprocess, and the real SmolLM2 model behind the same interface."""

from __future__ import annotations

import json
import re
import socket
from pathlib import Path

import pytest

from tests.support import coach_cli as _coach

URL = re.compile(r"^https://www\.youtube\.com/watch\?v=GB0P0_nFPTA&t=\d+s$")


def test_ask_json_with_history(tmp_path: Path, cache_dir: Path, prebuilt_store: Path) -> None:
    history = tmp_path / "history.json"
    history.write_text(json.dumps([["user", "I want to become more inventive at work."], ["assistant", "Sure."]]))
    res = _coach("ask", "How much time should I block for it?", "--history", str(history), "--json",
                 store=tmp_path / "store", cache=cache_dir)  # fmt: skip
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert {"text", "refused", "citations", "framework", "notices", "backend"} <= data.keys()
    assert data["refused"] is False
    assert data["citations"]
    for c in data["citations"]:
        assert {"n", "video_id", "start", "end", "url", "title", "quote"} <= c.keys()
        assert URL.match(c["url"])
        assert c["url"].endswith(f"&t={c['start']}s")
        assert f"[{c['n']}]" in data["text"]
    assert any(c["start"] <= 1857 <= c["end"] for c in data["citations"])  # "two hours once a month"


def test_ask_errors_are_clear(tmp_path: Path, cache_dir: Path) -> None:
    store = tmp_path / "store"
    res = _coach("ask", "  ", store=store, cache=cache_dir)
    assert res.returncode == 2
    assert "empty" in res.stderr
    res = _coach("ask", "what next?", "--history", str(tmp_path / "nope.json"), store=store, cache=cache_dir)
    assert res.returncode == 2
    assert "--history: file not found" in res.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    res = _coach("ask", "what next?", "--history", str(bad), store=store, cache=cache_dir)
    assert "not readable JSON" in res.stderr
    blocker = tmp_path / "file"
    blocker.write_text("x")
    res = _coach("ask", "How do I get promoted?", store=blocker / "store", cache=cache_dir)
    assert res.returncode == 1
    assert "error:" in res.stderr
    for r in (res,):
        assert "Traceback" not in r.stdout + r.stderr


def test_ask_huge_question_is_trimmed_with_a_notice(tmp_path: Path, cache_dir: Path, prebuilt_store: Path) -> None:
    question = "My manager never discusses my career growth with me and I feel stuck. " * 720  # ~50,000 chars
    assert len(question) >= 50_000
    res = _coach("ask", question, "--json", store=tmp_path / "store", cache=cache_dir)
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert any("characters" in n for n in data["notices"])
    assert data["citations"]


def test_unreachable_llm_endpoint_falls_back_and_says_so(tmp_path: Path, cache_dir: Path, prebuilt_store: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    res = _coach(
        "ask", "How do I get past senior manager?", "--json", store=tmp_path / "store", cache=cache_dir,
        COACH_LLM="openai", COACH_OPENAI_BASE_URL=f"http://127.0.0.1:{port}/v1",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    data = json.loads(res.stdout)
    assert data["backend"] == "offline"
    assert any("could not be reached" in n for n in data["notices"])
    assert data["citations"]


@pytest.mark.slow
def test_real_smollm2_answers_through_the_same_path(coach_with_llm) -> None:  # type: ignore[no-untyped-def]
    """The real 135M model: it streams, and whatever it writes, only checked sentences reach the person."""
    from coach.llm import SmolLM2Chat

    coach = coach_with_llm(SmolLM2Chat(max_new_tokens=48))
    events = list(coach.ask_stream("My manager never talks about my career. What should I do?"))
    deltas = [e.text for e in events if e.kind == "delta"]
    answer = events[-1].answer
    assert len(deltas) > 5  # token by token from transformers' streamer
    assert not answer.refused
    assert answer.citations  # its own checked citations, or the composer's when it had none
    if answer.backend == "offline":
        assert any("offline composer" in n for n in answer.notices)
    numbers = {c.n for c in answer.citations}
    assert {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)} <= numbers
