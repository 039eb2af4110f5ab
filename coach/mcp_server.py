"""`coach mcp`: Coach's tools, framework resources and a coaching prompt over the Model Context Protocol.

Built from a `Coach` (`build_server(coach)`), served over stdio or Streamable HTTP by the official SDK's
`MCPServer`. Tool results carry the same fields as the CLI's `--json`; a bad argument comes back as a tool
error naming the argument and its limit, and the server goes on serving.
"""
# No `from __future__ import annotations`: the tools' signatures carry limits read from settings, which the
# SDK turns into the published input schema, so they must be evaluated where the tools are defined.

import difflib
import logging
import os
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from mcp_types import Resource, ToolAnnotations
from pydantic import BaseModel, Field

from coach.api import Coach
from coach.compose import framework_card
from coach.frameworks import FrameworkMatch, SourcedFramework
from coach.guard import QuestionError
from coach.retrieval import MAX_K
from ingest.store import StoreUnavailable

NAME = "coach"
MAX_TURNS = 50  # the coach reads the last 12; more is accepted and dropped, far more is refused
MAX_TURN_CHARS = 20_000
MAX_SITUATION_CHARS = 500
READ_ONLY = ToolAnnotations(read_only_hint=True, open_world_hint=False, idempotent_hint=True)


class Turn(BaseModel):
    role: Literal["user", "assistant"]
    content: Annotated[str, Field(max_length=MAX_TURN_CHARS)]


class SituationIn(BaseModel):
    level: Annotated[str, Field(max_length=MAX_SITUATION_CHARS, description="Their level or role.")] = ""
    goal: Annotated[str, Field(max_length=MAX_SITUATION_CHARS, description="What they want.")] = ""
    manager: Annotated[str, Field(max_length=MAX_SITUATION_CHARS, description="How things are with their manager.")] = ""


class CitationOut(BaseModel):
    n: int = Field(description="The [n] marker in the answer text.")
    video_id: str
    start: int = Field(description="The second of the video where the quoted sentence is said.")
    end: int
    title: str
    quote: str = Field(description="The cited sentence, verbatim from the source.")
    passage_id: str
    guest: str
    approximate: bool = Field(description="True when the source gave this sentence no second of its own.")
    url: str = Field(description="The video at that second: https://www.youtube.com/watch?v=<video_id>&t=<start>s")


class StepOut(BaseModel):
    n: int
    label: str
    text: str
    start: int = Field(description="The second the step is said.")
    url: str = Field(description="The video at that second.")


class FrameworkOut(BaseModel):
    name: str
    heading_path: list[str]
    video_id: str
    title: str
    guest: str
    score: float | None = Field(description="How well it fits the question (ask_coach); null from get_framework.")
    steps: list[StepOut]
    moves: bool = Field(description="True for steps a person can take; false for a list of causes or principles.")


class AnswerOut(BaseModel):
    question: str
    text: str = Field(description="The answer in Markdown; every sentence ends with [n] markers of its citations.")
    refused: bool = Field(description="True when the sources do not cover the question; the text says what they do.")
    citations: list[CitationOut]
    framework: FrameworkOut | None = Field(description="The framework the answer walks through, when one fits.")
    notices: list[str] = Field(description="Things the person should know (trimmed input, ignored instructions).")
    backend: str
    flagged: list[str] = Field(description="Sentences removed because their citation did not support them.")
    lead: list[int] = Field(description="Citation numbers of the advice given first.")


class PassageOut(BaseModel):
    id: str
    text: str
    video_id: str
    start: int = Field(description="The second the passage starts.")
    end: int
    title: str
    guest: str
    score: float
    source: str
    heading: str
    speakers: str
    timed: bool
    url: str = Field(description="The video at the passage's first second.")


class SearchOut(BaseModel):
    query: str
    passages: list[PassageOut]


class FrameworkSummary(BaseModel):
    id: str = Field(description="Pass this to get_framework, or read coach://frameworks/<id>.")
    name: str
    title: str
    guest: str
    steps: int
    moves: bool


class FrameworkList(BaseModel):
    frameworks: list[FrameworkSummary]


class FrameworkDetail(FrameworkOut):
    id: str
    intro: str


