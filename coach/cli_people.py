"""`coach profile …` and `coach plan …`: a person's saved situation and plan from the command line.

Sub-apps of `coach.cli` (registered there); they reuse its console, store opening and one-line errors.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from coach.profile_store import PlanItem, ProfileStore

LOCAL = "local"  # = coach.profile_store.LOCAL, not imported here: that loads SQLAlchemy for `coach --help` too
profile_app = typer.Typer(no_args_is_help=True, help="Your saved situation (opt-in): it shapes every later answer.")
plan_app = typer.Typer(invoke_without_command=True, help="My plan: cited steps from the advice, and how they went.")

UserOpt = Annotated[str, typer.Option("--user", help="Whose profile and plan (default: this machine's person).")]
StoreOpt = Annotated[Path | None, typer.Option("--store", help="Store directory (default: COACH_STORE_DIR).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def _cli() -> Any:
    from coach import cli

    return cli


def _profiles(store: Path | None) -> ProfileStore:
    """The profile database alone: no index, no model (profile and plan listing need neither)."""
    from coach.profile_store import ProfileStore
    from coach.settings import Settings

    settings = Settings()
    if store is not None:
        settings = settings.model_copy(update={"store_dir": store})
    return ProfileStore.from_settings(settings)


def _guard(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Run a store call; a ProfileError becomes one readable line and exit code 2 (nothing was written)."""
    from coach.profile_store import ProfileError

    try:
        return fn(*args, **kwargs)
    except ProfileError as exc:
        _cli().fail(str(exc))


