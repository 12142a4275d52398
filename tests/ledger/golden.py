"""What a ledger means, as plain JSON: the golden expectation the old-format fixture is held to.

`golden(url)` reads a ledger through the public read path (`Directives`), and for every
stream gives its event counts, the state its replay leads to (the status table of every
cycle and the lifecycle facts behind it), and what the planner says — due actions and the
next wake-up — at several instants over the prefix of events recorded by then. `verify`'s
result is part of it. Written once by the code of 2026-12-01 into `ledger-v1.golden.json`;
every later version must produce the same JSON from the same file.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

from definitions.calendar import TIMEZONE, default_calendar
from ledger.db import make_engine
from ledger.directives import Directives, replay_stored
from ledger.store import StoredEvent
from ledger.verify import verify
from lifecycle import DirectiveState, agency_rows, due_actions, next_wakeup, pending_actions

# Instants (Asia/Ho_Chi_Minh; 08:00 ones are wake-ups) at which the planner is asked, per directive.
INSTANTS: dict[str, list[str]] = {
    "qn-5185-ubnd-kgvx-2021": [
        "2021-10-05T12:00", "2021-10-20T12:00", "2021-11-01T08:00", "2021-11-10T12:00",
        "2021-11-12T08:00", "2021-11-22T08:00", "2021-11-30T08:00", "2021-11-16T12:00",
        "2021-11-20T12:00", "2021-11-26T12:00", "2021-12-02T12:00", "2021-12-10T12:00",
        "2022-01-10T12:00",
    ],
    "qn-2810-ubnd-kgvx-2023": [
        "2023-06-20T12:00", "2023-07-15T12:00", "2023-10-01T12:00", "2023-11-15T12:00",
        "2023-11-16T08:00", "2023-12-01T08:00", "2023-12-07T08:00", "2023-12-14T08:00",
        "2023-11-30T12:00", "2023-12-05T12:00", "2023-12-12T12:00", "2023-12-20T12:00",
        "2024-01-10T12:00", "2024-03-01T12:00",
    ],
}


def _iso(moment: dt.datetime | dt.date | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=TIMEZONE)


def state_summary(state: DirectiveState) -> dict[str, Any]:
    """The lifecycle facts of a replayed state, in plain JSON."""
    cycles: dict[str, Any] = {}
    for cycle_id, cycle in state.cycles.items():
        cycles[cycle_id] = {
            "status": cycle.status,
            "report_due": _iso(cycle.report_due),
            "consolidation_due": _iso(cycle.consolidation_due),
            "opened_at": _iso(cycle.opened_at),
            "consolidation_requested_at": _iso(cycle.consolidation_requested_at),
            "consolidated_at": _iso(cycle.consolidated_at),
            "closed_at": _iso(cycle.closed_at),
            "consolidation_reminders": len(cycle.consolidation_reminders),
            "consolidation_escalation_level": cycle.consolidation_escalation_level,
            "works": {
                agency: {
                    "status": work.status,
                    "due": _iso(work.due),
                    "reported_at": _iso(work.reported_at),
                    "accepted_at": _iso(work.accepted_at),
                    "escalation_level": work.escalation_level,
                    "reminders": len(work.reminders),
                    "extensions": [
                        [x.decision, _iso(x.proposed_due), _iso(x.new_due)]
                        for x in work.extensions
                    ],
                }
                for agency, work in sorted(cycle.works.items())
            },
        }
    return {
        "status": state.status,
        "version": state.version,
        "issued_at": _iso(state.issued_at),
        "closed_at": _iso(state.closed_at),
        "agencies": {
            agency_id: {
                "notified_at": _iso(a.notified_at),
                "acknowledged_at": _iso(a.acknowledged_at),
                "items_done": sorted(a.items_done),
                "withdrawn_at": _iso(a.withdrawn_at),
            }
            for agency_id, a in sorted(state.agencies.items())
        },
        "cycles": cycles,
        "notifications": dict(Counter(n.status for n in state.notifications.values())),
    }


def _rows(state: DirectiveState, now: dt.datetime) -> dict[str, Any]:
    return {
        cycle_id: [row.model_dump(mode="json") for row in agency_rows(state, cycle_id, now)]
        for cycle_id in state.cycles
    }


def planner_at(events: list[StoredEvent], now: dt.datetime) -> dict[str, Any]:
    """What the planner says at `now` over the events recorded before `now` (business time)."""
    prefix = [e for e in events if e.business_time < now]
    state = replay_stored(prefix)
    calendar = default_calendar()
    due = due_actions(state, now, calendar) if prefix else []
    wake = next_wakeup(state, now, calendar) if prefix else None
    return {
        "events": len(prefix),
        "due": [[a.key, a.due_at.isoformat()] for a in due],
        "next_wakeup": _iso(wake),
        "rows": _rows(state, now) if prefix else {},
    }


def golden(url: str) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        directives = Directives.over(engine)
        streams: dict[str, Any] = {}
        for stream in directives.ids():
            events, state = directives.load(stream)
            last = events[-1].business_time
            streams[stream] = {
                "events": len(events),
                "types": dict(sorted(Counter(e.type for e in events).items())),
                "head": events[-1].hash,
                "keys": [e.idempotency_key for e in events],
                "state": state_summary(state),
                "rows_at_end": _rows(state, last),
                "pending_actions": [a.key for a in pending_actions(state, default_calendar())],
                "planner": {
                    text: planner_at(events, _instant(text)) for text in INSTANTS.get(stream, [])
                },
            }
        faults = verify(engine)
        return {
            "streams": streams,
            "verify": [[f.stream, f.version, f.kind] for f in faults],
        }
    finally:
        engine.dispose()
