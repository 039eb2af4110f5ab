"""Citations as data: `[n]` markers bound to stored passages, and every cited sentence checked.

A citation points at the sentence inside a passage that best supports the claim,
so its `start` is that sentence's own second rather than the chunk's first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from coach.textutil import MARKER, NUMBER_WORDS
from coach.types import Citation, Passage
from ingest.chunking import split_sentences
from ingest.embedding import LocalEmbedder

# Cosine between a claim and the best sentence of the passage it cites, below which the claim is
# called unsupported. Calibrated on the dev split (evals/calibrate.py prints the sweep and the choice).
SUPPORT_THRESHOLD = 0.567
# Sentences this short ("Here is how:") carry no claim worth checking.
MIN_CLAIM_WORDS = 6


@dataclass(frozen=True)
class Quote:
    """One sentence of a passage with its own time."""

    text: str
    start: int
    end: int
    speaker: str = ""  # who said it, where the passage labels its speakers (transcripts)
    approximate: bool = False  # untimed in the source: `start` is the second of the span it sits in
    passage_id: str = ""  # set when the sentence comes from another chunk than the one it is cited with


# Chunking writes "Name: " before a sentence wherever the speaker changes (ingest/chunking.py).
_SPEAKER_LABEL = re.compile(r"([^\s:][^:\n]{0,80}):\s*$")


def quotes_of(passage: Passage) -> list[Quote]:
    """The passage's sentences with their own seconds (falls back to the chunk's times)."""
    if passage.spans:
        quotes: list[Quote] = []
        speaker, gap_from = "", 0
        for a, b, s, e, *timed in passage.spans:
            label = _SPEAKER_LABEL.search(passage.text[gap_from:a])
            speaker = label.group(1).strip() if label else speaker
            gap_from = b
            if passage.text[a:b].strip():
                quotes.append(Quote(passage.text[a:b].strip(), s, e, speaker, approximate=bool(timed) and not timed[0]))
        return quotes
    return [Quote(s, passage.start, passage.end) for s in split_sentences(passage.text)]


@dataclass
class CitationBook:
    """Numbers citations in order of first use; the same quote cited twice keeps its number."""

    citations: list[Citation] = field(default_factory=list)

    def cite(self, passage_id: str, video_id: str, title: str, guest: str, quote: Quote) -> int:
        for c in self.citations:  # the same words at the same second are one source, however reached
            if c.video_id == video_id and c.start == quote.start and c.quote == quote.text:
                return c.n
        n = len(self.citations) + 1
        self.citations.append(
            Citation(
                n, video_id, quote.start, max(quote.end, quote.start), title, quote.text, passage_id, guest,
                quote.approximate,
            )
        )
        return n

    def cite_passage(self, passage: Passage, quote: Quote) -> int:
        return self.cite(passage.id, passage.video_id, passage.title, passage.guest, quote)


def split_claims(text: str) -> list[str]:
    """Sentences of an answer, keeping list items and lines apart."""
    out: list[str] = []
    for line in text.splitlines():
        if line.strip():
            out.extend(s for s in split_sentences(line.strip()) if s.strip())
    return out


@dataclass
class CheckedAnswer:
    text: str
    citations: list[Citation]
    dropped: list[str]
    removed_markers: list[int]


class CitationChecker:
    """Verifies an LLM's `[n]` claims against the numbered passages it was given."""

    def __init__(self, embedder: LocalEmbedder, threshold: float = SUPPORT_THRESHOLD) -> None:
        self.embedder = embedder
        self.threshold = threshold

    def support(self, claims: list[str], passage: Passage) -> list[tuple[float, Quote]]:
        """For each claim: the best cosine to any sentence of the passage, and that sentence.

        A claim with a number the passage never states scores 0: embeddings barely tell
        "five steps" from "three steps", and a wrong figure is the commonest invented detail.
        """
        quotes = quotes_of(passage) or [Quote(passage.text, passage.start, passage.end)]
        vectors = self.embedder.encode([_bare(c) for c in claims] + [q.text for q in quotes])
        claim_vecs, quote_vecs = vectors[: len(claims)], vectors[len(claims) :]
        sims = claim_vecs @ quote_vecs.T
        best = np.argmax(sims, axis=1)
        stated = numbers_in(passage.text)
        out = []
        for i, j in enumerate(best):
            if numbers_in(claims[i]) - stated:
                out.append((0.0, quotes[j]))
                continue
            # A claim that carries the cited sentence nearly word for word is supported by it, however
            # much framing ("For what you describe — …") around it lowers the cosine.
            carried = max(_containment(quotes[j].text, claims[i]), _containment(passage.text, claims[i]))
            out.append((max(float(sims[i, j]), carried if carried >= 0.9 else 0.0), quotes[j]))
        return out

    def check(self, text: str, passages: list[Passage], said_by_person: str = "") -> CheckedAnswer:
        """Keep each sentence whose cited passage supports it. Uncited sentences survive only when they carry no
        claim about the sources: short connective text, a question to the person, or the person's own
        situation said back (most of its words are theirs, `said_by_person`)."""
        book = CitationBook()
        kept_lines: list[str] = []
        dropped: list[str] = []
        removed: list[int] = []
        for line in text.splitlines():
            if not line.strip():
                kept_lines.append("")
                continue
            kept: list[str] = []
            for claim in split_sentences(line.strip()):
                numbers = [int(m) for m in MARKER.findall(claim)]
                valid = [n for n in numbers if 1 <= n <= len(passages)]
                removed.extend(n for n in numbers if n not in valid)
                bare = _bare(claim)
                if not valid:
                    if len(bare.split()) < MIN_CLAIM_WORDS or bare.endswith("?") or restates(bare, said_by_person):
                        kept.append(bare)  # connective text, a question back, or their situation: no claim
                    else:
                        dropped.append(bare)
                    continue
                new_numbers: list[int] = []
                for n in dict.fromkeys(valid):
                    score, quote = self.support([bare], passages[n - 1])[0]
                    if score >= self.threshold:
                        new_numbers.append(book.cite_passage(passages[n - 1], quote))
                if new_numbers:
                    kept.append(_with_markers(bare, new_numbers))
                else:
                    dropped.append(bare)
            if kept:
                kept_lines.append(" ".join(kept))
        body = re.sub(r"\n{3,}", "\n\n", "\n".join(kept_lines)).strip()
        return CheckedAnswer(body, book.citations, dropped, sorted(set(removed)))


