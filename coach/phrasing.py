"""Small judgements about English phrasing: is this sentence something a person can do?

A general lexicon of verbs that open instructions in career advice, not a list of any source's phrases: a
sentence or label is a move when it opens with one ("Ask your boss…", "Practice next-level skills"), with an
adverb and one ("Immediately take ownership…"), with "don't"/"never"/"always" and one, or when it states
advice ("you must…", "it's crucial to…"). Noun phrases ("Choke point", "Return-to-Office Movement") and
reports ("He believes…") are not moves.
"""

from __future__ import annotations

import re

IMPERATIVE_VERBS = frozenset(
    """
    ask do go be become start stop practice practise dedicate combine show focus own provide work meet learn support
    follow take make build share tell find keep get set write talk listen bring help try use give put choose
    demonstrate ensure repeat avoid prepare plan seek look think read block schedule reach offer lead let create
    change check treat remember consider identify explain send call move spend frame pick stay invest document
    clarify raise request propose volunteer anticipate suggest apologize apologise communicate update fix reassure
    note track celebrate thank trust push delegate define agree say admit acknowledge run map test measure drive
    protect reserve carve turn hire fire coach mentor praise notice name decide prioritize prioritise cut narrow
    write record study deliver finish ship join lean earn pay prove tackle address volunteer open close quantify
    describe engage emphasize emphasise highlight connect contribute collaborate position practice commit walk
    outline summarize summarise list
    """.split()
)
_ADVICE = re.compile(
    r"\b(you should|you need to|you have to|you want to|you must|the key is|my advice|i('d| would) recommend|"
    r"make sure|try to|the best way|the trick is|start by|it's (crucial|important|essential|vital|key) to|"
    r"it is (crucial|important|essential|vital|key) to|ensure you)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")


def is_action(sentence: str) -> bool:
    """Whether a sentence or label opens like an instruction a person can follow."""
    words = [w.lower().replace("’", "'") for w in _WORD.findall(sentence)[:3]]
    if not words:
        return False
    if words[0] in ("don't", "never", "always", "do", "just", "first", "then") and len(words) > 1:
        return words[0] == "do" or words[1] in IMPERATIVE_VERBS or words[1] in ("be", "let")
    if words[0].endswith("ly") and len(words) > 1:  # "Immediately take…", "Continuously engage…"
        return words[1] in IMPERATIVE_VERBS
    return words[0] in IMPERATIVE_VERBS


def is_advice(sentence: str) -> bool:
    """A move, or a sentence that states what to do ("It's crucial to explicitly share your goals…")."""
    return is_action(sentence) or bool(_ADVICE.search(sentence))


def after_label(sentence: str) -> str:
    """The body of "Label: body" (the whole sentence when it has no label)."""
    head, sep, body = sentence.partition(": ")
    return body if sep and len(head.split()) <= 8 and body else sentence


_ASKS_HOW = re.compile(
    r"^\W*(how|what can|what should|what do i do|what's the best way|what is the best way)\b", re.IGNORECASE
)


def asks_how(text: str) -> bool:
    """Whether a message asks what to do ("How do I get past senior manager?"), not why or what something is."""
    return bool(_ASKS_HOW.match(text.strip())) or "what should i do" in text.lower() or "what can i do" in text.lower()


# The person speaking of themselves: "I", "my", "we", "our"…
FIRST_PERSON = re.compile(r"\b(I|I'm|I've|I'd|[Mm]y|me|[Ww]e|[Oo]ur)\b")


_FUNCTION_WORDS = frozenset(
    """
    a an the this that these those it its it's is are was were be been being am do does did has have had to of in on
    at by for with from as and or but so if then than there here where when what which who whom how why not no
    very really just also too all any some more most much many such can could would should will may might must
    he she they them his her their we you your i me my our us one ones
    """.split()
)


def says_something(sentence: str, at_least: int = 3) -> bool:
    """Whether a sentence carries content of its own, so it can stand as a reason: "Managers rarely get asked
    this" does; "This is where the "magic" happens" (two content words, the rest pointing back) does not, and
    a list's lead-in ("…due to several factors:") introduces rather than says."""
    if sentence.rstrip().endswith(":"):
        return False
    words = [w.lower().strip("'’") for w in _WORD.findall(sentence)]
    return sum(w not in _FUNCTION_WORDS for w in words) >= at_least
