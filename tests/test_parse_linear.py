"""Parsing stays linear on hostile input, and the linear scanners match the regexes they replaced.

Timing: each adversarial input (bench/parse.py's ADVERSARIAL) is parsed and chunked at a size n and 4n,
and so is real-looking input of the same sizes, interleaved, best of 3 (CPU time). Linear parsing grows about 4x
from n to 4n, quadratic about 16x; on this shared 2-core machine the bound is a generous 8x, and the
growth is also compared with the real input's growth measured in the same run.

Equivalence: the old regexes are the specification (they were right, only slow on hostile input), so
hypothesis compares each scanner with its regex on small texts made of the characters that matter.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bench.parse import ADVERSARIAL, parse_and_chunk
from ingest.chunking import Sentence, _split_long, count_tokens
from ingest.notes import _render_wikis, _strip_tags
from ingest.timestamps import TIME, find_anchors
from tests.conftest import CORPUS, NOTES

SMALL = 16_000  # characters; 4x that is the large size
MIN_SAMPLE_S = 0.12  # each timing repeats a parse until it lasts this long, so small inputs time steadily
MAX_GROWTH = 8.0  # 4x the input: linear ~4, quadratic ~16
MAX_GROWTH_OVER_REAL = 2.5  # the same, relative to real input's growth in this run (linear ~1, quadratic ~4)

# ---- timing --------------------------------------------------------------------------------------------


def _tiled(text: str, size: int) -> str:
    """A real file's front matter, then its body repeated to about `size` characters."""
    head_end = text.index("\n---\n", 4) + 5
    head, body = text[:head_end], text[head_end:]
    return head + body * max(1, math.ceil((size - len(head)) / len(body)))


def _real_like(kind: str, size: int) -> str:
    source = NOTES if kind == "notes" else CORPUS / "ethan-evans" / "transcript.md"
    return _tiled(source.read_text(encoding="utf-8"), size)[:size]


def _seconds(path: Path) -> float:
    """Best of 3 samples of the CPU time one parse + chunk takes: CPU time, not wall time, so other processes
    on the shared machine (or a second test worker) do not count in it."""
    start = time.process_time()
    parse_and_chunk(path)
    once = time.process_time() - start
    reps = max(1, math.ceil(MIN_SAMPLE_S / max(once, 1e-6)))
    best = once
    for _ in range(3):
        start = time.process_time()
        for _ in range(reps):
            parse_and_chunk(path)
        best = min(best, (time.process_time() - start) / reps)
    return best


def _growth(name: str, tmp_path: Path) -> tuple[float, float]:
    """(growth of the adversarial input from n to 4n, growth of real-looking input of the same sizes)."""
    kind = "notes" if name.startswith("notes") else "transcript"
    files = {}
    for label, make in (("hostile", ADVERSARIAL[name]), ("real", lambda n: _real_like(kind, n))):
        for n in (SMALL, 4 * SMALL):
            files[label, n] = tmp_path / f"{label}-{n}.md"
            files[label, n].write_text(make(n), encoding="utf-8")
    seconds = {key: _seconds(path) for key, path in files.items()}
    return (
        seconds["hostile", 4 * SMALL] / seconds["hostile", SMALL],
        seconds["real", 4 * SMALL] / seconds["real", SMALL],
    )


@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_parse_time_grows_linearly(name: str, tmp_path: Path) -> None:
    count_tokens("warm up")
    runs = []
    for _ in range(2):  # a second measurement only if the first was skewed by the shared machine
        growth, real = _growth(name, tmp_path)
        if growth < MAX_GROWTH and growth / real < MAX_GROWTH_OVER_REAL:
            return
        runs.append(f"{growth:.1f}x (real input: {real:.1f}x)")
    pytest.fail(f"{name}: 4x the input took {' then '.join(runs)} the time")