_NUMBER = re.compile(r"\$?\d[\d,]*(?:\.\d+)?%?|\b(?:" + "|".join(NUMBER_WORDS) + r")\b", re.IGNORECASE)


_STRUCTURE = re.compile(r"^\s*\d{1,2}[.)]\s+|\bstep\s+\d{1,2}\b", re.IGNORECASE)


def numbers_in(text: str) -> set[str]:
    """Numbers stated in a text, words and digits alike ("five" and "5" are the same). List numbering
    and "step 3" are the answer's structure, not claims, and citation markers are not numbers."""
    out = set()
    for token in _NUMBER.findall(_STRUCTURE.sub(" ", MARKER.sub(" ", text))):
        word = token.lower()
        out.add(str(NUMBER_WORDS[word]) if word in NUMBER_WORDS else word.replace(",", "").lstrip("$").rstrip("%"))
    return out - {"0", "1"}  # "one" is as often a pronoun as a count


_WORD = re.compile(r"[a-z0-9$']+")


def _containment(quote: str, claim: str) -> float:
    """Share of the quote's words (of ≥ 6) that the claim repeats; 0 for short quotes."""
    words = _WORD.findall(quote.lower())
    if len(words) < 6:
        return 0.0
    said = set(_WORD.findall(claim.lower()))
    return sum(w in said for w in words) / len(words)


def restates(sentence: str, person: str) -> bool:
    """At least 60 % of the sentence's content words come from the person's own message."""
    words = [w for w in _WORD.findall(sentence.lower()) if len(w) > 3]
    said = set(_WORD.findall(person.lower()))
    return bool(person) and len(words) >= 3 and sum(w in said for w in words) / len(words) >= RESTATE_SHARE


RESTATE_SHARE = 0.6


def _bare(claim: str) -> str:
    """The claim without its markers; keeps a final full stop where a marker preceded it."""
    return re.sub(r"\s+([.!?,;:])", r"\1", MARKER.sub("", claim)).strip()


def _with_markers(claim: str, numbers: list[int]) -> str:
    marks = "".join(f"[{n}]" for n in numbers)
    match = re.search(r"[.!?…]+[\"”’)]*$", claim)
    if match:
        return f"{claim[: match.start()]} {marks}{claim[match.start():]}"
    return f"{claim} {marks}"
