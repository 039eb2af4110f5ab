"""Profiles and plans in a real database: the same suite against SQLite (the default file in the store's folder) and
against a real PostgreSQL server this module starts. Owners never see or change each other's rows, bad input is
refused before anything is written, "Forget me" leaves nothing of the person in the database, and the schema comes
from the Alembic migrations, from an empty database and from the previous schema."""

from __future__ import annotations

import os
import stat
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from coach.people_db import SQLITE_NAME, VERSION_TABLE, Base, make_engine, upgrade
from coach.profile_store import LOCAL, ProfileError, ProfileStore, StaleEdit, Step
from tests.postgres import postgres_server, reset

STEP = Step(
    step="Ask your boss how you can help", quote="Ask your boss how you can help: This simple question sets you apart.",
    url="https://www.youtube.com/watch?v=GB0P0_nFPTA&t=391s", video_id="GB0P0_nFPTA", start=391,
    title="Career development", framework="The Magic Loop for Career Growth > Steps of the Magic Loop", step_n=2,
)  # fmt: skip


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    with postgres_server() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path | None]]:
    """(database URL, the SQLite file or None): an empty database for each test."""
    if request.param == "sqlite":
        path = tmp_path / "store" / SQLITE_NAME
        yield f"sqlite:///{path}", path
    else:
        url = request.getfixturevalue("postgres_url")
        reset(url)
        yield url, None


def _contains(url: str, path: Path | None, needle: str) -> list[str]:
    """Where `needle` is stored: for SQLite, any file in the database's folder holding its bytes; for a server,
    any text column of any table holding it."""
    if path is not None:
        return [p.name for p in path.parent.iterdir() if p.is_file() and needle.encode() in p.read_bytes()]
    engine = sa.create_engine(url)
    found = []
    with engine.connect() as conn:
        columns = conn.execute(sa.text(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
            "AND data_type IN ('text', 'character varying')")).all()  # fmt: skip
        for table, column in columns:
            hit = conn.execute(sa.text(f'SELECT count(*) FROM "{table}" WHERE "{column}" LIKE :n'), {"n": f"%{needle}%"})
            if hit.scalar():
                found.append(f"{table}.{column}")
    engine.dispose()
    return found


def test_nothing_is_written_until_asked(db: tuple[str, Path | None]) -> None:
    url, path = db
    store = ProfileStore(url)
    assert store.profile(LOCAL) is None
    assert store.plan(LOCAL) == []
    assert store.forget(LOCAL) == 0
    with pytest.raises(ProfileError, match="no plan item 3"):
        store.update(LOCAL, 3, status="done")
    if path is not None:
        assert not path.parent.exists() or not any(path.parent.iterdir()), "reading created a file"
    store.save_profile(LOCAL, level="Senior engineer")
    if path is not None:
        assert path.is_file()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in path.parent.iterdir())


def test_profile_round_trip_and_stale_edit(db: tuple[str, Path | None]) -> None:
    store = ProfileStore(db[0])
    first = store.save_profile("ada", level="Senior manager", goal="Director", manager="Busy", note="Team of 40",
                               expected_version=0)  # fmt: skip
    again = ProfileStore(db[0]).profile("ada")  # a second process's view
    assert again is not None
    assert (again.level, again.goal, again.manager, again.note) == ("Senior manager", "Director", "Busy", "Team of 40")
    tab_a, tab_b = first.version, first.version
    store.save_profile("ada", level="Director", expected_version=tab_b)
    with pytest.raises(StaleEdit, match="another tab") as info:
        store.save_profile("ada", level="Principal", expected_version=tab_a)
    assert info.value.current.level == "Director"
    assert store.profile("ada").level == "Director"  # type: ignore[union-attr]


