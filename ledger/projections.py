"""Projections: the tables the faces read with indexed queries instead of replaying directives.

- `projection_inbox`: one row per entry of a party's inbox (`lifecycle.inbox`), keyed by
  (owner, directive, seq); the agency inbox reads one owner's rows across every directive.
- `projection_directives`: one row per directive: status, current cycle, the version the rows
  were written at, the current cycle's counts, and what the faces show of it (reference, the
  hash of its definition, its cycles, failed deliveries, the planner's pending actions).
- `projection_works`: one row per (directive, cycle, agency), the work's standing, due dates,
  times, level and hand-overs (`work_rows`; read through `ledger.works`).

All three are written by a writer inside each command's transaction (`Directives.over`), from the
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

from definitions.calendar import WorkingCalendar, deadline_instant, default_calendar
from ledger.definitions_store import definition_sha256, store_definition
from ledger.tables import (
    NON_DIRECTIVE_STREAMS,
    events,
    projection_directives,
    projection_inbox,
    projection_works,
)
from ledger.transaction import Written, write_transaction
from lifecycle.inbox import InboxItem, inbox_items
from lifecycle.planner import pending_actions
from lifecycle.state import DirectiveState, Work
from lifecycle.status import current_cycle

InboxKey = tuple[str, int]  # (owner, seq) within one directive


def directive_row(state: DirectiveState, calendar: WorkingCalendar) -> dict[str, Any]:
    cycle_id = current_cycle(state)
    works = state.cycles[cycle_id].works.values() if cycle_id else ()
    resolved = state.resolved
    return {
        "directive": state.id,
        "status": state.status,
        "current_cycle": cycle_id,
        "version": state.version,
        "works": sum(1 for w in works if w.status != "withdrawn"),
        "completed": sum(1 for w in works if w.completed_at is not None),
        "withdrawn": sum(1 for w in works if w.status == "withdrawn"),
        "last_event_at": state.last_event_at,
        "reference": resolved.definition.reference if resolved is not None else None,
        "definition_sha256": definition_sha256(resolved) if resolved is not None else None,
        "cycles": [[c.id, c.status] for c in state.cycles.values()],  # (JSONB reorders keys)
        "failed_notifications": [
            {"key": n.key, "kind": n.kind, "recipient": n.recipient, "error": n.detail}
            for n in state.notifications.values()
            if n.status == "failed"
        ],
        "pending": [
            {
                "kind": a.kind,
                "agency": a.agency,
                "cycle": a.cycle,
                "due_at": a.due_at.isoformat(),
            }
            for a in pending_actions(state, calendar)
        ],
        "calendar": calendar.fingerprint,
    }


WorkKey = tuple[str, str]  # (cycle, agency) within one directive


def settled_standing(work: Work) -> str:
    """A work's standing as far as it does not depend on the moment asked: "open" while no
    report stands (in progress or overdue: `lifecycle.status.standing_from` decides against
    the deadline when read)."""
    if work.status in ("withdrawn", "transferred"):
        return work.status
    completed = work.completed_at
    if completed is None:
        return "open"
    return "completed_on_time" if completed < deadline_instant(work.due) else "completed_late"


def work_rows(state: DirectiveState) -> dict[WorkKey, dict[str, Any]]:
    """The works projection's rows of a directive: one per work of every cycle."""
    resolved = state.resolved
    tracked = {a.id: (n, a) for n, a in enumerate(resolved.tracked)} if resolved else {}
    rows: dict[WorkKey, dict[str, Any]] = {}
    for cycle in state.cycles.values():
        for agency_id, work in cycle.works.items():
            place, agency = tracked.get(agency_id, (None, None))
            agency_state = state.agencies.get(agency_id)
            done = agency_state.items_done if agency_state is not None else {}
            last = work.extensions[-1] if work.extensions else None
            granted = [x.new_due for x in work.extensions if x.new_due is not None]
            rows[(cycle.id, agency_id)] = {
                "directive": state.id,
                "cycle": cycle.id,
                "agency": agency_id,
                "position": place,
                "name": agency.name if agency is not None else None,
                "role": agency.role if agency is not None else None,
                "work_status": work.status,
                "standing": settled_standing(work),
                "due": cycle.report_due,
                "effective_due": work.due,
                "deadline": deadline_instant(work.due),
                "extension": last.decision if last is not None else None,
                "extended_due": granted[-1] if granted else None,
                "acknowledged_at": agency_state.acknowledged_at if agency_state else None,
                "reported_at": work.reported_at,
                "accepted_at": work.accepted_at,
                "completed_at": work.completed_at,
                "escalation_level": work.escalation_level,
                "reminders": len(work.reminders),
                "items_done": (
                    sum(1 for item in agency.items if item.id in done) if agency else 0
                ),
                "items_assigned": len(agency.items) if agency is not None else 0,
                "transferred_to": list(work.transferred_to),
                "predecessors": list(agency_state.predecessors) if agency_state else [],
                "last_event": work.last_event,
                "last_event_at": work.last_event_at,
                "last_event_version": work.last_event_version,
            }
    return rows


