"""Small judgements about English phrasing shared by the composer and framework matching."""

from __future__ import annotations

import re

_NOT_IMPERATIVE = frozenset(
    "a an the he she it they we i you this that these those there his her their our my your its "
    "in on at by for of to as if when while so but and or because after before most many some one "
    "what why how who which where all each every no not whatever whenever however whoever also just then now "
    "yeah yes okay ok well like maybe actually really basically sometimes often usually once even still here "
    "oh um uh right exactly totally".split()
)

def is_action(sentence: str) -> bool:
    """Whether a sentence or label opens like an instruction (\"Ask your boss…\", \"Practice…\")."""
    words = re.findall(r"[A-Za-z']+", sentence)
    if not words:
        return False
    first = words[0]
    return first[0].isupper() and first.lower() not in _NOT_IMPERATIVE and not first.lower().endswith(("ing", "ed", "s"))
