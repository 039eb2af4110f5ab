"""Coach: a retrieval-augmented career coach whose every claim cites the second it was said."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from coach.api import Coach

__all__ = ["Coach"]


def __getattr__(name: str) -> Any:
    # Lazy, so `import coach` stays free of chromadb/torch imports until they are needed.
    if name == "Coach":
        from coach.api import Coach

        return Coach
    raise AttributeError(name)
