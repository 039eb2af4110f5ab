"""Prompt templates live as plain files in `prompts/`, loaded by name and versioned with the code."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from string import Template

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


@lru_cache(maxsize=16)
def _template(name: str) -> Template:
    path = PROMPTS_DIR / f"{name}.md"
    if not path.is_file():
        raise FileNotFoundError(f"no prompt named {name!r} in {PROMPTS_DIR}")
    return Template(path.read_text(encoding="utf-8"))


def render(name: str, **values: str) -> str:
    """The prompt with `$placeholders` filled; a missing value is an error, not a silent blank."""
    return _template(name).substitute(**values)