def test_owners_never_see_or_change_each_others_rows(db: tuple[str, Path | None]) -> None:
    store = ProfileStore(db[0])
    store.save_profile("ada", goal="ada's goal")
    ada_item = store.add("ada", STEP, note="ada's note")
    assert store.profile("bob") is None
    assert store.plan("bob") == []
    with pytest.raises(ProfileError, match=f"no plan item {ada_item.n}"):
        store.update("bob", ada_item.n, status="dropped")
    bob_item = store.add("bob", STEP)
    assert bob_item.n == 1  # numbered within bob's own plan
    assert store.forget("bob") == 1
    assert [i.note for i in store.plan("ada")] == ["ada's note"]
    assert store.plan("ada")[0].status == "open"
    assert store.profile("ada").goal == "ada's goal"  # type: ignore[union-attr]


def test_plan_items_carry_the_step_its_source_and_a_status(db: tuple[str, Path | None]) -> None:
    store = ProfileStore(db[0])
    item = store.add(LOCAL, STEP, note="before Friday", remind_on="2027-01-15")
    assert (item.n, item.status, item.added_on, item.remind_on) == (1, "open", date.today(), date(2027, 1, 15))
    assert (item.step, item.quote, item.url, item.step_n) == (STEP.step, STEP.quote, STEP.url, 2)
    done = store.update(LOCAL, 1, status="done")
    assert done.status == "done"
    assert done.note == "before Friday"  # fields not given are kept
    cleared = store.update(LOCAL, 1, clear_reminder=True)
    assert cleared.remind_on is None
    assert [i.n for i in store.plan(LOCAL, status="done")] == [1]
    assert store.plan(LOCAL, status="open") == []


def test_bad_input_gets_a_clear_message_and_loses_nothing(db: tuple[str, Path | None]) -> None:
    store = ProfileStore(db[0])
    store.save_profile(LOCAL, note="kept")
    store.add(LOCAL, STEP, note="original note")
    with pytest.raises(ProfileError, match=r"no plan item 9\. Your plan has items 1"):
        store.update(LOCAL, 9, status="done")
    with pytest.raises(ProfileError, match=r"The note is 10,240 characters; it can hold 2,000"):
        store.update(LOCAL, 1, note="x" * 10_240)
    with pytest.raises(ProfileError, match=r"The note is 10,240 characters"):
        store.save_profile(LOCAL, note="y" * 10_240)
    with pytest.raises(ProfileError, match=r"'31/12/2026' is not a date in the form YYYY-MM-DD"):
        store.update(LOCAL, 1, remind_on="31/12/2026")
    with pytest.raises(ProfileError, match=r"'2027-02-30' is not a date"):
        store.add(LOCAL, STEP, remind_on="2027-02-30")
    with pytest.raises(ProfileError, match="not one of: open, done, dropped"):
        store.update(LOCAL, 1, status="finished")
    assert [(i.n, i.note, i.status, i.remind_on) for i in store.plan(LOCAL)] == [(1, "original note", "open", None)]
    assert store.profile(LOCAL).note == "kept"  # type: ignore[union-attr]


def test_an_edit_from_a_stale_tab_is_refused_and_the_other_kept(db: tuple[str, Path | None]) -> None:
    store = ProfileStore(db[0])
    seen = store.add(LOCAL, STEP)  # both tabs show version `seen.version`
    store.update(LOCAL, 1, note="from tab one", expected_version=seen.version)
    with pytest.raises(StaleEdit, match="changed in another tab") as info:
        store.update(LOCAL, 1, note="from tab two", status="dropped", expected_version=seen.version)
    assert "from tab one" in str(info.value)
    assert info.value.current.note == "from tab one"
    assert [(i.note, i.status) for i in store.plan(LOCAL)] == [("from tab one", "open")]