_INBOX_FIELDS = tuple(f.name for f in fields(InboxItem))


def inbox_rows(state: DirectiveState) -> dict[InboxKey, dict[str, Any]]:
    return {
        (item.owner, item.seq): {name: getattr(item, name) for name in _INBOX_FIELDS}
        for item in inbox_items(state)
    }


def _write_directive(
    conn: Connection, state: DirectiveState, calendar: WorkingCalendar, *, redefined: bool = True
) -> None:
    if redefined and state.resolved is not None and state.last_event_at is not None:
        # the definition the row names is stored (one embedded in an old event is not yet)
        store_definition(conn, state.resolved, state.last_event_at)
    conn.execute(delete(projection_directives).where(projection_directives.c.directive == state.id))
    conn.execute(projection_directives.insert().values(**directive_row(state, calendar)))


def _delete_works(conn: Connection, directive: str, keys: list[WorkKey]) -> None:
    for cycle, agency in keys:
        conn.execute(
            delete(projection_works).where(
                and_(
                    projection_works.c.directive == directive,
                    projection_works.c.cycle == cycle,
                    projection_works.c.agency == agency,
                )
            )
        )


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


def write_changes(
    conn: Connection,
    before: DirectiveState,
    after: DirectiveState,
    calendar: WorkingCalendar | None = None,
) -> None:
    """Bring the directive's rows from what `before` says to what `after` says."""
    old, new = inbox_rows(before), inbox_rows(after)
    changed = [k for k, row in new.items() if old.get(k) != row]
    _delete_inbox(
        conn, after.id, [k for k in old if k not in new] + [k for k in changed if k in old]
    )
    if changed:
        conn.execute(projection_inbox.insert(), [new[k] for k in changed])
    old_works, new_works = work_rows(before), work_rows(after)
    moved = [k for k, row in new_works.items() if old_works.get(k) != row]
    _delete_works(
        conn,
        after.id,
        [k for k in old_works if k not in new_works] + [k for k in moved if k in old_works],
    )
    if moved:
        conn.execute(projection_works.insert(), [new_works[k] for k in moved])
    _write_directive(
        conn, after, calendar or default_calendar(), redefined=after.resolved is not before.resolved
    )


def projection_writer(
    calendar: WorkingCalendar | None = None,
) -> Callable[[Connection, Written], None]:
    """The transaction writer that keeps the projections of each command's directive (the
    pending actions planned on `calendar`, by default the working calendar of Vietnam)."""
    calendar = calendar or default_calendar()

    def write(conn: Connection, written: Written) -> None:
        at = conn.execute(
            select(projection_directives.c.version).where(
                projection_directives.c.directive == written.directive
            )
        ).scalar()
        if at is not None and at == written.before.version:
            write_changes(conn, written.before, written.state, calendar)
        else:  # the rows lag (or lead) the state the command was decided on: rewrite them
            replace(conn, written.state, calendar)

    return write


def replace(
    conn: Connection, state: DirectiveState, calendar: WorkingCalendar | None = None
) -> None:
    """Rewrite every row of the directive from `state`."""
    conn.execute(delete(projection_inbox).where(projection_inbox.c.directive == state.id))
    conn.execute(delete(projection_works).where(projection_works.c.directive == state.id))
    rows = list(inbox_rows(state).values())
    if rows:
        conn.execute(projection_inbox.insert(), rows)
    works = list(work_rows(state).values())
    if works:
        conn.execute(projection_works.insert(), works)
    _write_directive(conn, state, calendar or default_calendar())


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
            conn.execute(delete(projection_works))
            conn.execute(delete(projection_directives))
        for stream in names:
            state = directives.load(stream, as_of=None)[1] if directives.exists(stream) else None
            if state is not None:
                replace(conn, state)
    return len(names)


