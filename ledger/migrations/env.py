"""Alembic environment for the ledger: migrates the connection handed over by `runner`.

`runner.upgrade_to_head` passes an open connection (already inside a locked transaction) in
`config.attributes["connection"]`; the alembic CLI path (`python -m ledger.migrations`)
passes only a URL, and an engine is made here with `ledger.db.make_engine`.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from ledger.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    from ledger.db import make_engine

    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("no database URL: pass --url to python -m ledger.migrations")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
