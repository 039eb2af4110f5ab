"""`coach …` — the command line, a composition root like the web app."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from coach.types import RetrievalMode

# Imports are deferred to the commands that need them: `coach ask` and `coach retrieve` start in well under a
# second, without torch, LangChain's chat models, Gradio or rich's tables (tests/test_fast_cli.py).
if TYPE_CHECKING:
    from rich.table import Table

    from coach.api import Coach
    from ingest.pipeline import Progress
    from ingest.report import FileResult, IngestReport

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Career coaching grounded in cited sources.")
out = Console()
err = Console(stderr=True, soft_wrap=True)  # an error line must stay one greppable line

StoreOpt = Annotated[Path | None, typer.Option("--store", help="Store directory (default: COACH_STORE_DIR).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def quiet_libraries() -> None:
    import logging
    import warnings

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    warnings.filterwarnings("ignore")
    for name in ("bm25s", "chromadb", "onnxruntime", "root", "httpx", "transformers"):
        logging.getLogger(name).setLevel(logging.ERROR)
    logging.getLogger().setLevel(logging.ERROR)


@contextmanager
def _progress(label: str, enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(
        TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        TextColumn("{task.description}"), console=err, transient=True,
    ) as bar:  # fmt: skip
        task = bar.add_task("", total=None)

        def update(done: int, total: int, name: str) -> None:
            bar.update(task, completed=done, total=total, description=name)

        yield update


def open_coach(store: Path | None, show_progress: bool = True, answering: bool = True) -> Coach:
    from coach.api import Coach

    with _progress("Building the index", show_progress and err.is_terminal) as progress:
        coach = Coach.open(store_dir=store, progress=progress, notify=_note)
    if coach.store.read_only and answering:
        _note(f"the store at {coach.store.place.where} cannot be written ({coach.store.read_only}): answering "
              "from a temporary copy of it")  # fmt: skip
    if coach.startup_report and show_progress:
        rep = coach.startup_report
        what = f"rebuilt (settings changed, was {rep.rebuilt_from})" if rep.rebuilt_from else "built"
        total = rep.chunks_added + rep.chunks_unchanged
        err.print(f"[dim]Index {what}: {total} chunks from {len(rep.files)} file(s) ({rep.chunks_added} embedded).[/]")
    return coach


def _report_table(report: IngestReport, files: list[FileResult] | None = None) -> Table:
    """The report as a table: a row per file in `files` (default: all of them), then the totals."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="Ingestion", show_lines=False)
    for col in ("file", "status", "added", "unchanged", "removed", "note"):
        table.add_column(col, overflow="fold")
    for f in report.files if files is None else files:
        style = {"error": "red", "skipped": "yellow", "duplicate": "yellow", "removed": "magenta"}.get(f.status, "")
        table.add_row(  # names and notes come from files: Text, never markup
            Text(_short(f.path)), Text(f.status, style=style), str(f.chunks_added),
            str(f.chunks_unchanged), str(f.chunks_removed), Text(_note_of(f)),
        )  # fmt: skip
    table.add_section()
    errors = len(report.errors)
    table.add_row(
        f"{len(report.files)} files", f"{errors} error(s)", str(report.chunks_added),
        str(report.chunks_unchanged), str(report.chunks_removed), f"{report.seconds:.1f} s",
    )  # fmt: skip
    return table


def _print_report(report: IngestReport, verbose: bool) -> None:
    """Totals and the files that changed or failed (every file with `verbose`). A table on a terminal; one line
    per file otherwise, so a log of a 303-file run stays as long as what happened in it."""
    files = report.files if verbose else [f for f in report.files if f.status != "unchanged"]
    if out.is_terminal:
        out.print(_report_table(report, files))
    else:
        for f in files:
            out.print(_file_line(f), markup=False, highlight=False, soft_wrap=True)
        out.print(
            f"{len(report.files)} file(s), {len(report.errors)} error(s); chunks: {report.chunks_added} added, "
            f"{report.chunks_unchanged} unchanged, {report.chunks_removed} removed; {report.seconds:.1f} s",
            highlight=False,
        )
    hidden = len(report.files) - len(files)
    if hidden:
        out.print(f"{hidden} unchanged file(s) not listed (--verbose lists every file)", highlight=False)


