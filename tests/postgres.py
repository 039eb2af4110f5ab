"""A throwaway PostgreSQL server for tests: Debian's `postgresql` binaries, a fresh cluster in a temp folder,
listening on loopback only, stopped and deleted afterwards. Run as the `postgres` user when the tests run as root
(initdb refuses root)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def bindir() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    return found[-1].parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yield the SQLAlchemy URL of a fresh server's `postgres` database (user `coach`, trust auth on loopback)."""
    bins = bindir()
    if bins is None:
        raise RuntimeError("PostgreSQL is not installed: `apt-get install -y postgresql` (scripts/install.sh --browser)")
    root = Path(tempfile.mkdtemp(prefix="coach-pg-", dir="/tmp"))  # outside pytest's root-only temp folders
    as_user: list[str] = []
    if os.geteuid() == 0:
        import pwd

        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", _free_port()

    def run(*args: str) -> None:
        subprocess.run([*as_user, *args], check=True, capture_output=True, text=True, timeout=120)

    try:
        run(str(bins / "initdb"), "-D", str(data), "-A", "trust", "-U", "coach", "--no-sync")
        options = f"-p {port} -k {root} -h 127.0.0.1 -F"
        run(str(bins / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
        try:
            yield f"postgresql+psycopg://coach@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run([*as_user, str(bins / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
                           capture_output=True, timeout=60)  # fmt: skip
    finally:
        shutil.rmtree(root, ignore_errors=True)


def reset(url: str) -> None:
    """Drop every table of the test database (each test starts from an empty database)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