def stale(
    conn: Connection, calendar: WorkingCalendar | None = None, *, after_position: int = 0
) -> list[str]:
    """Directives whose rows lag their stream (or have none), or whose pending actions were
    planned on another calendar than `calendar` (default: Vietnam's working calendar); with
    `after_position`, only among the streams that have events after that position."""
    heads = select(events.c.stream, func.max(events.c.version).label("head")).where(
        events.c.stream.not_in(NON_DIRECTIVE_STREAMS)
    )
    if after_position:
        heads = heads.where(events.c.position > after_position)
    found = {row.stream: row.head for row in conn.execute(heads.group_by(events.c.stream))}
    if not found:
        return []
    fingerprint = (calendar or default_calendar()).fingerprint
    written_query = select(
        projection_directives.c.directive,
        projection_directives.c.version,
        projection_directives.c.calendar,
    )
    if after_position:
        written_query = written_query.where(projection_directives.c.directive.in_(list(found)))
    written: dict[str, int] = {
        row.directive: row.version
        for row in conn.execute(written_query)
        if row.calendar == fingerprint
    }
    return [stream for stream, head in found.items() if written.get(stream) != head]


# engine -> the last event position whose stream `refresh` found current (SQLite only: it has
# one writer, so positions commit in order and nothing can appear below the mark later)
# (and the calendar it was checked against)
_checked_up_to: weakref.WeakKeyDictionary[Engine, tuple[str, int]] = weakref.WeakKeyDictionary()


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
    fingerprint = default_calendar().fingerprint  # another calendar: every stream again
    with engine.connect() as conn:
        top = conn.execute(select(func.max(events.c.position))).scalar() or 0
        mark = _checked_up_to.get(engine) if incremental else None
        since = mark[1] if mark is not None and mark[0] == fingerprint else 0
        if incremental and since and top == since:
            return []
        if top < since:  # fewer events than before: the file was replaced (a restore)
            since = 0
        lagging = stale(conn, after_position=since)
    if lagging:
        rebuild(engine, lagging)
    if incremental:
        _checked_up_to[engine] = (fingerprint, top)
    return lagging


def _stored_rows(rows: Any, key: Callable[[Any], Any]) -> dict[Any, dict[str, Any]]:
    return {key(r): {k: _normal(v) for k, v in r._mapping.items()} for r in rows}


def _differ(stored: dict[Any, Any], want: dict[Any, Any]) -> list[Any]:
    return sorted(k for k in stored.keys() | want.keys() if stored.get(k) != want.get(k))


def _columns(got: dict[str, Any] | None, want: dict[str, Any] | None) -> str:
    if got is None:
        return "missing"
    if want is None:
        return "not in the replay"
    return "column(s) " + ", ".join(k for k in want if got.get(k) != want.get(k))


def check(
    engine: Engine, stream: str | None = None, calendar: WorkingCalendar | None = None
) -> list[ProjectionFault]:
    """The stored rows of each directive written at its stream's head compared with those a
    replay of its events gives (rows at another version are stale, not edited: `refresh`);
    a fault names the directive, the table and the first row that differs."""
    from ledger.directives import Directives

    calendar = calendar or default_calendar()
    directives = Directives.over(engine)
    names = [stream] if stream is not None else directives.ids()
    faults: list[ProjectionFault] = []
    with engine.connect() as conn:
        lagging = set(stale(conn, calendar))
        for name in names:
            if name in lagging:
                continue  # written at another version: rebuilt, not edited (see `refresh`)
            state = directives.load(name)[1]
            want_directive = {k: _normal(v) for k, v in directive_row(state, calendar).items()}
            row = conn.execute(
                select(projection_directives).where(projection_directives.c.directive == name)
            ).first()
            got = {k: _normal(v) for k, v in row._mapping.items()} if row is not None else None
            if got != want_directive:
                faults.append(
                    ProjectionFault(
                        name,
                        "its projection_directives row differs from the replay "
                        f"({_columns(got, want_directive)})",
                    )
                )
            want = inbox_rows(state)
            stored = {
                (r.owner, r.seq): {**r._mapping, "open_report": bool(r.open_report)}
                for r in conn.execute(
                    select(projection_inbox).where(projection_inbox.c.directive == name)
                )
            }
            if stored != want:
                differ = _differ(stored, want)
                faults.append(
                    ProjectionFault(
                        name,
                        f"{len(differ)} projection_inbox row(s) differ from the replay, "
                        f"first {differ[0][0]} #{differ[0][1]} "
                        f"({_columns(stored.get(differ[0]), want.get(differ[0]))})",
                    )
                )
            want_works = {
                k: {c: _normal(v) for c, v in r.items()} for k, r in work_rows(state).items()
            }
            stored_works = _stored_rows(
                conn.execute(select(projection_works).where(projection_works.c.directive == name)),
                lambda r: (r.cycle, r.agency),
            )
            if stored_works != want_works:
                differ = _differ(stored_works, want_works)
                cycle, agency = differ[0]
                faults.append(
                    ProjectionFault(
                        name,
                        f"{len(differ)} projection_works row(s) differ from the replay, "
                        f"first cycle {cycle} agency {agency} "
                        f"({_columns(stored_works.get(differ[0]), want_works.get(differ[0]))})",
                    )
                )
    return faults
