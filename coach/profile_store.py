"""A person's profile and plan, per owner: the repository over `coach.people_db`.

Every call names its owner (the signed-in user, or LOCAL on a one-person machine) and touches that owner's rows
only. Nothing is written until a person saves or adds something; reading never creates the database. Bad input is
refused with a `ProfileError` that says what to change, before anything is written; an edit made from a stale
view (another tab saved first) is refused with `StaleEdit`, which carries what is stored now.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from coach.conversation import Situation
from coach.people_db import (
    MAX_FIELD_CHARS,
    MAX_NOTE_CHARS,
    STATUSES,
    PlanItemRow,
    ProfileRow,
    current_revision,
    database_url,
    make_engine,
    private_file,
    sqlite_path,
    upgrade,
)

if TYPE_CHECKING:
    from coach.settings import Settings

LOCAL = "local"  # the owner when nobody signs in: the one person using this machine
MAX_OWNER_CHARS = 200
ADD_ATTEMPTS = 12


class ProfileError(ValueError):
    """Input the profile or plan cannot take; the message says what to change. Nothing was written."""


class StaleEdit(ProfileError):
    """The row changed since the caller read it (another tab or window saved first); nothing was overwritten."""

    def __init__(self, message: str, current: Any) -> None:
        super().__init__(message)
        self.current = current


@dataclass(frozen=True)
class Profile:
    level: str = ""
    goal: str = ""
    manager: str = ""
    note: str = ""
    updated: datetime | None = None
    version: int = 0

    def situation(self) -> Situation:
        return Situation(level=self.level, goal=self.goal, manager=self.manager, note=self.note)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "updated": self.updated.isoformat(timespec="seconds") if self.updated else None}


@dataclass(frozen=True)
class Step:
    """A cited step a person can add to their plan: what to do, the source sentence and the second it was said."""

    step: str
    quote: str
    url: str
    video_id: str = ""
    start: int = 0
    title: str = ""
    source: str = ""
    framework: str = ""  # the heading path of the framework it belongs to, " > "-joined ("" for a lone sentence)
    step_n: int | None = None


@dataclass(frozen=True)
class PlanItem:
    n: int
    step: str
    quote: str
    url: str
    video_id: str
    start: int
    title: str
    source: str
    framework: str
    step_n: int | None
    added_on: date
    status: str
    note: str
    remind_on: date | None
    version: int

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["added_on"] = self.added_on.isoformat()
        out["remind_on"] = self.remind_on.isoformat() if self.remind_on else None
        return out


class ProfileStore:
    """Profiles and plans in one database (`url`); the schema is migrated on first use."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.path = sqlite_path(url)
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> ProfileStore:
        return cls(database_url(settings.database_url, settings.store_dir))

    # ---- profile -----------------------------------------------------------------------------------------
    def profile(self, owner: str) -> Profile | None:
        engine = self._open(owner, create=False)
        if engine is None:
            return None
        with Session(engine) as session:
            row = session.get(ProfileRow, owner)
            return _profile(row) if row else None

    def save_profile(
        self, owner: str, *, level: str = "", goal: str = "", manager: str = "", note: str = "",
        expected_version: int | None = None,
    ) -> Profile:  # fmt: skip
        """Create or replace the owner's profile. `expected_version` (the version the caller showed) refuses an
        edit made over a newer save; 0 means "I saw no profile"."""
        fields = {k: _text(k, v, MAX_FIELD_CHARS) for k, v in (("level", level), ("goal", goal), ("manager", manager))}
        fields["note"] = _text("note", note, MAX_NOTE_CHARS)
        with Session(self._open(owner, create=True)) as session, session.begin():
            row = session.get(ProfileRow, owner, with_for_update=True)
            if expected_version is not None and expected_version != (row.version if row else 0):
                raise StaleEdit(
                    "Your profile was changed in another tab or window since this one loaded it; nothing was "
                    "overwritten. Reload to see it, then save again (your text is still in the boxes).",
                    _profile(row) if row else None,
                )
            if row is None:
                row = ProfileRow(owner=owner, **fields, updated_at=_now())
                session.add(row)
            else:
                for key, value in fields.items():
                    setattr(row, key, value)
                row.updated_at = _now()
            session.flush()
            return _profile(row)

    def forget(self, owner: str) -> int:
        """Delete the owner's profile and every plan item; returns how many rows went. Deleted rows are
        overwritten in a SQLite file (secure_delete)."""
        engine = self._open(owner, create=False)
        if engine is None:
            return 0
        with Session(engine) as session, session.begin():
            gone = session.execute(delete(PlanItemRow).where(PlanItemRow.owner == owner)).rowcount or 0  # type: ignore[attr-defined]
            gone += session.execute(delete(ProfileRow).where(ProfileRow.owner == owner)).rowcount or 0  # type: ignore[attr-defined]
        return int(gone)

    # ---- plan --------------------------------------------------------------------------------------------
    def plan(self, owner: str, status: str | None = None) -> list[PlanItem]:
        if status is not None:
            _status(status)
        engine = self._open(owner, create=False)
        if engine is None:
            return []
        query = select(PlanItemRow).where(PlanItemRow.owner == owner).order_by(PlanItemRow.n)
        if status is not None:
            query = query.where(PlanItemRow.status == status)
        with Session(engine) as session:
            return [_item(r) for r in session.scalars(query)]

    def add(self, owner: str, step: Step, note: str = "", remind_on: str | date | None = None) -> PlanItem:
        """Add a cited step as an open item numbered after the owner's last one."""
        if not step.step.strip():
            raise ProfileError("A plan item needs the step itself; this one is empty.")
        note = _text("note", note, MAX_NOTE_CHARS)
        remind = parse_date(remind_on)
        engine = self._open(owner, create=True)
        for attempt in range(ADD_ATTEMPTS):  # tabs adding at once may pick the same number: the loser takes the next
            try:
                with Session(engine) as session, session.begin():
                    last = session.scalar(select(func.max(PlanItemRow.n)).where(PlanItemRow.owner == owner))
                    row = PlanItemRow(
                        owner=owner, n=(last or 0) + 1, step=step.step.strip()[:MAX_NOTE_CHARS], quote=step.quote,
                        url=step.url[:300], video_id=step.video_id[:64], start=int(step.start), title=step.title[:500],
                        source=step.source[:500], framework=step.framework[:500], step_n=step.step_n,
                        added_on=date.today(), status="open", note=note, remind_on=remind, updated_at=_now(),
                    )  # fmt: skip
                    session.add(row)
                    session.flush()
                    return _item(row)
            except IntegrityError:
                if attempt == ADD_ATTEMPTS - 1:
                    raise
                time.sleep(random.uniform(0, 0.02) * (attempt + 1))
        raise AssertionError("unreachable")

    def update(
        self, owner: str, n: int, *, status: str | None = None, note: str | None = None,
        remind_on: str | date | None = None, clear_reminder: bool = False, expected_version: int | None = None,
    ) -> PlanItem:  # fmt: skip
        """Change an item's status, note or reminder. Unknown numbers, bad values and stale edits are refused."""
        if status is not None:
            _status(status)
        note = _text("note", note, MAX_NOTE_CHARS) if note is not None else None
        remind = parse_date(remind_on)
        engine = self._open(owner, create=False)
        if engine is None:
            raise ProfileError(_unknown(n, []))
        with Session(engine) as session, session.begin():
            mine = select(PlanItemRow).where(PlanItemRow.owner == owner, PlanItemRow.n == n)
            row = session.scalar(mine.with_for_update())
            if row is None:
                raise ProfileError(_unknown(n, self.plan(owner)))
            if expected_version is not None and expected_version != row.version:
                raise StaleEdit(
                    f"Plan item {n} was changed in another tab or window since this one loaded it (it is now "
                    f"{row.status}{', note: ' + repr(row.note) if row.note else ''}); nothing was overwritten. "
                    "Reload the plan and save again (your text is still in the box).", _item(row))  # fmt: skip
            if status is not None:
                row.status = status
            if note is not None:
                row.note = note
            if remind is not None or clear_reminder:
                row.remind_on = remind
            row.updated_at = _now()
            session.flush()
            return _item(row)

    # ---- the database --------------------------------------------------------------------------------------
    def _open(self, owner: str, create: bool) -> Engine | None:
        """The engine, migrated; None when reading a SQLite file that was never created (nothing is stored)."""
        _owner(owner)
        with self._lock:
            if self._engine is not None:
                return self._engine
            if self.path is not None:
                if not self.path.exists() and not create:
                    return None
                private_file(self.path)
            engine = make_engine(self.url)
            upgrade(engine)
            self._engine = engine
            return engine

    def migrate(self) -> tuple[bool, str | None]:
        """Create the database if needed and bring its schema to the newest migration now, rather than on first use
        (`coach profile migrate`, for a deployment to run once before its replicas start): (whether this call ran
        the migrations, the revision now)."""
        with self._lock:
            if self.path is not None:
                private_file(self.path)
            engine = self._engine or make_engine(self.url)
            ran = upgrade(engine)
            self._engine = engine
            return ran, current_revision(engine)

    def close(self) -> None:
        with self._lock:
            if self._engine is not None:
                self._engine.dispose()
                self._engine = None