def _file_line(f: FileResult) -> str:
    counts = [f"{n} {what}" for n, what in ((f.chunks_added, "added"), (f.chunks_unchanged, "unchanged"),
              (f.chunks_removed, "removed")) if n]  # fmt: skip
    note = _note_of(f)
    return f"{f.status:<9} {_short(f.path)}: {', '.join(counts) or 'no chunks'}" + (f" — {note}" if note else "")


def _note_of(f: FileResult) -> str:
    return f.message or ("; ".join(f.warnings[:2]) + (" …" if len(f.warnings) > 2 else ""))


def _short(path: str) -> str:
    p = Path(path)
    return f"{p.parent.name}/{p.name}" if p.name == "transcript.md" else p.name


@app.command()
def ingest(
    paths: Annotated[list[Path] | None, typer.Argument(help="Files or folders (default: the bundled corpus).")] = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="List every file, unchanged ones too (--json always does).")
    ] = False,
) -> None:
    """Add or update sources in the index. Unchanged files cost nothing; errors never lose stored data.

    Prints the totals and the files that changed or failed. Exits 0 when every file was read, 1 when any failed
    (the others are still ingested; the report says why), 2 on a usage error."""
    coach = open_coach(store, show_progress=not as_json, answering=False)
    targets = paths or [coach.settings.data_dir]
    with _progress("Ingesting", not as_json and err.is_terminal) as progress:
        report = coach.ingest(targets, progress=progress, notify=_note)
    if as_json:
        out.print_json(json.dumps(report.to_dict()))
    else:
        _print_report(report, verbose)
    raise typer.Exit(1 if report.errors else 0)


@app.command()
def repair(store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Mend a damaged store: rebuild a lost manifest, drop chunks without vectors and ingest their files again,
    or set aside a database that cannot be read and build anew. Nothing is deleted without being reported."""
    from coach.index import repair as mend
    from coach.settings import Settings

    settings = Settings()
    if store is not None:
        settings = settings.model_copy(update={"store_dir": store})
    report, ingested = mend(settings, notify=_note)
    if as_json:
        data = {"actions": report.actions, "reingested": [str(p) for p in report.reingest],
                "ingest": ingested.to_dict() if ingested else None}  # fmt: skip
        out.print_json(json.dumps(data))
        return
    for action in report.actions or ["nothing to repair: the store is whole"]:
        out.print(f"- {action}")
    if ingested is not None:
        out.print(_report_table(ingested))


@app.command()
def retrieve(
    query: Annotated[str, typer.Argument(help="What to search for.")],
    k: Annotated[int, typer.Option("-k", min=1, max=50, help="How many passages.")] = 5,
    mode: Annotated[RetrievalMode, typer.Option(help="How to search: hybrid, dense or bm25.")] = "hybrid",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show the passages the coach would ground an answer in."""
    if not query.strip():
        fail("the query is empty: say what you are looking for")
    coach = open_coach(store, show_progress=not as_json)
    hits = coach.retrieve(query[: coach.settings.max_question_chars], k=k, mode=mode)
    if as_json:
        out.print_json(json.dumps({"query": query, "passages": [h.to_dict() for h in hits]}))
        return
    for i, h in enumerate(hits, 1):
        link = h.url or "(no link)"
        out.print(f"[bold][{i}][/] {h.title} — {h.guest or h.source} @ {h.when}  score {h.score:.2f}")
        out.print(f"    [link={link}]{link}[/link]")
        out.print(f"    {h.text[:400]}{'…' if len(h.text) > 400 else ''}\n", highlight=False)
    if not hits:
        out.print("No passages found.")


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="Your situation or question.")],
    history: Annotated[
        Path | None, typer.Option("--history", help=escape("JSON file: [[role, text], …] or [{role, content}, …]."))
    ] = None,
    level: Annotated[str, typer.Option(help="Your level or role, e.g. 'senior manager'.")] = "",
    goal: Annotated[str, typer.Option(help="What you want, e.g. 'get promoted to director'.")] = "",
    manager: Annotated[str, typer.Option(help="How things are with your manager.")] = "",
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Get advice grounded in the sources, every sentence linked to the second it was said."""
    from coach.conversation import Situation
    from coach.guard import QuestionError

    if not question.strip():
        fail("the question is empty: describe your situation or ask something")
    turns = _read_history(history) if history else []
    coach = open_coach(store, show_progress=not as_json)
    situation = Situation(level=level, goal=goal, manager=manager)
    saved = coach.saved_profile("local")
    if saved is not None:  # a saved profile (coach profile save) fills the options left empty
        from coach.profile_store import with_profile

        situation = with_profile(situation, saved)
    try:
        answer = _answer(coach, question, turns, situation, live=not as_json and out.is_terminal)
    except QuestionError as exc:
        fail(str(exc))
        return
    if as_json:
        out.print_json(json.dumps({"question": question, **answer.to_dict()}))
        return
    print_answer(answer)


def _answer(coach: Coach, question: str, turns: list[Any], situation: Any, live: bool) -> Any:
    """Stream an LLM's draft while it is written (terminal only), then return the checked answer."""
    if not live or coach.llm is None:
        return coach.ask(question, turns, situation)
    from rich.live import Live
    from rich.text import Text

    draft = Text(style="dim")
    final = None
    with Live(draft, console=out, transient=True, refresh_per_second=8):
        for event in coach.ask_stream(question, turns, situation):
            if event.kind == "delta":
                draft.append(event.text)
            else:
                final = event.answer
    return final


