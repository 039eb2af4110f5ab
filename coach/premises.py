"""False premises: a question that asserts something about the sources which the sources contradict.

Only assertions about the sources are checked — a sentence that names the guest, a framework or another thing
the sources name ("Ethan says you should never…", "Since the Magic Loop only works…") — never the person's
account of their own situation ("my manager never…"). Such a claim is contradicted by the source sentence
closest to it when the two differ in a way embeddings cannot see: negation ("never ask" against "Ask your
boss…"), a number ("200 people" against "over 2,200 people"), a pair of opposites ("more" against "fewer",
"calm" against "angry"), or the person named ("Jeff Bezos wrote…" against "Marshall Goldsmith's book").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from coach.citations import Quote, numbers_in
from coach.phrasing import is_action
from coach.sentence_vectors import Encoder
from coach.textutil import NUMBER_WORDS
from ingest.chunking import split_sentences

# A source sentence this close to a claim talks about the same thing (MiniLM cosine; set on the dev split of
# the false-premise cases in evals/datasets/coaching.jsonl and notes.jsonl).
SAME_TOPIC = 0.40
# A pair of opposites is a specific signal: a sentence only loosely on the claim's topic (the nearest
# passages' sentences, cosine from this) may contradict it that way. Numbers, names and negation need SAME_TOPIC.
LOOSE_TOPIC = 0.25
_NEGATION = re.compile(
    r"not|never|no|nobody|nothing|none|neither|nor|without|skip|skipping|avoid|avoiding|stop",
    re.IGNORECASE,
)
# Opposites that a sentence embedding scores as near-synonyms. General English pairs, not any source's phrases.
OPPOSITES = [
    ("more", "fewer"), ("more", "less"), ("most", "few"), ("always", "sometimes"), ("always", "never"),
    ("calm", "angry"), ("calm", "anger"), ("reversible", "irreversible"), ("junior", "senior"),
    ("great", "challenging"), ("good", "challenging"), ("perfect", "challenging"), ("secret", "share"),
    ("to yourself", "share"), ("original", "existing"), ("email", "in person"), ("email", "face-to-face"),
    ("office", "remote"), ("surprise", "beta"), ("weeks", "hours"), ("months", "hours"), ("ceo", "vice president"),
    ("slow", "speed"), ("slow", "quickly"), ("wait", "proactive"), ("hide", "own"), ("blame", "ownership"),
    ("alone", "together"), ("quiet", "frequent"), ("formal contracts", "handshake"),
]  # fmt: skip
_CAPITAL_RUN = re.compile(r"\b[A-Z][a-z]+(?:['’]s)?(?:\s+[A-Z][a-z]+(?:['’]s)?)*")
_FIRST_PERSON = re.compile(r"\b(I|I'm|I've|I'd|my|me|My)\b")
_WRAPPER = re.compile(r"^(why|how come|so why)\s+(does|did|do|would)\s+", re.IGNORECASE)


@dataclass(frozen=True)
class Correction:
    """A claim of the question and the source sentence that contradicts it."""

    claim: str
    quote: Quote
    source_ref: tuple[str, str, str, str]  # passage_id, video_id, title, guest
    reason: str  # "negation", "number", "opposites" or "person"


@dataclass(frozen=True)
class SourceSentence:
    quote: Quote
    ref: tuple[str, str, str, str]


def claims_about_sources(question: str, names: Iterable[str]) -> list[str]:
    """Assertions the question makes about the sources: clauses that name something the sources name, and
    what a question takes for granted ("Since X, …", "As a former X, what does Ethan…" → "Ethan was a former X")."""
    words = {w.lower() for name in names for w in re.findall(r"[A-Za-z][A-Za-z'-]{3,}", name)}
    claims = []
    for sentence in split_sentences(question):
        sentence = _TAG.sub("", sentence.strip())
        if m := _AS_A.match(sentence):
            named = [n for n in re.findall(r"\b[A-Z][a-z]{2,}\b", m.group(2)) if n.lower() in words]
            if named:
                claims.append(f"{named[0]} was {m.group(1)}")
                continue
        sentence = _HEARD.sub("", sentence)  # "I heard Ethan say that X" asserts X about the sources
        presupposed = _SINCE.match(sentence)
        for clause in re.split(r",\s+(?:so|and so|which means)\s+|;\s+", presupposed.group(1) if presupposed else sentence):
            unwrapped = _WRAPPER.sub("", clause.strip())
            asks = unwrapped == clause.strip() and (_ASKS.match(clause) is not None or clause.rstrip().endswith("?"))
            clause = unwrapped
            if not clause or asks or is_action(clause) or _FIRST_PERSON.search(clause):
                continue  # a plain question asserts nothing; "why does Ethan say X?" asserts X
            named_words = {w.lower() for w in re.findall(r"\b[A-Z][A-Za-z'-]{3,}", clause)}
            if presupposed or named_words & words:
                claims.append(_ATTRIBUTION.sub("", clause))
    return claims


_TAG = re.compile(r",?\s+(right|correct|didn't (he|she|they)|doesn't (he|she|it)|isn't it|aren't they|wasn't it)\?$",
                  re.IGNORECASE)  # fmt: skip
_SINCE = re.compile(r"^(?:since|given that|because)\s+(.+?),\s+(?:what|how|why|should|can|do|does|is|where|who)\b",
                    re.IGNORECASE)  # fmt: skip
_HEARD = re.compile(
    r"^(?:I(?:'ve| have)? (?:heard|read|saw|was told)|someone told me|people say|they say)\s+(?:that\s+)?", re.IGNORECASE
)
_ASKS = re.compile(r"^(who|what|when|where|which|how|why|is|are|was|were|does|do|did|can|could|should|would|will)\b",
                   re.IGNORECASE)  # fmt: skip
_AUTHORSHIP = re.compile(r"(wrote|said|says|created|invented|founded|proposed|drafted|coined|built|came up)\b")
# "Ethan says (that) X" claims X; the attribution only adds noise to the comparison.
_ATTRIBUTION = re.compile(
    r"^(?:[A-Z][a-z]+\s+){1,2}(?:says|said|say|thinks|think|believes|recommends|recommend|argues|claims|suggests|"
    r"insists|tells you)\s+(?:that\s+)?"
)
_AS_A = re.compile(r"^as (an? (?:former |current )?[^,]{2,60}),\s+(.+)$", re.IGNORECASE)


def find_correction(
    question: str,
    sentences: list[SourceSentence],
    names: Iterable[str],
    embedder: Encoder,
    search: Callable[[str], list[SourceSentence]] | None = None,
) -> Correction | None:
    """The first claim of the question that a source sentence contradicts, with that sentence. `search` finds
    more source sentences for a claim (the question's own passages may not hold the one that contradicts it)."""
    claims = claims_about_sources(question, names)
    if search is not None:
        sentences = sentences + [found for claim in claims for found in search(claim)]
    unique = {s.quote.text: s for s in sentences}
    sentences = list(unique.values())
    if not claims or not sentences:
        return None
    vectors = embedder.encode(claims + [s.quote.text for s in sentences])
    claim_vecs, sent_vecs = vectors[: len(claims)], vectors[len(claims) :]
    for claim, vec in zip(claims, claim_vecs, strict=True):
        sims = sent_vecs @ vec
        found = []
        for j in np.argsort(-sims):
            if sims[j] < LOOSE_TOPIC:
                break
            reason = contradiction(claim, sentences[j].quote.text)
            if reason and (sims[j] >= SAME_TOPIC or reason == "opposites"):
                found.append(Correction(claim, sentences[j].quote, sentences[j].ref, reason))
        # A number, a pair of opposites or a name is specific evidence; a negation near a shared word is weaker,
        # so it only decides when nothing specific contradicts the claim.
        if found:
            return next((c for c in found if c.reason != "negation"), found[0])
    return None


def contradiction(claim: str, source: str) -> str:
    """Why `source` contradicts `claim` ('' when nothing shows it)."""
    c, s = claim.lower(), source.lower()
    stated = numbers_in(source)
    if stated and (numbers_in(claim) - stated) and _shared_counted_noun(c, s):
        return "number"
    for a, b in OPPOSITES:
        if (_has(c, a) and _has(s, b) and not _has(c, b)) or (_has(c, b) and _has(s, a) and not _has(c, a)):
            return "opposites"
    people_c = {n for n in _names(claim) if re.search(rf"{re.escape(n)}\s+(?:\w+\s+)?{_AUTHORSHIP.pattern}", claim)}
    people_s = _names(source)
    if people_c and people_s and not (people_c & people_s) and not _same_surname(people_c, people_s):
        return "person"
    if (_negated_words(claim) ^ _negated_words(source)) & _content(c) & _content(s):
        return "negation"
    return ""


NEGATION_REACH = 3  # words on either side of a negation that it applies to ("never ask", "ideas doesn't count")
_STOP = frozenset("that this with your from they them their have what when will would should could about into".split())


def _content(text: str) -> set[str]:
    return {w[:5] for w in re.findall(r"[a-z][a-z'-]{3,}", text) if w not in _STOP}


def _negated_words(text: str) -> set[str]:
    """Content words within reach of a negation ("never ask your boss" → boss); names are not negated."""
    words = re.findall(r"[A-Za-z][A-Za-z'-]*", text)
    out: set[str] = set()
    for i, w in enumerate(words):
        if _NEGATION.fullmatch(w.lower()) or w.lower().endswith("n't"):
            for x in words[max(0, i - NEGATION_REACH) : i] + words[i + 1 : i + 1 + NEGATION_REACH]:
                if len(x) >= 4 and x.lower() not in _STOP and not x[0].isupper():
                    out.add(x[:5])
    return out


_SENTENCE_OPENERS = {"Since", "Why", "How", "The", "In", "As", "Does", "Did", "What", "When"}


def _names(text: str) -> set[str]:
    """Two-word capitalised names ("Jeff Bezos", "Marshall Goldsmith's" → "Marshall Goldsmith"); longer runs
    are titles ("What Got You Here…") and sentence openers are not names."""
    out = set()
    for run in _CAPITAL_RUN.findall(text):
        words = [re.sub(r"['’]s$", "", w) for w in run.split()]
        while words and words[0] in _SENTENCE_OPENERS:
            words = words[1:]
        if len(words) == 2:
            out.add(" ".join(words))
    return out


def _has(text: str, term: str) -> bool:
    return re.search(rf"\b{re.escape(term)}\b", text) is not None


def _shared_counted_noun(claim: str, source: str) -> bool:
    """Both count the same thing ("200 people" / "2,200 people", "seven steps" / "five-step framework")."""
    return bool(_counted(claim) & _counted(source))


_COUNT = re.compile(r"(?:\d[\d,]*|\b(?:" + "|".join(NUMBER_WORDS) + r"))[\s-]+([a-z]+)(?:[\s-]+([a-z]+))?")


def _counted(text: str) -> set[str]:
    """The one or two words after each number, singular: what is being counted."""
    return {w.removesuffix("s") for m in _COUNT.finditer(text) for w in m.groups() if w and len(w) > 2}


def _same_surname(a: set[str], b: set[str]) -> bool:
    return bool({x.split()[-1] for x in a} & {x.split()[-1] for x in b})