def test_simultaneous_adds_get_their_own_numbers(db: tuple[str, Path | None]) -> None:
    store = ProfileStore(db[0])
    store.add(LOCAL, STEP)  # the schema exists before the race
    barrier, errors = threading.Barrier(6), []

    def add(i: int) -> None:
        barrier.wait()
        try:
            store.add(LOCAL, Step(step=f"step {i}", quote="q", url=""))
        except Exception as exc:  # collected: a lost add must fail the test, not vanish in a thread
            errors.append(repr(exc))

    threads = [threading.Thread(target=add, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    items = store.plan(LOCAL)
    assert sorted(i.n for i in items) == list(range(1, 8))
    assert {i.step for i in items} == {STEP.step} | {f"step {i}" for i in range(6)}


def test_forget_me_leaves_nothing_of_theirs_in_the_database(db: tuple[str, Path | None]) -> None:
    url, path = db
    store = ProfileStore(url)
    marker = f"zq{uuid.uuid4().hex[:10]}xv"
    store.save_profile("ada", level=f"level {marker}", note=f"my note {marker} " * 20)
    store.add("ada", Step(step=f"step {marker}", quote="q", url=""), note=f"note {marker}")
    store.save_profile("bob", note="bob stays")
    assert _contains(url, path, marker), "the search must find what is stored"
    assert store.forget("ada") == 2
    store.close()
    assert _contains(url, path, marker) == []
    assert ProfileStore(url).profile("bob").note == "bob stays"  # type: ignore[union-attr]


# ---- migrations ------------------------------------------------------------------------------------------
def _engine(url: str, path: Path | None) -> sa.Engine:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    return make_engine(url)


def test_migrations_from_an_empty_database_give_the_models_schema(db: tuple[str, Path | None]) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    engine = _engine(*db)
    upgrade(engine)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}), Base.metadata)
        tables = set(sa.inspect(conn).get_table_names())
    assert diffs == []
    assert {"coach_profiles", "coach_plan_items", "coach_alembic_version"} <= tables
    upgrade(engine)  # again: a no-op
    engine.dispose()


def test_migration_from_the_previous_schema_keeps_every_row(db: tuple[str, Path | None]) -> None:
    engine = _engine(*db)
    upgrade(engine, "0001")
    with engine.begin() as conn:
        cols = {c["name"] for c in sa.inspect(conn).get_columns("coach_plan_items")}
        assert not {"remind_on", "version"} & cols  # really the previous schema
        conn.execute(sa.text(
            "INSERT INTO coach_profiles (owner, level, goal, manager, note, updated_at) "
            "VALUES ('ada', 'Senior', 'Director', 'Busy', 'n', CURRENT_TIMESTAMP)"))  # fmt: skip
        conn.execute(sa.text(
            "INSERT INTO coach_plan_items (owner, n, step, quote, url, video_id, start, title, source, framework, "
            "step_n, added_on, status, note, updated_at) VALUES ('ada', 1, 'Ask your boss how you can help', 'q', "
            "'https://www.youtube.com/watch?v=GB0P0_nFPTA&t=391s', 'GB0P0_nFPTA', 391, 't', 's', 'f', 2, "
            "'2026-11-30', 'open', 'old note', CURRENT_TIMESTAMP)"))  # fmt: skip
    engine.dispose()
    store = ProfileStore(db[0])  # opening migrates to head
    items = store.plan("ada")
    assert [(i.step, i.note, i.added_on, i.remind_on, i.version) for i in items] == [
        ("Ask your boss how you can help", "old note", date(2026, 11, 30), None, 1)
    ]
    assert store.profile("ada").goal == "Director"  # type: ignore[union-attr]
    assert store.update("ada", 1, remind_on="2027-01-02", expected_version=1).remind_on == date(2027, 1, 2)


def test_reading_never_creates_the_sqlite_file(tmp_path: Path) -> None:
    path = tmp_path / "store" / SQLITE_NAME
    store = ProfileStore(f"sqlite:///{path}")
    calls: list[Callable[[], object]] = [lambda: store.profile(LOCAL), lambda: store.plan(LOCAL),
                                         lambda: store.forget(LOCAL)]  # fmt: skip
    for call in calls:
        call()
    assert not path.exists()
    assert not (tmp_path / "store").exists()
    assert os.listdir(tmp_path) == []