def _mixed(kind: str, size: int) -> str:
    """One file of about `size` characters mixing every adversarial input of `kind` (untimed ones first, so
    that they stay untimed), under the largest of their front matters."""
    named = sorted((name for name in ADVERSARIAL if name.startswith(kind)), key=lambda name: ("untimed" not in name, name))
    texts = [ADVERSARIAL[name](size // len(named)).split("\n---\n", 1) for name in named]
    return max((head for head, _ in texts), key=len) + "\n---\n\n" + "\n\n".join(body for _, body in texts)


@pytest.mark.parametrize("kind", ["notes", "transcript"])
def test_an_8_mb_hostile_file_parses_in_seconds(kind: str, tmp_path: Path) -> None:
    path = tmp_path / "hostile.md"
    path.write_text(_mixed(kind, 7_900_000), encoding="utf-8")
    assert path.stat().st_size > 7_000_000
    count_tokens("warm up")
    start = time.perf_counter()
    chunks = parse_and_chunk(path)
    elapsed = time.perf_counter() - start
    assert chunks > 0
    assert elapsed < 60, f"an 8 MB {kind} file took {elapsed:.0f} s to parse and chunk"


# ---- the scanners are the regexes they replaced --------------------------------------------------------
_ANCHOR_SPEC = re.compile(
    rf"<a\b[^>]*?data-t=[\"'](?P<t1>{TIME})[\"'][^>]*>(?:\s*\[?(?:{TIME})?\]?\s*)</a>|\[(?P<t2>{TIME})\]", re.I
)
_WIKI_SPEC = re.compile(r"\[\[([^\]|]+?)(?:\s*\|\s*([^\]]+?))?\s*\]\]")
_TAG_SPEC = re.compile(r"<[^>\x00]{0,500}>")

_ATOMS = ["<a ", "<A", "<a", "<ab", "data-t=", "DATA-T=", '"', "'", "00:06:02", "1:2:34", "6:02", "12:60", "123:45", ">",
          "</a>", "</A>", "[", "]", "[[", "]]", "|", " ", "  ", "\t", "\n", "\u2003", "x", "_", "a_b", "\x00", "<"]
_markup = st.lists(st.sampled_from(_ATOMS), max_size=40).map("".join)
MARKUP = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@MARKUP
@given(_markup)
@example('<a <a data-t="00:06:02">[00:06:02]</a>')
@example('<a data-t="1:00" data-t="00:06:02">  [6:02]  </a>')
@example('<a data-t="00:06:02"></a [00:01:00] <a data-t="00:01:00">x</a>')
def test_find_anchors_matches_the_anchor_regex(text: str) -> None:
    expected = [(m.start(), m.end(), m.group("t1") or m.group("t2")) for m in _ANCHOR_SPEC.finditer(text)]
    assert list(find_anchors(text)) == expected


@MARKUP
@given(_markup)
@example("[[a_b | label ]] [[ target ]] [[|x]] [[x|]] [[ | ]] [[\t]] [[[[a]]")
def test_wiki_links_render_as_the_wiki_regex_did(text: str) -> None:
    spec_topics: list[str] = []

    def render(m: re.Match[str]) -> str:
        target, label = m.group(1).strip(), m.group(2)
        spec_topics.append(target)
        return (label or target.replace("_", " ")).strip()

    topics: list[str] = []
    assert _render_wikis(text, topics) == _WIKI_SPEC.sub(render, text)
    assert topics == spec_topics


@MARKUP
@given(_markup, st.integers(0, 600))
@example("<<b> x <i>", 0)
def test_tags_strip_as_the_tag_regex_did(text: str, padding: int) -> None:
    text = text.replace("x", "x" * padding, 1)  # tags longer than the 500-character limit too
    assert _strip_tags(text) == _TAG_SPEC.sub(" ", text)


def _split_by_prefixes(sentence: Sentence, limit: int) -> list[str]:
    """The overlong-sentence split as it was: count every prefix (quadratic, and the specification)."""
    pieces: list[str] = []
    current: list[str] = []
    for word in sentence.text.split():
        if current and count_tokens(" ".join([*current, word])) > limit:
            pieces.append(" ".join(current))
            current = []
        current.append(word)
    return [*pieces, " ".join(current)] if current else pieces


_word = st.text(st.sampled_from("ab1 2.,!?'’-é漢🙂\u2003\t\n") | st.characters(codec="utf-8", exclude_categories=("Cs",)),
                min_size=1, max_size=12)  # fmt: skip


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_word, min_size=1, max_size=120).map(" ".join), st.integers(1, 40))
def test_overlong_sentences_split_where_prefix_counting_split_them(text: str, limit: int) -> None:
    sentence = Sentence(text, 1, 2, count_tokens(text), ("H",), "Ann", 0, True)
    pieces = _split_long(sentence, limit, count_tokens)
    if sentence.tokens <= limit:
        assert pieces == [sentence]
    else:
        assert [p.text for p in pieces] == _split_by_prefixes(sentence, limit)
        assert [p.tokens for p in pieces] == [count_tokens(p.text) for p in pieces]
