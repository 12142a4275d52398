"""Projections: the tables the faces read with indexed queries instead of replaying directives.

- `projection_inbox`: one row per entry of a party's inbox (`lifecycle.inbox`), keyed by
  (owner, directive, seq); the agency inbox reads one owner's rows across every directive.
- `projection_directives`: one row per directive: status, current cycle, the version the rows
  were written at, and the current cycle's counts.

Both are written by a writer inside each command's transaction (`Directives.over`), from the
state before and after the command: only rows that changed are written. They are caches:
`rebuild` recomputes them from the events (`chidao projections rebuild`), a directive whose
rows lag its stream (written by something that bypassed the writers) is rebuilt when the
inbox is read, and `check` (run by `chidao verify`) compares them with a replay.
"""

from __future__ import annotations

import datetime as dt
import weakref
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import Engine, and_, delete, func, or_, select
from sqlalchemy.engine import Connection

from ledger.tables import NON_DIRECTIVE_STREAMS, events, projection_directives, projection_inbox
from ledger.transaction import Written, write_transaction
from lifecycle.inbox import InboxItem, inbox_items
from lifecycle.state import DirectiveState
from lifecycle.status import current_cycle

InboxKey = tuple[str, int]  # (owner, seq) within one directive


def directive_row(state: DirectiveState) -> dict[str, Any]:
    cycle_id = current_cycle(state)
    works = state.cycles[cycle_id].works.values() if cycle_id else ()
    return {
        "directive": state.id,
        "status": state.status,
        "current_cycle": cycle_id,
        "version": state.version,
        "works": sum(1 for w in works if w.status != "withdrawn"),
        "completed": sum(1 for w in works if w.completed_at is not None),
        "withdrawn": sum(1 for w in works if w.status == "withdrawn"),
        "last_event_at": state.last_event_at,
    }


_INBOX_FIELDS = tuple(f.name for f in fields(InboxItem))


def inbox_rows(state: DirectiveState) -> dict[InboxKey, dict[str, Any]]:
    return {
        (item.owner, item.seq): {name: getattr(item, name) for name in _INBOX_FIELDS}
        for item in inbox_items(state)
    }


def _write_directive(conn: Connection, state: DirectiveState) -> None:
    conn.execute(delete(projection_directives).where(projection_directives.c.directive == state.id))
    conn.execute(projection_directives.insert().values(**directive_row(state)))


def _delete_inbox(conn: Connection, directive: str, keys: list[InboxKey]) -> None:
    for owner, seq in keys:
        conn.execute(
            delete(projection_inbox).where(
                and_(
                    projection_inbox.c.directive == directive,
                    projection_inbox.c.owner == owner,
                    projection_inbox.c.seq == seq,
                )
            )
        )


def write_changes(conn: Connection, before: DirectiveState, after: DirectiveState) -> None:
    """Bring the directive's rows from what `before` says to what `after` says."""
    old, new = inbox_rows(before), inbox_rows(after)
    changed = [k for k, row in new.items() if old.get(k) != row]
    _delete_inbox(
        conn, after.id, [k for k in old if k not in new] + [k for k in changed if k in old]
    )
    if changed:
        conn.execute(projection_inbox.insert(), [new[k] for k in changed])
    _write_directive(conn, after)


def projection_writer() -> Callable[[Connection, Written], None]:
    """The transaction writer that keeps the projections of each command's directive."""

    def write(conn: Connection, written: Written) -> None:
        at = conn.execute(
            select(projection_directives.c.version).where(
                projection_directives.c.directive == written.directive
            )
        ).scalar()
        if at is not None and at == written.before.version:
            write_changes(conn, written.before, written.state)
        else:  # the rows lag (or lead) the state the command was decided on: rewrite them
            replace(conn, written.state)

    return write


def replace(conn: Connection, state: DirectiveState) -> None:
    """Rewrite every row of the directive from `state`."""
    conn.execute(delete(projection_inbox).where(projection_inbox.c.directive == state.id))
    rows = list(inbox_rows(state).values())
    if rows:
        conn.execute(projection_inbox.insert(), rows)
    _write_directive(conn, state)


def rebuild(engine: Engine, streams: list[str] | None = None) -> int:
    """Recompute the projections of `streams` (default: every directive, and rows of streams
    that no longer exist dropped) from a replay of their events; how many were rebuilt."""
    from ledger.directives import Directives

    directives = Directives.over(engine)
    every = streams is None
    names = directives.ids() if streams is None else streams
    with write_transaction(engine) as conn:
        if every:
            conn.execute(delete(projection_inbox))
            conn.execute(delete(projection_directives))
        for stream in names:
            state = directives.load(stream, as_of=None)[1] if directives.exists(stream) else None
            if state is not None:
                replace(conn, state)
    return len(names)


