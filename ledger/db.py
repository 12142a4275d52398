"""Engines for the ledger database (SQLite file or PostgreSQL) and schema migration to head.

SQLite engines hand transaction control to SQLAlchemy's `begin` hook instead of the sqlite3
module, so a connection can ask for ``BEGIN IMMEDIATE`` (execution option
``ledger_sqlite_begin="IMMEDIATE"``) and take the write lock before reading the state it
will check; ordinary transactions remain deferred so readers never block on writers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import event, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError

from ledger.errors import LedgerUnavailable

SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_BEGIN_OPTION = "ledger_sqlite_begin"
_PG_MIGRATION_LOCK = 0x6C656467  # any fixed 64-bit number shared by every chidao process


def sqlite_url_for(home: Path) -> str:
    return f"sqlite:///{home}/chidao.db"


def mask_url(url: str | URL) -> str:
    """The URL with its password replaced by ***, for messages and logs."""
    if isinstance(url, URL):
        return url.render_as_string(hide_password=True)
    return re.sub(r"(://[^/:@]*:)[^@/]*@", r"\1***@", url)


def _normalise(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise LedgerUnavailable(f"cannot parse database URL {mask_url(url)!r}: {e}") from e
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def _sqlite_file(url: URL) -> Path | None:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:") or url.query.get("mode"):
        return None
    return Path(database)


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Autocommit at the driver level: the `begin` hook below issues BEGIN itself.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = FULL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")
        if mode not in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE"):
            raise ValueError(f"unknown SQLite BEGIN mode {mode!r}")
        conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str) -> Engine:
    """An engine for `url`, checked by opening one connection; LedgerUnavailable if it can't."""
    parsed = _normalise(url)
    backend = parsed.get_backend_name()
    if backend not in ("sqlite", "postgresql"):
        raise LedgerUnavailable(
            f"unsupported database {mask_url(parsed)!r}: the ledger runs on sqlite or postgresql"
        )
    kwargs: dict[str, Any] = {}
    if backend == "sqlite":
        path = _sqlite_file(parsed)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise LedgerUnavailable(
                    f"cannot create the directory for {mask_url(parsed)!r}: {e}"
                ) from e
        kwargs["connect_args"] = {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    else:
        kwargs["pool_pre_ping"] = True
        # No server-side prepared statements: a generic plan made while `events` was small
        # keeps seq-scanning it for idempotency keys once it is large (appends measured 10x
        # slower at 50k rows); planning each statement costs far less.
        kwargs["connect_args"] = {"connect_timeout": 10, "prepare_threshold": None}
    try:
        engine = sqlalchemy.create_engine(parsed, **kwargs)
    except (NoSuchModuleError, ImportError, ArgumentError) as e:
        raise LedgerUnavailable(f"cannot use database URL {mask_url(parsed)!r}: {e}") from e
    if backend == "sqlite":
        _install_sqlite_hooks(engine)
    try:
        with engine.connect():
            pass
    except DBAPIError as e:
        engine.dispose()
        raise LedgerUnavailable(
            f"cannot connect to {mask_url(parsed)!r}: {_first_line(e.orig)}"
        ) from e
    return engine


def _first_line(exc: BaseException | None) -> str:
    return str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else "error"


def _at_head(engine: Engine) -> bool:
    """Whether the database is at the newest revision already (read without alembic or a lock)."""
    from ledger.migrations import HEAD

    try:
        with engine.connect() as conn:
            found = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    except DBAPIError:
        return False  # no table yet (a new ledger), or unreadable: the full path decides
    return found == [HEAD]


def ensure_schema(engine: Engine) -> None:
    """Migrate the database to the newest revision; a no-op when it is already there.

    Concurrent callers serialise on a lock (SQLite: the write lock of BEGIN IMMEDIATE;
    PostgreSQL: a transaction-scoped advisory lock), so the second one finds the schema at
    head and does nothing.
    """
    if _at_head(engine):
        return
    from ledger.migrations.runner import upgrade_to_head

    try:
        with engine.connect() as conn:
            if conn.dialect.name == "sqlite":
                conn = conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
            with conn.begin():
                if conn.dialect.name == "postgresql":
                    lock = text("SELECT pg_advisory_xact_lock(:k)")
                    conn.execute(lock, {"k": _PG_MIGRATION_LOCK})
                upgrade_to_head(conn)
    except DBAPIError as e:
        raise LedgerUnavailable(
            f"cannot migrate {mask_url(engine.url)!r}: {_first_line(e.orig)}"
        ) from e
