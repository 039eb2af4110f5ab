"""Replicas that start together on a fresh database migrate it once: N processes, released at the same instant,
each open the profile database the way Coach does (`coach.people_db.upgrade`), against a fresh PostgreSQL
database (a real server, tests/postgres.py) and a fresh SQLite file. All must succeed, and the database must end
with exactly one version row, at the newest migration.

`python -m tests.test_migrate_race sqlite|postgresql [rounds] [locked]` runs the same race with the lock taken
out (the upgrade as it was before: Alembic straight on a connection), or with it, and counts the rounds in which
a process failed.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.postgres import postgres_server

pytestmark = pytest.mark.processes  # starts processes and a PostgreSQL server: the whole run, not --fast

ROOT = Path(__file__).resolve().parent.parent
PROCESSES = 6
HEAD = sorted(p.name for p in (ROOT / "coach" / "migrations" / "versions").glob("[0-9]*.py"))[-1].split("_")[0]

CHILD = r"""
import os, sys, time
from pathlib import Path

url, go, ready, mode = sys.argv[1:5]
from coach import people_db

if (path := people_db.sqlite_path(url)) is not None:
    people_db.private_file(path)  # as ProfileStore does before it migrates
engine = people_db.make_engine(url)


def unlocked():
    # The upgrade before the lock: Alembic straight on a connection, every process at once.
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(people_db.MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return True


Path(ready).touch()
while not os.path.exists(go):
    time.sleep(0.0005)
migrated = unlocked() if mode == "without-lock" else people_db.upgrade(engine)
print("migrated" if migrated else "found it done")
"""


def race(url: str, folder: Path, mode: str = "locked", n: int = PROCESSES) -> list[tuple[int, str, str]]:
    """Start n processes, release them together once all are ready, and return (exit code, stdout, stderr)."""
    folder.mkdir(parents=True, exist_ok=True)
    go = folder / "go"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, "-c", CHILD, url, str(go)]
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, "env": env}
    procs = [subprocess.Popen([*args, str(folder / f"ready-{i}"), mode], **pipes) for i in range(n)]
    deadline = time.monotonic() + 120
    while sum((folder / f"ready-{i}").exists() for i in range(n)) < n:
        assert time.monotonic() < deadline, "the processes did not start"
        assert all(p.poll() is None for p in procs), [p.communicate() for p in procs if p.poll() is not None]
        time.sleep(0.01)
    go.touch()
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=120)
        out.append((p.returncode, stdout.strip(), stderr.strip()))
    return out


def versions(url: str) -> list[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [r[0] for r in conn.execute(sa.text("SELECT version_num FROM coach_alembic_version"))]
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    with postgres_server() as url:
        yield url


def fresh_database(server_url: str, name: str) -> str:
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def _assert_migrated_once(url: str, results: list[tuple[int, str, str]]) -> None:
    assert [code for code, *_ in results] == [0] * PROCESSES, [err[-600:] for code, _, err in results if code]
    said = [out for _, out, _ in results]
    assert said.count("migrated") == 1, said  # one process ran the migrations, the others found them done
    assert said.count("found it done") == PROCESSES - 1, said
    assert versions(url) == [HEAD]
    assert {"coach_profiles", "coach_plan_items", "coach_alembic_version"} <= tables(url)


def test_head_is_the_newest_migration_file() -> None:
    assert HEAD == "0002"  # keeps the oracle above honest: the versions folder holds 0001 and 0002


def test_replicas_starting_together_on_a_fresh_postgresql(postgres: str) -> None:
    url = fresh_database(postgres, "race")
    _assert_migrated_once(url, race(url, Path(f"/tmp/coach-race-{os.getpid()}")))


def test_replicas_starting_together_on_a_fresh_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store' / 'people.sqlite3'}"
    _assert_migrated_once(url, race(url, tmp_path / "race"))
    lock = tmp_path / "store" / "people.sqlite3.migrate-lock"
    assert lock.stat().st_mode & 0o777 == 0o600
    assert lock.read_bytes() == b""  # the lock file holds nothing of anyone's


def test_a_second_start_takes_no_lock_and_changes_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'people.sqlite3'}"
    race(url, tmp_path / "first", n=1)
    again = race(url, tmp_path / "again", n=3)
    assert [(code, out) for code, out, _ in again] == [(0, "found it done")] * 3
    assert versions(url) == [HEAD]


def test_coach_profile_migrate_from_four_shells_at_once(postgres: str, tmp_path: Path) -> None:
    """The deployment command, started four times at once on a fresh database: one migrates, three find it done."""
    from tests.support import cli_env

    url = fresh_database(postgres, "deploy")
    env = cli_env(tmp_path / "cache", COACH_DATABASE_URL=url, COACH_STORE_DIR=str(tmp_path / "store"))
    procs = [subprocess.Popen([sys.executable, "-m", "coach.cli", "profile", "migrate"], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=env) for _ in range(4)]  # fmt: skip
    results = [(p.wait(timeout=120), p.stdout.read(), p.stderr.read()) for p in procs]  # type: ignore[union-attr]
    assert [code for code, *_ in results] == [0] * 4, results
    said = sorted(" ".join(out.split()) for _, out, _ in results)
    assert said == [f"Profile database {url}: revision {HEAD} (already up to date)."] * 3 + [
        f"Profile database {url}: revision {HEAD} (migrated now)."]  # fmt: skip
    assert versions(url) == [HEAD]
    assert not (tmp_path / "store").exists()  # a server database: nothing written beside the store


def _rounds(backend: str, rounds: int, mode: str) -> None:
    failed = 0
    with postgres_server() if backend == "postgresql" else _nothing() as server:
        for r in range(rounds):
            folder = Path(f"/tmp/coach-race-{os.getpid()}/{r}")
            sqlite = f"sqlite:///{folder / 'people.sqlite3'}"
            url = fresh_database(server, f"race{r}") if backend == "postgresql" else sqlite
            results = race(url, folder, mode=mode)
            bad = [next((line for line in reversed(err.splitlines()) if "Error" in line), err[-200:])
                   for code, _, err in results if code]  # fmt: skip
            failed += bool(bad)
            print(f"round {r + 1}: {len(bad)} of {PROCESSES} processes failed", *bad[:1], sep="  ")
    print(f"{mode}: {failed} of {rounds} rounds had a failed process ({backend}, {PROCESSES} processes a round)")


class _nothing:
    def __enter__(self) -> str:
        return ""

    def __exit__(self, *_: object) -> None:
        return None


if __name__ == "__main__":
    _rounds(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10, sys.argv[3] if len(sys.argv) > 3 else "without-lock")
