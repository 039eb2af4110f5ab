"""The person's situation said back in one line, and one question that moves the conversation on.

Neither is a claim about the sources, so neither carries a citation. The reflection is built only from whole
sentences of the person's own message, turned to the second person; when a sentence cannot be turned
cleanly (it quotes someone, or is too long) it is left out rather than cut.
"""

from __future__ import annotations

import re

from coach.conversation import Situation
from coach.phrasing import FIRST_PERSON, is_action
from ingest.chunking import split_sentences

MAX_REFLECT_WORDS = 28
_SWAPS = [
    (r"\bI am\b", "you are"), (r"\bI'm\b", "you're"), (r"\bI’m\b", "you’re"), (r"\bI've\b", "you've"),
    (r"\bI’ve\b", "you’ve"), (r"\bI'd\b", "you'd"), (r"\bI'll\b", "you'll"), (r"\bI was\b", "you were"),
    (r"\bam I\b", "are you"), (r"\bwas I\b", "were you"), (r"\bI\b", "you"), (r"\bmy\b", "your"), (r"\bMy\b", "Your"),
    (r"\bmine\b", "yours"), (r"\bmyself\b", "yourself"), (r"\bme\b", "you"), (r"\bwe\b", "you"), (r"\bWe\b", "You"),
    (r"\bour\b", "your"), (r"\bOur\b", "Your"), (r"\bus\b", "you"), (r"\bours\b", "yours"),
]  # fmt: skip
_SECOND_PERSON = re.compile(r"\b(you|your|yours|yourself|you're|you've)\b", re.IGNORECASE)
_QUOTE_CHARS = re.compile(r"[\"“”‘’']\s|\s[\"“”‘’']|^[\"“‘]")
_HOW_DO_I = re.compile(r"^(?:so,?\s+)?how (?:do|can|should|could|would) (?:i|we) (.+?)\??$", re.IGNORECASE)
_OPENER = re.compile(r"^(but|and|so|honestly|basically|anyway|well|also|ok|okay),?\s+", re.IGNORECASE)


def reflect(text: str, situation: Situation | None = None) -> str:
    """One or two sentences of the person's own, in the second person ('' when none turns cleanly)."""
    said: list[str] = []
    for sentence in split_sentences(text.strip()):
        line = _turn(sentence)
        if line:
            said.append(line)
        if len(said) == 2 or sum(len(s.split()) for s in said) > MAX_REFLECT_WORDS:
            break
    intake = _intake(situation, text)
    if intake:
        said.append(intake)
    return " ".join(said)


def _turn(sentence: str) -> str:
    sentence = sentence.strip()
    if not sentence or len(sentence.split()) > MAX_REFLECT_WORDS:
        return ""
    if m := _HOW_DO_I.match(sentence):  # "How do I get past senior manager?" → "You want to get past…"
        return _capital(f"you want to {_swap(m.group(1)).rstrip('?.! ')}.")
    if sentence.endswith("?") or not FIRST_PERSON.search(sentence) or is_action(sentence):
        return ""  # a question other than "how do I…", a request to the coach, or not about the person
    if _SECOND_PERSON.search(sentence) or _QUOTE_CHARS.search(sentence):
        return ""  # "you" already means someone else here, or it quotes someone: swapping would garble it
    turned = _swap(_OPENER.sub("", sentence)).rstrip()
    if turned[-1:] not in ".!":
        turned += "."
    return _capital(turned)


def _swap(text: str) -> str:
    for pattern, repl in _SWAPS:
        text = re.sub(pattern, repl, text)
    return text


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _intake(situation: Situation | None, text: str = "") -> str:
    """The intake form as a sentence: "You're a senior manager, your goal is “reach director”…", without a
    level the message already states in the same words ("I'm a junior analyst…")."""
    if not situation:
        return ""
    parts = []
    if situation.level and not (_LEVEL_SAID.search(text) and _words(situation.level) <= _words(text)):
        parts.append(f"you're {_article(situation.level)}")
    if situation.goal:
        parts.append(f"your goal is “{situation.goal.strip().rstrip('.')}”")
    if situation.manager:
        parts.append(f"you describe your manager as “{situation.manager.strip().rstrip('.')}”")
    if not parts:
        return ""
    joined = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    return _capital(joined) + "."


def _article(role: str) -> str:
    role = role.strip().rstrip(".")
    if re.match(r"^(a|an|the)\b", role, re.IGNORECASE):
        return role
    if re.match(r"^my\b", role, re.IGNORECASE):
        return re.sub(r"^my\b", "your", role, flags=re.IGNORECASE)
    return f"{'an' if role[:1].lower() in 'aeiou' else 'a'} {role}"


_GOAL = re.compile(r"\b(goals?|promot\w*|next level|raise|role|director|career)\b", re.IGNORECASE)
# Words that make the advice turn on the person's level; "my (new) manager" names a person, not a level.
_LEVEL = re.compile(r"\b(senior|level|director|manager|promot\w*|L\d|M\d)\b", re.IGNORECASE)
_SOMEONES_MANAGER = re.compile(r"\b(my|our|her|his|the|their|your)\s+(\w+\s+)?manager\b", re.IGNORECASE)
# "I'm a senior manager", "I've been an M2 for five years", "as a director": the level is already known
_LEVEL_SAID = re.compile(
    r"\b(i'm|i am|i've been|i have been|i was|as)\s+(an?|the)?\s*[\w -]{0,30}?\b(engineer|manager|director|designer|"
    r"analyst|lead|vp|pm|ic|scientist|developer|executive|l\d+|m\d+)\b",
    re.IGNORECASE,
)
# "I want to become a staff engineer", "I'd like to move to the payments team": the goal is already known
_GOAL_SAID = re.compile(
    r"\b(i|i'd|i would|i really|i actually|i just)\s*(want|would like|'d like|like|hope|aim|need|plan)\s+to\b",
    re.IGNORECASE,
)


def question_back(text: str, situation: Situation | None, advice: str, before: str = "") -> str:
    """One question whose answer would change the advice, never one the message already answers: the goal
    when the advice turns on goals and none was given, the level when it turns on levels, whether the person
    has taken the step `before` the one advised (a loop is entered at its start), else what they have tried."""
    situation = situation or Situation()
    if not situation.goal and not _GOAL_SAID.search(text) and _GOAL.search(text) and _GOAL.search(advice):
        return "What is the one goal you'd want your manager's help with next — and have you said it to them in those words?"
    if not situation.level and not _LEVEL_SAID.search(text) and _LEVEL.search(_SOMEONES_MANAGER.sub(" ", text)):
        return "What level are you at now, and what does the next one look like where you work?"
    if before:
        return f"Have you already done the step before this one — “{before}” — and how did it go?"
    return "What have you already tried so far, and how did it go?"


def _words(text: str) -> set[str]:
    return {w for w in re.findall(r"[a-z0-9]+", text.lower()) if len(w) > 1}