# ---- profile -------------------------------------------------------------------------------------------
@profile_app.command("show")
def profile_show(user: UserOpt = LOCAL, store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Show the saved profile."""
    found = _guard(_profiles(store).profile, user)
    out = _cli().out
    if as_json:
        out.print_json(json.dumps({"profile": found.to_dict() if found else None}))
    elif found is None:
        out.print("No profile saved. `coach profile save --level … --goal … --manager … --note …` saves one.")
    else:
        for name in ("level", "goal", "manager", "note"):
            out.print(f"[bold]{name}:[/] {getattr(found, name) or '—'}", highlight=False)


@profile_app.command("save")
def profile_save(
    level: Annotated[str | None, typer.Option(help="Your level or role.")] = None,
    goal: Annotated[str | None, typer.Option(help="What you want.")] = None,
    manager: Annotated[str | None, typer.Option(help="How things are with your manager.")] = None,
    note: Annotated[str | None, typer.Option(help="Anything else the coach should know (at most 2,000 characters).")] = None,
    user: UserOpt = LOCAL,
    store: StoreOpt = None,
) -> None:
    """Save your situation (fields not given keep their saved value). Nothing is stored until you run this."""
    profiles = _profiles(store)
    before = _guard(profiles.profile, user)
    given = {"level": level, "goal": goal, "manager": manager, "note": note}
    fields = {k: v if v is not None else (getattr(before, k) if before else "") for k, v in given.items()}
    _guard(profiles.save_profile, user, **fields, expected_version=before.version if before else 0)
    _cli().out.print("Profile saved. It shapes every answer from now on; `coach profile delete` forgets it.")


@profile_app.command("delete")
def profile_delete(
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    user: UserOpt = LOCAL,
    store: StoreOpt = None,
) -> None:
    """Forget me: delete the profile and every plan item, for good."""
    if not yes and not typer.confirm("Delete your profile and your whole plan?", default=False):
        raise typer.Exit(1)
    gone = _guard(_profiles(store).forget, user)
    _cli().out.print(f"Forgotten: {gone} record(s) deleted." if gone else "Nothing was stored for you.")


@profile_app.command("migrate")
def profile_migrate(store: StoreOpt = None) -> None:
    """Create the profile database (COACH_DATABASE_URL, or the store's SQLite file) and bring its schema up to date.

    Coach does this on first use too, safely when many processes start at once; a deployment can run it once
    before starting its replicas. It stores nothing about anyone."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import SQLAlchemyError

    profiles = _profiles(store)
    where = make_url(profiles.url).render_as_string(hide_password=True)
    try:
        ran, revision = profiles.migrate()
    except SQLAlchemyError as exc:
        _cli().fail(f"could not migrate {where}: {str(getattr(exc, 'orig', None) or exc).splitlines()[0]}", code=1)
    said = "migrated now" if ran else "already up to date"
    _cli().out.print(f"Profile database {where}: revision {revision} ({said}).", highlight=False, soft_wrap=True)


# ---- plan ----------------------------------------------------------------------------------------------
@plan_app.callback()
def plan_list(
    ctx: typer.Context,
    user: UserOpt = LOCAL,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List the plan (`coach plan`); subcommands add, set, checkin and export change or write it."""
    if ctx.invoked_subcommand is not None:
        return
    items = _guard(_profiles(store).plan, user)
    out = _cli().out
    if as_json:
        out.print_json(json.dumps({"items": [i.to_dict() for i in items]}))
        return
    if not items:
        out.print("Your plan is empty. `coach plan add \"Ask your boss how you can help\"` adds a step from the advice.")
    for item in items:
        _print_item(item)


def _print_item(item: PlanItem) -> None:
    out = _cli().out
    when = f" · remind {item.remind_on.isoformat()}" if item.remind_on else ""
    out.print(f"[bold]{item.n}.[/] [{item.status}] {item.step}  (added {item.added_on.isoformat()}{when})", highlight=False)
    if item.url:
        out.print(f"    [link={item.url}]{item.url}[/link]")
    if item.note:
        out.print(f"    note: {item.note}", highlight=False)


@plan_app.command("add")
def plan_add(
    step: Annotated[str | None, typer.Argument(help="The step, in the words of an answer.")] = None,
    answer: Annotated[Path | None, typer.Option(help="A saved `coach ask --json` answer to take the step from.")] = None,
    citation: Annotated[int | None, typer.Option(help="With --answer: the citation number [n] of the step.")] = None,
    note: Annotated[str, typer.Option(help="Your note on it (at most 2,000 characters).")] = "",
    remind: Annotated[str, typer.Option(help="A reminder date, YYYY-MM-DD (exported to the .ics file).")] = "",
    user: UserOpt = LOCAL,
    store: StoreOpt = None,
) -> None:
    """Add a cited step from the advice to your plan, with its source quote and link."""
    cli = _cli()
    from coach.profile_store import parse_date

    _guard(parse_date, remind)  # a bad date is refused before the index is opened
    if (answer is None) != (citation is None):
        cli.fail("--answer and --citation go together: the saved answer and the number of the step's citation")
    if answer is None and not (step or "").strip():
        cli.fail("say which step to add, e.g. coach plan add \"Ask your boss how you can help\"")
    coach = cli.open_coach(store, show_progress=False)
    if answer is not None and citation is not None:
        item = _guard(coach.plan.add_from_answer, _saved_answer(answer), citation, user, note, remind)
    else:
        item = _guard(coach.plan.add_named, step or "", user, note, remind)
    cli.out.print("Added to your plan:")
    _print_item(item)


def _saved_answer(path: Path) -> Any:
    from coach.types import Answer, Citation, FrameworkCard, StepCard

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        cites = [Citation(**{k: v for k, v in c.items() if k != "url"}) for c in data.get("citations", [])]
        fw = data.get("framework")
        card = None
        if fw:
            steps = tuple(StepCard(**s) for s in fw.get("steps", []))
            card = FrameworkCard(**{**fw, "heading_path": tuple(fw["heading_path"]), "steps": steps})
        return Answer(text=data.get("text", ""), citations=cites, framework=card, refused=bool(data.get("refused")))
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        _cli().fail(f"--answer: {path} is not a saved `coach ask --json` answer ({exc})")


@plan_app.command("set")
def plan_set(
    n: Annotated[int, typer.Argument(help="The item's number (see `coach plan`).")],
    status: Annotated[str | None, typer.Option(help="open, done or dropped.")] = None,
    note: Annotated[str | None, typer.Option(help="Replace the note (at most 2,000 characters).")] = None,
    remind: Annotated[str | None, typer.Option(help="Reminder date YYYY-MM-DD ('' clears it).")] = None,
    user: UserOpt = LOCAL,
    store: StoreOpt = None,
) -> None:
    """Change an item's status, note or reminder date."""
    item = _guard(_profiles(store).update, user, n, status=status, note=note, remind_on=remind or None,
                  clear_reminder=remind == "")  # fmt: skip
    _print_item(item)


@plan_app.command("checkin")
def plan_checkin(
    reply: Annotated[str | None, typer.Argument(help="How it went; without it, the coach asks.")] = None,
    user: UserOpt = LOCAL,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check in on the open items: without a reply, the question; with one, what comes next (cited)."""
    cli = _cli()
    if reply is None or not reply.strip():
        found = _guard(_profiles(store).plan, user)
        from coach.checkin import opening

        question = opening(found)
        text = question.text if question else "No open items in your plan."
        cli.out.print_json(json.dumps({"checkin": text})) if as_json else cli.out.print(text, highlight=False)
        return
    coach = cli.open_coach(store, show_progress=not as_json)
    result = _guard(coach.plan.reply, reply, user)
    if as_json:
        data = {"outcome": str(result.outcome), "item": result.item.to_dict() if result.item else None,
                "added": result.added.to_dict() if result.added else None, **result.answer.to_dict()}  # fmt: skip
        cli.out.print_json(json.dumps(data))
        return
    cli.print_answer(result.answer)


@plan_app.command("export")
def plan_export(
    markdown: Annotated[Path, typer.Option(help="Markdown file to write.")] = Path("coach-plan.md"),
    ics: Annotated[Path, typer.Option(help="Calendar file of the reminders you set.")] = Path("coach-plan.ics"),
    user: UserOpt = LOCAL,
    store: StoreOpt = None,
) -> None:
    """Write the plan as Markdown (with links to the second) and an .ics calendar of its reminders; both files
    are readable by you only."""
    from coach.plan_export import to_ics, to_markdown, write_private

    items = _guard(_profiles(store).plan, user)
    try:
        write_private(markdown, to_markdown(items, date.today()).encode("utf-8"))
        write_private(ics, to_ics(items, user))
    except OSError as exc:
        _cli().fail(f"cannot write the export: {exc.strerror or exc} ({exc.filename})")
    reminders = sum(1 for i in items if i.remind_on and i.status != "dropped")
    _cli().out.print(f"Wrote {markdown} ({len(items)} item(s)) and {ics} ({reminders} reminder(s)).")