def build_server(coach: Coach) -> MCPServer:
    """An MCP server answering from `coach`; nothing is loaded or served until it is run."""
    limit = coach.settings.max_question_chars
    catalog = _Catalog(coach)
    server = _CoachServer(catalog, NAME, version=_version(), instructions=INSTRUCTIONS, log_level="WARNING")
    Question = Annotated[str, Field(min_length=1, max_length=limit)]

    @server.tool(annotations=READ_ONLY, description=ASK)
    def ask_coach(
        question: Annotated[Question, Field(description="The person's situation or question, in their words.")],
        history: Annotated[
            list[Turn] | None, Field(max_length=MAX_TURNS, description="Earlier turns of this conversation, oldest first.")
        ] = None,
        situation: Annotated[SituationIn | None, Field(description="Optional intake about the person.")] = None,
    ) -> AnswerOut:
        turns = [t.model_dump() for t in history or []]
        answer = _readable_errors(coach.ask, question, turns, situation.model_dump() if situation else None)
        return AnswerOut.model_validate({"question": question, **answer.to_dict()})

    @server.tool(annotations=READ_ONLY, description=SEARCH)
    def search_sources(
        query: Annotated[Question, Field(description="Words or a sentence to look for.")],
        k: Annotated[int, Field(ge=1, le=MAX_K, description="How many passages.")] = 5,
        guest: Annotated[str | None, Field(max_length=200, description="Only this guest's episodes (name or part).")] = None,
    ) -> SearchOut:
        if not query.strip():
            raise ToolError("query is empty: say what to look for")
        snapshot = catalog.guest_snapshot(guest) if guest else None
        hits = _readable_errors(coach.retriever.retrieve, query, k=k, snapshot=snapshot)
        return SearchOut.model_validate({"query": query, "passages": [h.to_dict() for h in hits]})

    @server.tool(annotations=READ_ONLY, description=LIST)
    def list_frameworks() -> FrameworkList:
        return FrameworkList(frameworks=[_summary(fid, item) for fid, item in catalog.frameworks().items()])

    @server.tool(annotations=READ_ONLY, description=GET)
    def get_framework(
        name: Annotated[str, Field(min_length=1, max_length=300, description="An id from list_frameworks, or a name.")],
    ) -> FrameworkDetail:
        return catalog.detail(name, ToolError)

    @server.resource("coach://frameworks/{name}", mime_type="application/json", description=RESOURCE)
    def framework_resource(name: str) -> str:
        return catalog.detail(name, ResourceNotFoundError).model_dump_json(indent=1)

    @server.prompt(name="coach_me", title="Coach me on this situation", description=PROMPT)
    def coach_me(
        situation: Annotated[str, Field(description="What is going on, in the person's words.")],
        goal: Annotated[str, Field(description="What they want (optional).")] = "",
    ) -> str:
        wants = f"\nWhat I want: {goal}" if goal.strip() else ""
        return (
            f"Coach me on this situation:\n\n{situation.strip()}{wants}\n\n"
            "Call the ask_coach tool with my situation (and my goal, if given, as situation.goal). Give me its advice "
            "in your own words but keep every claim tied to its source: after each point, link the citation's url "
            "(it opens the episode at that second) and quote its words where they matter. If ask_coach says "
            "refused, tell me the sources do not cover this rather than advising from elsewhere. End with the "
            "question it asks me back, if any."
        )

    return server