def stale(conn: Connection, *, after_position: int = 0) -> list[str]:
    """Directives whose rows lag their stream (or have none); with `after_position`, only
    among the streams that have events after that position (those written since)."""
    heads = select(events.c.stream, func.max(events.c.version).label("head")).where(
        events.c.stream.not_in(NON_DIRECTIVE_STREAMS)
    )
    if after_position:
        heads = heads.where(events.c.position > after_position)
    found = {row.stream: row.head for row in conn.execute(heads.group_by(events.c.stream))}
    if not found:
        return []
    written_query = select(projection_directives.c.directive, projection_directives.c.version)
    if after_position:
        written_query = written_query.where(projection_directives.c.directive.in_(list(found)))
    written: dict[str, int] = {row.directive: row.version for row in conn.execute(written_query)}
    return [stream for stream, head in found.items() if written.get(stream) != head]


# engine -> the last event position whose stream `refresh` found current (SQLite only: it has
# one writer, so positions commit in order and nothing can appear below the mark later)
_checked_up_to: weakref.WeakKeyDictionary[Engine, int] = weakref.WeakKeyDictionary()


def read_inbox(
    engine: Engine, owner: str, *, after: tuple[str, int] | None = None, limit: int | None = None
) -> list[InboxItem]:
    """`owner`'s inbox entries across every active directive, by directive then place; with
    `after` (directive, seq), those after that entry; at most `limit` of them."""
    refresh(engine)
    query = (
        select(
            projection_inbox.c.directive,
            projection_inbox.c.owner,
            projection_inbox.c.seq,
            projection_inbox.c.kind,
            projection_inbox.c.agency,
            projection_inbox.c.cycle,
            projection_inbox.c.due,
            projection_inbox.c.detail,
            projection_inbox.c.open_report,
        )
        .join(
            projection_directives,
            projection_directives.c.directive == projection_inbox.c.directive,
        )
        .where(projection_inbox.c.owner == owner, projection_directives.c.status == "active")
    )
    if after is not None:
        directive, seq = after
        query = query.where(
            or_(
                projection_inbox.c.directive > directive,
                and_(projection_inbox.c.directive == directive, projection_inbox.c.seq > seq),
            )
        )
    query = query.order_by(projection_inbox.c.directive, projection_inbox.c.seq)
    if limit is not None:
        query = query.limit(limit)
    with engine.connect() as conn:
        return [
            InboxItem(
                directive=directive,
                owner=owner_,
                seq=seq,
                kind=kind,
                agency=agency,
                cycle=cycle,
                due=due,
                detail=detail,
                open_report=bool(open_report),
            )
            for directive, owner_, seq, kind, agency, cycle, due, detail, open_report in (
                conn.execute(query)
            )
        ]


@dataclass(frozen=True)
class ProjectionFault:
    directive: str
    message: str


def _normal(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC)
    return value


def refresh(engine: Engine) -> list[str]:
    """Rebuild the directives whose rows were written at another version than their stream's
    head (a write that bypassed the writers, or events restored from a backup); their ids.

    On SQLite only the streams written since the last refresh in this process are looked at
    (the events after the position it reached): a read costs what was written since, not the
    size of the ledger. PostgreSQL assigns positions before commit, so a transaction may
    commit below the mark: there every stream is looked at, every time."""
    incremental = engine.dialect.name == "sqlite"
    with engine.connect() as conn:
        top = conn.execute(select(func.max(events.c.position))).scalar() or 0
        since = _checked_up_to.get(engine, 0) if incremental else 0
        if incremental and top == since:
            return []
        if top < since:  # fewer events than before: the file was replaced (a restore)
            since = 0
        lagging = stale(conn, after_position=since)
    if lagging:
        rebuild(engine, lagging)
    if incremental:
        _checked_up_to[engine] = top
    return lagging


def check(engine: Engine, stream: str | None = None) -> list[ProjectionFault]:
    """The stored rows of each directive written at its stream's head compared with those a
    replay of its events gives (rows at another version are stale, not edited: `refresh`)."""
    from ledger.directives import Directives

    directives = Directives.over(engine)
    names = [stream] if stream is not None else directives.ids()
    faults: list[ProjectionFault] = []
    with engine.connect() as conn:
        lagging = set(stale(conn))
        for name in names:
            if name in lagging:
                continue  # written at another version: rebuilt, not edited (see `refresh`)
            state = directives.load(name)[1]
            want_directive = directive_row(state)
            row = conn.execute(
                select(projection_directives).where(projection_directives.c.directive == name)
            ).first()
            got = {k: _normal(v) for k, v in row._mapping.items()} if row is not None else None
            if got != {k: _normal(v) for k, v in want_directive.items()}:
                faults.append(
                    ProjectionFault(name, "its projection_directives row differs from the replay")
                )
            want = {k: r for k, r in inbox_rows(state).items()}
            stored = {
                (r.owner, r.seq): {**r._mapping, "open_report": bool(r.open_report)}
                for r in conn.execute(
                    select(projection_inbox).where(projection_inbox.c.directive == name)
                )
            }
            if stored != want:
                differ = sorted(
                    {k for k in stored.keys() | want.keys() if stored.get(k) != want.get(k)}
                )
                faults.append(
                    ProjectionFault(
                        name,
                        f"{len(differ)} projection_inbox row(s) differ from the replay, "
                        f"first {differ[0][0]} #{differ[0][1]}",
                    )
                )
    return faults
