"""Coach as a real package: the wheel built from this tree, installed (not editable) into a fresh venv, answers
from an empty folder with the notes it ships, and serves the chat.

The fresh venv borrows the third-party libraries of the project's .venv through a .pth file (a path line only,
so .venv's editable install of Coach itself is not loaded): nothing is downloaded, and the `coach` that runs is
the one inside the wheel. The wheel is built from a copy of the files it is made of, so the checkout gets no
build/ folder."""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import ROOT, free_port

pytestmark = pytest.mark.processes

SENIOR = "How do I get past senior manager?"
BUNDLED_VIDEO = "GB0P0_nFPTA"  # data/ethan-evans-career-development.md
WHEEL_SOURCES = ("pyproject.toml", "README.md", "coach", "ingest", "evals", "prompts", "data")


def _copy_sources(to: Path) -> None:
    junk = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in WHEEL_SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, to / name, ignore=junk)
        else:
            shutil.copy2(src, to / name)
    for run in (to / "evals" / "reports").iterdir():  # earlier local eval runs; only the baseline ships
        if run.name != "baseline":
            shutil.rmtree(run)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ folder of a fresh venv holding the wheel of this tree."""
    work = tmp_path_factory.mktemp("wheel")
    src, dist, venv = work / "src", work / "dist", work / "venv"
    src.mkdir()
    _copy_sources(src)
    pip = [sys.executable, "-m", "pip"]
    offline = ["--no-deps", "--no-index", "-q"]
    build = subprocess.run([*pip, "wheel", *offline, "--no-build-isolation", "-w", str(dist), str(src)],
                           capture_output=True, text=True, timeout=300)  # fmt: skip
    assert build.returncode == 0, build.stderr
    wheel = next(dist.glob("coach-*.whl"))

    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    fresh_site = Path(
        subprocess.run(
            [str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
    )  # fmt: skip
    (fresh_site / "project-deps.pth").write_text("\n".join(site.getsitepackages()) + "\n", encoding="utf-8")
    install = subprocess.run([*pip, "--python", str(venv / "bin" / "python"), "install", *offline, str(wheel)],
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert install.returncode == 0, install.stderr
    return venv / "bin"


@pytest.fixture
def elsewhere(tmp_path: Path, cache_dir: Path) -> Iterator[tuple[Path, dict[str, str]]]:
    """An empty folder to run from, and an environment that points at nothing in the checkout."""
    here = tmp_path / "empty"
    here.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("COACH_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update({
        "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "NO_COLOR": "1",
        "PYTHONUNBUFFERED": "1", "COACH_STORE_DIR": str(tmp_path / "store"), "COACH_CACHE_DIR": str(cache_dir),
    })  # fmt: skip
    yield here, env
    assert list(here.iterdir()) == []  # answering and serving write nothing into the folder they run from


def test_the_wheel_carries_its_files_and_reads_them_from_the_install(installed: Path, elsewhere) -> None:  # type: ignore[no-untyped-def]
    here, env = elsewhere
    probe = (
        "import json, coach, evals.datasets, evals.report; from coach.settings import Settings; "
        "from coach.prompts import render; "
        "print(json.dumps([coach.__file__, str(Settings().data_dir), str(evals.datasets.DATASETS), "
        "str(evals.report.SHIPPED_BASELINE), render('answer_system')[:9]]))"
    )
    run = subprocess.run([str(installed / "python"), "-c", probe], capture_output=True, text=True, cwd=here, env=env)
    assert run.returncode == 0, run.stderr
    module, data_dir, datasets, baseline, prompt = json.loads(run.stdout)
    venv = installed.parent
    assert Path(module).is_relative_to(venv), module  # the wheel's code, not the checkout's
    for shipped, inside in ((data_dir, "ethan-evans-career-development.md"), (datasets, "notes.jsonl"), (baseline, "")):
        assert Path(shipped).is_relative_to(venv), shipped
        assert (Path(shipped) / inside).is_file(), shipped
    assert prompt == "You are C"
    shipped = {p.name for p in Path(data_dir).iterdir()}
    assert shipped == {p.name for p in (ROOT / "data").iterdir() if p.is_file()}  # the whole bundled corpus


def test_coach_ask_from_another_folder_answers_from_the_bundled_notes(installed: Path, elsewhere) -> None:  # type: ignore[no-untyped-def]
    here, env = elsewhere
    run = subprocess.run(
        [str(installed / "coach"), "ask", SENIOR, "--json"], capture_output=True, text=True, cwd=here, env=env, timeout=600
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    answer = json.loads(run.stdout)
    assert not answer["refused"]
    assert answer["citations"]
    assert {c["video_id"] for c in answer["citations"]} == {BUNDLED_VIDEO}
    assert all(f"[{c['n']}]" in answer["text"] for c in answer["citations"])


def test_coach_serve_from_another_folder_serves_the_page_and_the_chat_api(installed: Path, elsewhere) -> None:  # type: ignore[no-untyped-def]
    from gradio_client import Client

    here, env = elsewhere
    port = free_port()
    proc = subprocess.Popen(
        [str(installed / "coach"), "serve", "--port", str(port)],
        cwd=here, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline, seen = time.monotonic() + 300, []
        while time.monotonic() < deadline and proc.poll() is None:
            line = proc.stdout.readline() if proc.stdout else ""
            seen.append(line)
            if "running at" in line:
                break
        assert url in seen[-1], "".join(seen)
        page = httpx.get(url, timeout=30)
        assert page.status_code == 200
        config = httpx.get(f"{url}config", timeout=30).json()
        assert "#coach-chat" in config["css"]  # coach/ui.css came with the wheel
        result = Client(url, verbose=False).predict(SENIOR, api_name="/chat")
        assert not result["refused"]
        assert result["citations"]
        assert all(f"v={BUNDLED_VIDEO}&t=" in c["url"] for c in result["citations"])
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