class _CoachServer(MCPServer):
    """MCPServer that lists one resource per stored framework, read fresh at every listing."""

    def __init__(self, catalog: "_Catalog", *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.catalog = catalog

    async def list_resources(self) -> list[Resource]:
        listed = [
            Resource(
                uri=f"coach://frameworks/{fid}", name=fid, title=item.display_name, mime_type="application/json",
                description=f"{len(item.framework.steps)} steps, from {item.title}",
            )
            for fid, item in self.catalog.frameworks().items()
        ]
        return [*await super().list_resources(), *listed]


class _Catalog:
    """The frameworks by id, and guest-scoped search snapshots, both kept per index version."""

    def __init__(self, coach: Coach) -> None:
        self.coach = coach
        self._guests: dict[tuple[Any, str], Any] = {}
        self._lock = threading.Lock()

    def frameworks(self) -> dict[str, SourcedFramework]:
        """Each framework under the shortest unique id: its heading, else with its parent heading, else its source."""
        items = self.coach.frameworks.items()
        short = [_slug(i.framework.name) for i in items]
        full = [_slug(i.display_name) for i in items]
        ids = [
            s if short.count(s) == 1 else f if full.count(f) == 1 else f"{f}--{_slug(i.source)}"
            for s, f, i in zip(short, full, items, strict=True)
        ]
        return dict(zip(ids, items, strict=True))

    def detail(self, name: str, error: type[Exception]) -> FrameworkDetail:
        known = self.frameworks()
        wanted = name.strip().casefold()
        found = known.get(wanted) or known.get(_slug(name))
        named = [i for i in known.values() if wanted in (i.display_name.casefold(), i.framework.name.casefold())]
        item = found or (named[0] if len(named) == 1 else None)
        if item is None:
            near = difflib.get_close_matches(_slug(name), list(known), n=3, cutoff=0.4) or list(known)[:5]
            raise error(f"no framework named {name[:80]!r}; call list_frameworks for the ids (closest: {', '.join(near)})")
        fid = next(k for k, v in known.items() if v is item)
        card = framework_card(FrameworkMatch(item, 0.0)).to_dict()
        return FrameworkDetail(**{**card, "score": None, "id": fid, "intro": item.framework.intro})

    def guest_snapshot(self, guest: str) -> Any:
        """The retriever's snapshot narrowed to the passages of the guests whose name contains `guest`."""
        snap = self.coach.retriever.snapshot()
        wanted = " ".join(guest.casefold().split())
        key = (snap.version, wanted)
        with self._lock:
            if key not in self._guests:
                names = sorted({p.guest for p in snap.passages if p.guest})
                chosen = {n for n in names if wanted == n.casefold()} or {n for n in names if wanted in n.casefold()}
                if not chosen:
                    near = difflib.get_close_matches(guest, names, n=3, cutoff=0.5)
                    hint = f"closest: {', '.join(near)}" if near else f"{len(names)} guests, e.g. {', '.join(names[:5])}"
                    raise ToolError(f"no guest named {guest[:80]!r} in the sources ({hint})")
                self._guests = {k: v for k, v in self._guests.items() if k[0] == snap.version}  # drop old versions
                self._guests[key] = snap.only(lambda p: p.guest in chosen)
            return self._guests[key]


def _summary(fid: str, item: SourcedFramework) -> FrameworkSummary:
    return FrameworkSummary(id=fid, name=item.display_name, title=item.title, guest=item.guest,
                            steps=len(item.framework.steps), moves=item.actionable)  # fmt: skip


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("coach")
    except PackageNotFoundError:
        return ""


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")


def _readable_errors(call: Any, *args: Any, **kwargs: Any) -> Any:
    """Coach's own readable errors become tool errors with their message (others stay server-side)."""
    try:
        return call(*args, **kwargs)
    except (QuestionError, StoreUnavailable) as exc:
        raise ToolError(str(exc)) from exc


def serve(server: MCPServer, http: bool = False, host: str = "127.0.0.1", port: int = 8765) -> None:
    """Serve until the client disconnects (stdio) or Ctrl+C (HTTP, at http://host:port/mcp)."""
    for handler in logging.getLogger().handlers:  # the SDK's stderr log: warnings only (bm25s logs at DEBUG)
        handler.setLevel(logging.WARNING)
    if http:
        server.run("streamable-http", host=host, port=port)
    else:
        server.run("stdio")


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """While opening the index, anything written to stdout (by us or a library) goes to stderr: over stdio,
    stdout carries protocol messages only. (While serving, the SDK diverts it the same way.)"""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


INSTRUCTIONS = (
    "Coach answers career questions from expert podcast episodes and notes, every sentence cited to the second "
    "of a video. Use ask_coach for advice on a situation, search_sources to find what was said, list_frameworks "
    "and get_framework for named step-by-step methods. Show the citation links; never present uncited advice as "
    "the sources'."
)
ASK = (
    "Advice for a person's career situation or question (managers, promotion, feedback, interviews, growth), "
    "composed only from the sources: each sentence ends with [n] markers whose citations give the verbatim quote "
    "and a url opening the video at the second it is said. Use this when the user wants advice or an answer. Pass "
    "earlier turns as history for a follow-up. refused=true means the sources do not cover it: say so instead of "
    "answering from elsewhere. A fitting framework comes back as `framework`, its steps linked."
)
SEARCH = (
    "Raw passages from the sources (episode transcripts and notes) that match a query, best first, each with its "
    "video id, start/end seconds, guest and a url to that second. Use to find quotes, check what someone said or "
    "explore a topic; it gives no advice (use ask_coach for that). `guest` narrows to one guest's episodes."
)
LIST = (
    "The named frameworks (step-by-step methods or lists, e.g. 'Steps of the Magic Loop') found in the sources, "
    "with the id to pass to get_framework. Use when the user asks which frameworks or methods exist."
)
GET = (
    "One framework's steps in order, each with its text, the second it is said and a url to it, plus the intro. "
    "`name` is an id from list_frameworks (or the framework's name). Use to walk someone through a known method."
)
RESOURCE = "A framework from the sources as JSON: its steps, each with the second it is said and a link."
PROMPT = "Ask for coaching on a situation: the assistant calls ask_coach and keeps every point linked to its source."
