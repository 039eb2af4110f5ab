"""Alembic environment: migrations run on the connection Coach hands over (`coach.people_db.upgrade`), or, from
the `alembic` command line, on `COACH_DATABASE_URL` / the store's SQLite file."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from coach.people_db import VERSION_TABLE, Base, database_url, make_engine, private_file, sqlite_path


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=True,  # SQLite alters tables by copying them
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    from coach.settings import Settings

    settings = Settings()
    url = database_url(settings.database_url, settings.store_dir)
    if (path := sqlite_path(url)) is not None:
        private_file(path)
    with make_engine(url).begin() as conn:
        run(conn)
