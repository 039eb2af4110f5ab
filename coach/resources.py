"""Where the files that ship with the code are: the prompt templates (`prompts/`) and the bundled corpus (`data/`).

Both folders sit at the top of the repository, beside the packages. pyproject.toml maps them into the wheel as
`coach/_bundled/prompts` and `coach/_bundled/data` (setuptools `package-dir`), so an installed Coach reads them
from inside its own package, whatever the current folder; a checkout (editable install, tests) reads the
top-level folders in place. This is the one place that knows both layouts."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

_PACKAGE = Path(__file__).resolve().parent


def bundled_folder(name: Literal["prompts", "data"]) -> Path:
    """The shipped folder `name`: inside the installed package, else the checkout's top-level folder."""
    installed = _PACKAGE / "_bundled" / name
    return installed if installed.is_dir() else _PACKAGE.parent / name
