"""Prompt templates live as plain files in `prompts/`, loaded by name and versioned with the code (shipped in
the wheel: coach/resources.py)."""

from __future__ import annotations

from functools import lru_cache
from string import Template

from coach.resources import bundled_folder


@lru_cache(maxsize=16)
def _template(name: str) -> Template:
    folder = bundled_folder("prompts")
    path = folder / f"{name}.md"
    if not path.is_file():
        raise FileNotFoundError(f"no prompt named {name!r} in {folder}")
    return Template(path.read_text(encoding="utf-8"))


def render(name: str, **values: str) -> str:
    """The prompt with `$placeholders` filled; a missing value is an error, not a silent blank."""
    return _template(name).substitute(**values)