def print_answer(answer: Any) -> None:
    from rich.markdown import Markdown

    for notice in answer.notices:
        err.print(f"[yellow]note:[/] {notice}")
    out.print(Markdown(answer.text))
    if answer.flagged:
        err.print(f"[yellow]{len(answer.flagged)} unsupported sentence(s) removed.[/]")
    if answer.citations:
        out.print("\n[bold]Sources[/]")
        for c in answer.citations:
            from ingest.timestamps import format_time

            when = ("≈ " if c.approximate else "") + format_time(c.start)
            out.print(f"[bold][{c.n}][/] {c.title} @ {when} — [link={c.url}]{c.url}[/link]")
            out.print(f"    “{c.quote[:300]}”", highlight=False)
    out.print(f"[dim]answered by: {answer.backend}[/]")


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on (default: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 7860,
    store: StoreOpt = None,
) -> None:
    """Start the web app (chat with cited sources) and print its URL. Ctrl+C stops it."""
    coach = open_coach(store)
    from coach import ui

    try:
        ui.serve(coach, host=host, port=port)
    except OSError as exc:  # Gradio reports a taken port as OSError("Cannot find empty port …")
        why = "the port is in use" if "empty port" in str(exc) else str(exc)
        fail(f"cannot listen on {host}:{port}: {why}; pick another with --port")


@app.command("mcp")
def mcp_(
    http: Annotated[bool, typer.Option("--http", help="Serve Streamable HTTP at http://HOST:PORT/mcp, not stdio.")] = False,
    host: Annotated[str, typer.Option(help="Interface for --http (default: this machine only).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port for --http.")] = 8765,
    store: StoreOpt = None,
) -> None:
    """Serve the coach to an MCP client (Claude Desktop, Cursor, VS Code…): tools ask_coach, search_sources,
    list_frameworks, get_framework. Over stdio by default; stdout then carries protocol messages only."""
    from coach import mcp_server

    with mcp_server.stdout_to_stderr():
        coach = open_coach(store)
    mcp_server.serve(mcp_server.build_server(coach), http=http, host=host, port=port)


