"""Where people's profiles and plans live: the SQLAlchemy tables, the engine, and the Alembic migrations.

SQLite in the store's folder by default (a file created only when someone first saves something, readable by
its owner only, deleted rows overwritten on disk); any SQLAlchemy URL through `COACH_DATABASE_URL`. The schema
is only ever created or changed by the migrations in `coach/migrations`, never by `create_all`.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    CheckConstraint,
    Connection,
    Date,
    DateTime,
    Engine,
    Integer,
    String,
    Text,
    UniqueConstraint,
    create_engine,
    event,
    text,
)
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from coach.settings import PEOPLE_FILE

SQLITE_NAME = PEOPLE_FILE
MIGRATIONS = Path(__file__).with_name("migrations")
VERSION_TABLE = "coach_alembic_version"  # the tables share a database with others' in a shared deployment
STATUSES = ("open", "done", "dropped")
MAX_FIELD_CHARS = 500
MAX_NOTE_CHARS = 2000


class Base(DeclarativeBase):
    pass


class ProfileRow(Base):
    __tablename__ = "coach_profiles"

    owner: Mapped[str] = mapped_column(String(200), primary_key=True)
    level: Mapped[str] = mapped_column(String(MAX_FIELD_CHARS), default="")
    goal: Mapped[str] = mapped_column(String(MAX_FIELD_CHARS), default="")
    manager: Mapped[str] = mapped_column(String(MAX_FIELD_CHARS), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    version: Mapped[int] = mapped_column(Integer, server_default="1")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative hook


class PlanItemRow(Base):
    __tablename__ = "coach_plan_items"
    __table_args__ = (
        UniqueConstraint("owner", "n", name="uq_coach_plan_items_owner_n"),
        CheckConstraint("status IN ('open', 'done', 'dropped')", name="ck_coach_plan_items_status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    owner: Mapped[str] = mapped_column(String(200), index=True)
    n: Mapped[int] = mapped_column(Integer)  # the number the person sees: 1, 2, 3… in their own plan
    step: Mapped[str] = mapped_column(Text)
    quote: Mapped[str] = mapped_column(Text, default="")
    url: Mapped[str] = mapped_column(String(300), default="")
    video_id: Mapped[str] = mapped_column(String(64), default="")
    start: Mapped[int] = mapped_column(Integer, default=0)
    title: Mapped[str] = mapped_column(String(MAX_FIELD_CHARS), default="")
    source: Mapped[str] = mapped_column(String(MAX_FIELD_CHARS), default="")
    framework: Mapped[str] = mapped_column(String(MAX_FIELD_CHARS), default="")  # heading path, " > "-joined
    step_n: Mapped[int | None] = mapped_column(Integer, nullable=True)  # its place in that framework
    added_on: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(10), default="open")
    note: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    remind_on: Mapped[date | None] = mapped_column(Date, nullable=True)
    version: Mapped[int] = mapped_column(Integer, server_default="1")

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012 - SQLAlchemy's declarative hook


def database_url(database_url: str | None, store_dir: Path) -> str:
    """The configured URL, or the SQLite file in the store's folder."""
    return database_url or f"sqlite:///{Path(store_dir).expanduser() / SQLITE_NAME}"


def sqlite_path(url: str) -> Path | None:
    """The file behind a SQLite URL (None for a server database or an in-memory one)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def private_file(path: Path) -> None:
    """Create `path` (and its folder) readable and writable by its owner only, before SQLite opens it: SQLite
    gives its journal files the database file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


def make_engine(url: str) -> Engine:
    """An engine for `url`; for SQLite, shared across threads, waiting for a writer, and erasing deleted rows."""
    if sqlite_path(url) is None:
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA secure_delete = ON")  # "Forget me" leaves no bytes of theirs in free pages
        cursor.execute("PRAGMA busy_timeout = 30000")
        cursor.close()

    return engine


_migrate_lock = threading.Lock()  # threads of one process; the lock below covers processes
# The PostgreSQL advisory-lock key every Coach process takes around its migrations (any fixed 64-bit number;
# this one spells "coachmig"). Other applications sharing the database do not use it.
MIGRATION_LOCK_KEY = int.from_bytes(b"coachmig", "big") & 0x7FFF_FFFF_FFFF_FFFF
MIGRATION_LOCK_SUFFIX = ".migrate-lock"  # beside a SQLite file: `<db>.migrate-lock`


def head_revision() -> str:
    """The newest revision in coach/migrations."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None  # coach/migrations is never empty
    return head


def upgrade(engine: Engine, revision: str = "head") -> bool:
    """Bring the schema to `revision` through the Alembic migrations; False when it was there already.

    Safe when many processes start at once on a fresh database (replicas, workers): each takes a lock first
    (PostgreSQL: `pg_advisory_xact_lock` in the migrating transaction, so a crashed process frees it; SQLite: an
    exclusive `flock` on a file beside the database) and reads the revision again once it holds it, so exactly
    one runs the migrations and the others find the schema done. Other databases get the in-process lock only:
    run `coach profile migrate` once before starting replicas there."""
    from alembic import command
    from alembic.config import Config

    target = head_revision() if revision == "head" else revision
    if current_revision(engine) == target:
        return False  # the common case: no lock taken
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with _migrate_lock, _file_lock(sqlite_path(str(engine.url))), engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        if _revision(connection) == target:
            return False  # another process migrated while this one waited
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
        return True


@contextmanager
def _file_lock(path: Path | None) -> Iterator[None]:
    """An exclusive lock on `<db>.migrate-lock` (created readable by its owner only) while migrating a SQLite file."""
    if path is None:
        yield
        return
    lock = path.with_name(path.name + MIGRATION_LOCK_SUFFIX)
    fd = os.open(lock, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return _revision(connection)