def with_profile(given: Situation | None, profile: Profile | Mapping[str, Any] | None) -> Situation | None:
    """The situation an answer is shaped by: each field as given, else as saved in the profile."""
    if profile is None:
        return given
    saved = profile.situation() if isinstance(profile, Profile) else Situation.from_mapping(profile)
    if given is None:
        return saved
    return Situation(**{k: getattr(given, k) or getattr(saved, k) for k in ("level", "goal", "manager", "note")})


def parse_date(value: str | date | None) -> date | None:
    """A reminder date: a date, or text in the form YYYY-MM-DD; "" and None mean none."""
    if value is None or isinstance(value, date):
        return value
    text = str(value).strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text) if len(text) == 10 else _bad_date(text)
    except ValueError:
        return _bad_date(text)


def _bad_date(text: str) -> date:
    raise ProfileError(f"The reminder date {text[:40]!r} is not a date in the form YYYY-MM-DD (e.g. 2027-01-31).")


def _text(name: str, value: str | None, limit: int) -> str:
    text = str(value or "").replace("\x00", "").strip()
    if len(text) > limit:
        raise ProfileError(
            f"The {name} is {len(text):,} characters; it can hold {limit:,}. Nothing was saved: shorten it "
            "and save again."
        )
    return text


def _status(status: str) -> str:
    if status not in STATUSES:
        raise ProfileError(f"The status {status[:40]!r} is not one of: {', '.join(STATUSES)}.")
    return status


def _owner(owner: str) -> str:
    if not isinstance(owner, str) or not owner.strip() or len(owner) > MAX_OWNER_CHARS:
        raise ProfileError("Profiles and plans need a signed-in user name (at most 200 characters).")
    return owner


def _unknown(n: int, items: list[PlanItem]) -> str:
    have = ", ".join(str(i.n) for i in items)
    return f"There is no plan item {n}." + (f" Your plan has items {have}." if have else " Your plan is empty.")


def _now() -> datetime:
    return datetime.now(UTC)


def _profile(row: ProfileRow) -> Profile:
    return Profile(row.level, row.goal, row.manager, row.note, _aware(row.updated_at), row.version)


def _item(r: PlanItemRow) -> PlanItem:
    return PlanItem(
        r.n, r.step, r.quote, r.url, r.video_id, r.start, r.title, r.source, r.framework, r.step_n, r.added_on,
        r.status, r.note, r.remind_on, r.version,
    )  # fmt: skip


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
