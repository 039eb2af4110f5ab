"""Inputs with no sane size or encoding get a clear answer through every door: the CLI, the Python API
and the web app's `chat` API. Usage errors exit 2 and name the option."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT
from tests.support import cli_env, copy_store, error_lines, run_cli

SENIOR = "How do I get past senior manager?"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, bundled_store: Path) -> Path:
    """The module's own copy of the complete bundled store (these tests are about inputs, not the first build)."""
    return copy_store(bundled_store, tmp_path_factory.mktemp("bounded") / "store")


def test_an_endless_history_file_is_refused_quickly(store: Path, cache_dir: Path) -> None:
    started = time.monotonic()
    code, _, err = run_cli("ask", "What next?", "--history", "/dev/zero", "--store", str(store),
                           env=cli_env(cache_dir), timeout=120)  # fmt: skip
    assert code == 2
    lines = error_lines(err)
    assert len(lines) == 1, err
    assert lines[0].startswith("error: --history: /dev/zero is larger than")
    assert time.monotonic() - started < 120


def test_a_question_with_bytes_that_are_not_utf8_is_answered_with_a_notice(store: Path, cache_dir: Path) -> None:
    question = SENIOR.encode() + b" caf\xe9 \xff"  # Latin-1 bytes from an old terminal
    run = subprocess.run(
        [sys.executable, "-m", "coach.cli", "ask", question, "--store", str(store)],
        capture_output=True, env=cli_env(cache_dir), cwd=ROOT, timeout=600,
    )  # fmt: skip
    stderr = run.stderr.decode("utf-8", "replace")
    assert run.returncode == 0, stderr[-3000:]
    assert "Traceback" not in stderr
    assert "could not be read and were replaced" in stderr
    assert "senior manager" in run.stdout.decode("utf-8").lower()


def test_the_python_api_cleans_lone_surrogates_and_refuses_k_out_of_range(bundled) -> None:  # type: ignore[no-untyped-def]
    answer = bundled.ask(SENIOR + " \ud800\udfff")
    assert answer.citations
    assert any("could not be read" in n for n in answer.notices)
    assert "\ud800" not in answer.text
    assert bundled.retrieve(SENIOR + "\udcff", k=1)
    for k in (-1, 0, 51):
        with pytest.raises(ValueError, match=f"k must be between 1 and 50 passages, not {k}"):
            bundled.retrieve(SENIOR, k=k)


def test_the_chat_api_answers_a_message_with_a_lone_surrogate(bundled) -> None:  # type: ignore[no-untyped-def]
    import json
    import urllib.request

    from coach import ui
    from tests.support import free_port

    demo, url = ui.serve(bundled, host="127.0.0.1", port=free_port(), block=False, quiet=True, warm=False)
    try:
        # gradio_client cannot even encode a lone surrogate; a hand-written client sends it as a JSON escape.
        body = json.dumps({"data": [SENIOR + " \ud83d", [], "", "", "", ""]}).encode()  # message, history, intake
        assert b"\\ud83d" in body
        request = urllib.request.Request(f"{url}gradio_api/call/chat", body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            event = json.loads(response.read())["event_id"]
        with urllib.request.urlopen(f"{url}gradio_api/call/chat/{event}", timeout=300) as response:
            stream = response.read().decode()
        assert "event: complete" in stream, stream[:2000]
        data = json.loads(stream.split("event: complete", 1)[1].split("data:", 1)[1].strip().splitlines()[0])
        reply = data[0]
        assert reply["citations"]
        assert any("could not be read" in n for n in reply["notices"])
    finally:
        demo.close()


@pytest.mark.parametrize(
    ("args", "names"),
    [
        (["retrieve", "x", "-k", "0"], "'-k'"),
        (["retrieve", "x", "--mode", "fuzzy"], "'--mode'"),
        (["ask", "x", "--bogus"], "--bogus"),
        (["ingest", "--store"], "'--store'"),
    ],
)
def test_usage_errors_exit_2_and_name_the_option(args: list[str], names: str, cache_dir: Path) -> None:
    code, _, err = run_cli(*args, env=cli_env(cache_dir), timeout=120)
    assert code == 2
    lines = error_lines(err)
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert names in lines[0]


@pytest.mark.parametrize(
    ("variable", "value", "accepts"),
    [("COACH_EMBED_BACKEND", "gpu", "'onnx-int8'"), ("COACH_TOP_K", "100", "less than or equal to 20")],
)
def test_a_refused_setting_is_one_line_naming_the_variable(variable: str, value: str, accepts: str, cache_dir: Path) -> None:
    code, _, err = run_cli("retrieve", "x", env=cli_env(cache_dir, **{variable: value}), timeout=120)
    assert code == 1
    lines = error_lines(err)
    assert len(lines) == 1, err
    assert lines[0].startswith(f"error: {variable}: ")
    assert accepts in lines[0]


@pytest.mark.parametrize(("stored", "linked"), [(-50, 0), (24 * 3600 + 1, 0), (0, 0), (65, 65), (24 * 3600, 24 * 3600)])
def test_a_link_never_carries_a_negative_or_absurd_second(stored: int, linked: int) -> None:
    """An index built before the parser refused such times may still hold one (issue 19: `&t=-50s`)."""
    from coach.types import youtube_url

    assert youtube_url("GB0P0_nFPTA", stored) == f"https://www.youtube.com/watch?v=GB0P0_nFPTA&t={linked}s"
