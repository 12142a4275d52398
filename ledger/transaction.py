"""The write transaction: one database transaction per command, holding everything it writes.

A command's events, the outbox rows of the action it records, and the caches derived from
the state after it (snapshots, projections) are written by one transaction, or none of them
is. `write_transaction(engine)` opens it (on SQLite with BEGIN IMMEDIATE, so racing writers
queue on the write lock; on PostgreSQL under READ COMMITTED); `Directives.execute` decides
and appends on it, then calls every *writer* with what was written:

- writers registered on `Directives` (`Directives.add_writer`) run for every command that
  records events: that is where the snapshot and the projection rows go;
- writers given to one `execute` call (`writers=`) run for that command only: that is where
  an action's outbox rows go (`notifications.outbox.Outbox.writer`).

A writer is `writer(conn, written) -> None`. It writes on `conn` only, never commits, and
raises to abort the whole command. It is not called when the command records nothing (a
repeated key, or a decision with no events). `Faults` is the test hook of the crash tests:
the code calls `faults(point)` at each named boundary, and a test's hook raises there to
stop the process as a crash would (see tests/flows/test_faults.py); it is None in service.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from ledger.db import SQLITE_BEGIN_OPTION

if TYPE_CHECKING:
    from ledger.store import StoredEvent
    from lifecycle import DirectiveState

# A crash-test hook: called with the name of each boundary crossed; None in service.
Faults = Callable[[str], None] | None


def reach(faults: Faults, point: str) -> None:
    """Tell the crash-test hook (if any) that `point` is reached."""
    if faults is not None:
        faults(point)


def prefixed(faults: Faults, prefix: str) -> Faults:
    """The same hook, told `prefix + point`: names the step a shared boundary belongs to
    (`perform.execute.appended` vs `record.execute.appended`)."""
    if faults is None:
        return None
    hook = faults
    return lambda point: hook(prefix + point)


@dataclass(frozen=True)
class Written:
    """What one command wrote, handed to each writer inside its transaction."""

    directive: str
    key: str  # the command's idempotency key (its first event's key)
    events: list[StoredEvent]  # as stored, in version order
    before: DirectiveState  # the state the command was decided on
    state: DirectiveState  # the state after its events


Writer = Callable[[Connection, Written], None]


def write_connection(conn: Connection) -> Connection:
    """`conn` set to take the write lock at BEGIN on SQLite (a no-op on PostgreSQL)."""
    if conn.dialect.name == "sqlite":
        return conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
    return conn


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A connection inside a write transaction: committed when the block ends, rolled back
    when it raises."""
    with engine.connect() as raw, write_connection(raw) as conn, conn.begin():
        yield conn
