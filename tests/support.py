"""Helpers shared by test modules: running the real CLI in its own process, as a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cli_env(cache_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a fresh `coach` process: offline, the test's model cache, and only the COACH_*
    variables the test sets itself."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "NO_COLOR": "1",
           "COACH_CACHE_DIR": str(cache_dir)}  # fmt: skip
    for name in [n for n in env if n.startswith("COACH_") and n != "COACH_CACHE_DIR"]:
        env.pop(name)
    return {**env, **extra}


def start_cli(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "coach.cli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env, cwd=ROOT,
    )  # fmt: skip


def run_cli(*args: str, env: dict[str, str], timeout: float = 600) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of one `coach …` run."""
    proc = start_cli(*args, env=env)
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.strip()]
