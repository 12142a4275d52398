"""Shared fixtures of the lifecycle tests: the resolved definitions and a driver of planner actions."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from definitions.calendar import TIMEZONE, default_calendar
from definitions.loader import DIRECTIVES_DIR, load_definition, load_directory
from definitions.resolve import ResolvedDirective, resolve
from ledger.db import ensure_schema, make_engine
from ledger.directives import Directives
from lifecycle import DirectiveState, PerformAction, apply, decide, due_actions, next_wakeup
from lifecycle.commands import OPERATOR, SYSTEM, Issue

D2810 = DIRECTIVES_DIR / "qn-2810-ubnd-kgvx-2023.yaml"
D5185 = DIRECTIVES_DIR / "qn-5185-ubnd-kgvx-2021.yaml"


def resolved(path: Path = D2810) -> ResolvedDirective:
    directory = load_directory()
    return resolve(load_definition(path, directory), directory)


def at(year: int, month: int, day: int, hour: int = 9) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=TIMEZONE)


def run_due(state: DirectiveState, now: dt.datetime) -> list[str]:
    """Perform every action due at `now` on `state` in place; the keys performed."""
    done: list[str] = []
    while True:
        actions = due_actions(state, now, default_calendar())
        if not actions:
            return done
        for action in actions:
            for event in decide(state, PerformAction(actor=SYSTEM, action=action), now):
                apply(state, event)
            done.append(action.key)


def advance(state: DirectiveState, until: dt.datetime) -> list[str]:
    """Jump from one wake-up to the next up to `until`, performing what falls due."""
    done = run_due(state, state.last_event_at or until)
    while True:
        wake = next_wakeup(state, state.last_event_at or until, default_calendar())
        if wake is None or wake > until:
            return done
        done.extend(run_due(state, wake))


def issued_ledger(url: str, *, when: dt.datetime | None = None) -> Directives:
    """A migrated ledger at `url` holding 2810, issued (at 20/06/2023 09:00 by default)."""
    engine = make_engine(url)
    ensure_schema(engine)
    directives = Directives.over(engine)
    directives.execute(
        "qn-2810-ubnd-kgvx-2023",
        Issue(actor=OPERATOR, resolved=resolved().model_dump(mode="json")),
        when or at(2023, 6, 20),
        key="issue",
    )
    return directives