def _add_people_commands() -> None:
    """`coach profile …` and `coach plan …` (coach/cli_people.py)."""
    from coach.cli_people import plan_app, profile_app

    app.add_typer(profile_app, name="profile")
    app.add_typer(plan_app, name="plan")


_add_people_commands()


def _add_plugin_commands() -> None:
    """Commands other packages register under the `coach.commands` entry point (`coach eval`, from evals):
    the CLI does not import them, so `coach` depends on nothing above it."""
    from importlib.metadata import entry_points

    have = {c.name for c in app.registered_commands}
    for plugin in entry_points(group="coach.commands"):
        if plugin.name not in have:  # main() may run more than once in a process (tests)
            plugin.load()(app)


# A long conversation is tens of kilobytes; the cap keeps `--history /dev/zero` from eating all memory.
MAX_HISTORY_BYTES = 2_000_000


def _read_history(path: Path) -> list[Any]:
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_HISTORY_BYTES + 1)
    except FileNotFoundError:
        fail(f"--history: file not found: {path}")
    except OSError as exc:
        fail(f"--history: cannot read {path}: {exc.strerror or exc}")
    if len(raw) > MAX_HISTORY_BYTES:
        fail(f"--history: {path} is larger than {MAX_HISTORY_BYTES // 1_000_000} MB; keep the recent turns only")
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        fail(f"--history: {path} is not readable JSON: {exc}")
    if isinstance(data, dict):
        data = data.get("history", data.get("messages"))
    if not isinstance(data, list):
        fail(f"--history: {path} must hold a JSON list of [role, text] pairs")
    return data


def _note(message: str) -> None:
    err.print(f"[yellow]note:[/] {message}")


def fail(message: str, code: int = 2) -> None:
    err.print(f"[red]error:[/] {message}")
    raise typer.Exit(code)


def main(argv: list[str] | None = None) -> Any:
    """Entry point: friendly one-line errors, never a traceback (COACH_DEBUG=1 shows it)."""
    quiet_libraries()
    words = sys.argv[1:] if argv is None else argv
    built_in = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    if not words or words[0] not in built_in:  # reading entry points costs ~0.1 s: only for what may need them
        _add_plugin_commands()
    try:
        result = app(args=argv, standalone_mode=False)
        # Without standalone mode click returns typer.Exit's code instead of raising it.
        sys.exit(result if isinstance(result, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        err.print("interrupted")
        sys.exit(130)
    except Exception as exc:
        if _is_usage_error(exc):  # a wrong option or argument: say which, exit 2 as shells expect
            err.print(f"[red]error:[/] {exc.format_message()} (see `coach --help`)", highlight=False)  # type: ignore[attr-defined]
            sys.exit(int(getattr(exc, "exit_code", 2)))
        if os.environ.get("COACH_DEBUG"):
            raise
        from coach.guard import QuestionError
        from coach.llm import LLMConfigError
        from ingest.embedding import ModelCacheError
        from ingest.locking import WriterBusy
        from ingest.store import StoreUnavailable

        bad = _bad_setting(exc)
        readable = bad or isinstance(exc, StoreUnavailable | QuestionError | LLMConfigError | ModelCacheError | WriterBusy)
        hint = "" if readable else " (set COACH_DEBUG=1 for details)"
        err.print(f"[red]error:[/] {bad or exc}{hint}")
        sys.exit(1)


def _bad_setting(exc: BaseException) -> str | None:
    """A COACH_* variable the settings refused, on one line: which one, and what it accepts."""
    from pydantic import ValidationError

    if not isinstance(exc, ValidationError) or exc.title != "Settings":
        return None
    return "; ".join(f"COACH_{'_'.join(map(str, e['loc'])).upper()}: {e['msg']}" for e in exc.errors())


def _is_usage_error(exc: BaseException) -> bool:
    """Click's usage errors, whether from click itself or the copy that typer ships as typer._click."""
    return any(k.__name__ in ("UsageError", "ClickException") for k in type(exc).__mro__) and hasattr(
        exc, "format_message"
    )


if __name__ == "__main__":
    main()
