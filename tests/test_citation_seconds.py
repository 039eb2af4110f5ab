"""Every cited sentence links to the second the notes give that very sentence.

The oracle reads the notes file itself, independently of the parser: in the notes a timestamp closes the
sentence before it, so a quote's second is the first anchor after the quote ends. A sentence with no anchor of
its own before the next heading is untimed: its citation must say it is approximate and stay in its section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from evals.datasets import load
from tests.conftest import NOTES

_ANCHOR = re.compile(
    r'<a class="yt-timestamp" data-t="(?P<a>[\d:]+)">\[[\d:]+\]</a>|<a [^>]*data-t="(?P<b>[\d:]+)"[^>]*></a>'
    r"|\[(?P<c>\d{1,2}:\d{2}(?::\d{2})?)\]"
)
_WIKI = re.compile(r"\[\[(?:[^\]|]*\|\s*)?([^\]]*)\]\]")


def _seconds(text: str) -> int:
    parts = [int(p) for p in text.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)
    return parts[0] * 3600 + parts[1] * 60 + parts[2]


def _norm(text: str) -> str:
    text = re.sub(r"[“”\"*_]|<br/>", "", text)
    text = re.sub(r"^\s*(?:#+|>|\d+\.|\*)\s+", " ", text, flags=re.MULTILINE)
    text = re.sub(r"\s+", " ", text)
    return re.sub(r" ([.,:;!?])", r"\1", text).strip().lower()


@dataclass
class _Notes:
    plain: str  # the notes' words, normalised, anchors removed
    anchors: list[tuple[int, int]]  # (offset in plain, seconds), in file order
    headings: list[int]  # offsets in plain where a heading starts
    line_ends: list[int]  # offsets in plain where a line of the file (a paragraph or list item) ends

    def closing(self, quote: str) -> tuple[int | None, tuple[int, int]]:
        """The second of the first anchor after the quote within its own paragraph or list item (None when the
        quote has none: untimed) and the quote's section as (start, end) offsets."""
        needle = _norm(quote).rstrip(".:;,")
        at = self.plain.find(needle)
        assert at >= 0, f"quote not verbatim in the notes: {quote!r}"
        end = at + len(needle)
        section = (max([h for h in self.headings if h <= at], default=0),
                   min([h for h in self.headings if h > at], default=len(self.plain)))  # fmt: skip
        line_end = min([e for e in self.line_ends if e >= end], default=len(self.plain))
        after = next(((o, s) for o, s in self.anchors if o >= end), None)
        if after is None or after[0] > line_end:
            return None, section
        return after[1], section


def _append(plain: str, piece: str) -> str:
    """Join text across an anchor; punctuation right after an anchor belongs to the sentence it closed."""
    piece = _norm(piece)
    if not piece:
        return plain
    return plain + piece if piece[:1] in ".,:;!?" else (plain + " " + piece).strip()


def _read_notes() -> _Notes:
    body = NOTES.read_text(encoding="utf-8").split("---", 2)[2]
    body = _WIKI.sub(lambda m: m.group(1).strip(), body)
    plain, anchors, headings, line_ends = "", [], [], []
    for line in body.splitlines():
        if line.startswith("#"):
            headings.append(len(plain))
        pos = 0
        for m in _ANCHOR.finditer(line):
            plain = _append(plain, line[pos : m.start()])
            anchors.append((len(plain), _seconds(m.group("a") or m.group("b") or m.group("c"))))
            pos = m.end()
        plain = _append(plain, line[pos:])
        line_ends.append(len(plain))
    return _Notes(plain, anchors, headings, line_ends)


@pytest.fixture(scope="module")
def notes() -> _Notes:
    return _read_notes()


def test_the_oracle_reads_the_notes_by_hand(notes: _Notes) -> None:
    """The oracle itself, on sentences read by hand (not through the parser)."""
    assert notes.closing("Ask your boss how you can help")[0] == 391  # 00:06:31
    assert notes.closing("This simple question sets you apart")[0] == 400  # 00:06:40
    assert notes.closing("Managers rarely get asked this.")[0] == 1057  # 00:17:37
    assert notes.closing("Ethan Evans holds several contrarian views:")[0] is None  # no anchor in its paragraph
    assert notes.closing("These strategies contribute to career growth for product managers")[0] is None  # untimed


def test_every_cited_second_is_the_notes_second_for_that_sentence(bundled, notes: _Notes) -> None:  # type: ignore[no-untyped-def]
    cases = load("notes") + load("coaching")
    wrong, checked = [], 0
    for case in cases:
        try:
            answer = bundled.ask(case.question, history=case.history, situation=case.intake or None)
        except ValueError:
            continue
        for c in answer.citations:
            checked += 1
            second, (lo, hi) = notes.closing(c.quote)
            if second is None:  # untimed in the notes: marked approximate, its second from its own section
                in_section = {s for o, s in notes.anchors if lo <= o < hi}
                if not c.approximate or c.start not in in_section:
                    wrong.append(f"{case.id}: untimed {c.quote[:50]!r} at {c.start} (approximate={c.approximate})")
            elif c.start != second or c.approximate:
                wrong.append(f"{case.id}: {c.quote[:50]!r} cited at {c.start}, the notes say {second}")
    assert checked > 500
    assert not wrong, f"{len(wrong)} of {checked} citations off:\n" + "\n".join(wrong[:20])
