"""Benchmark of the planner over many directives of many agencies, against iterating the agencies.

One directive like 2810 but tracking --agencies agencies (its definition's agencies copied
under new ids) is driven by the lifecycle through its first cycle: issuance notices,
acknowledgements, reminders, half the agencies reporting, escalations of the others after
the due date. Its state is copied --directives times. Then, in the same run:

  baseline  iterating every agency's work of every cycle of every state (reading its due date);
  plan      `lifecycle.planner.plan` (the due actions and the next wake-up, one pass) per state,
            with a fresh calendar, so indexing the years is counted;
  two calls `due_actions` then `next_wakeup` per state, as a flow calls them.

    .venv/bin/python bench/planner_bench.py                 # 1,000 directives × 50 agencies
    .venv/bin/python bench/planner_bench.py --directives 100
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from definitions.calendar import TIMEZONE, WorkingCalendar, default_calendar, load_overrides
from definitions.loader import DIRECTIVES_DIR, load_definition, load_directory
from definitions.resolve import ResolvedDirective, resolve
from lifecycle import DirectiveState, PerformAction, apply, decide, due_actions, next_wakeup
from lifecycle import commands as c
from lifecycle.commands import OPERATOR, SYSTEM
from lifecycle.planner import plan

DEFINITION = DIRECTIVES_DIR / "qn-2810-ubnd-kgvx-2023.yaml"


def at(year: int, month: int, day: int, hour: int = 9) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=TIMEZONE)


def wide_definition(agencies: int) -> ResolvedDirective:
    """2810 resolved, its tracked agencies copied until there are `agencies` of them."""
    directory = load_directory()
    resolved = resolve(load_definition(DEFINITION, directory), directory)
    reporting = [a for a in resolved.tracked if a.reports and a.role != "requested"]
    tracked = list(resolved.tracked)
    n = 0
    while len(tracked) < agencies:
        model = reporting[n % len(reporting)]
        tracked.append(model.model_copy(update={"id": f"{model.id}-{n:03d}"}))
        n += 1
    return resolved.model_copy(update={"tracked": tuple(tracked[:agencies])})


def drive(state: DirectiveState, command: c.AnyCommand, when: dt.datetime) -> None:
    last = state.last_event_at  # business time never goes back
    for event in decide(state, command, max(when, last) if last else when):
        apply(state, event)


def run_until(state: DirectiveState, until: dt.datetime) -> None:
    calendar = default_calendar()
    now = state.last_event_at
    assert now is not None
    while True:
        while due := due_actions(state, now, calendar):
            for action in due:
                drive(state, PerformAction(actor=SYSTEM, action=action), now)
        wake = next_wakeup(state, now, calendar)
        if wake is None or wake > until:
            return
        now = wake


def first_cycle(resolved: ResolvedDirective) -> DirectiveState:
    state = DirectiveState()
    drive(state, c.Issue(actor=OPERATOR, resolved=resolved.model_dump(mode="json")), at(2023, 6, 20))
    agencies = [a.id for a in resolved.tracked if a.reports]
    for i, agency in enumerate(agencies):
        drive(state, c.Acknowledge(actor=agency, agency=agency), at(2023, 6, 21 + i % 7))
    run_until(state, at(2023, 11, 10))
    for i, agency in enumerate(agencies[::2]):
        drive(
            state,
            c.SubmitReport(actor=agency, agency=agency, cycle="2023", text="Báo cáo"),
            at(2023, 11, 10 + i % 15),
        )
    run_until(state, at(2023, 12, 8))
    return state


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--directives", type=int, default=1000)
    parser.add_argument("--agencies", type=int, default=50)
    args = parser.parse_args()

    resolved = wide_definition(args.agencies)
    one = first_cycle(resolved)
    states = [copy.deepcopy(one) for _ in range(args.directives)]
    now = at(2023, 12, 8, 12)
    works = sum(len(cy.works) for cy in one.cycles.values())
    print(
        f"{args.directives} directives × {len(resolved.tracked)} agencies "
        f"({works} works each, {one.version} events each), now {now.isoformat()}"
    )

    started = time.perf_counter()
    touched = 0
    for state in states:
        for cycle in state.cycles.values():
            for work in cycle.works.values():
                touched += work.due.toordinal() > 0
    baseline = time.perf_counter() - started

    overrides = load_overrides()
    calendar = WorkingCalendar(overrides.days_off, overrides.working_days)
    started = time.perf_counter()
    due = wakes = 0
    for state in states:
        found = plan(state, now, calendar)
        due += len(found.due)
        wakes += found.next_wakeup is not None
    one_pass = time.perf_counter() - started

    calendar = WorkingCalendar(overrides.days_off, overrides.working_days)
    started = time.perf_counter()
    for state in states:
        due_actions(state, now, calendar)
        next_wakeup(state, now, calendar)
    two_calls = time.perf_counter() - started

    print(f"baseline: iterating {touched} agency works      {baseline * 1000:9.1f} ms")
    print(
        f"plan (one pass): {due} actions due, {wakes} wake-ups {one_pass * 1000:9.1f} ms"
        f"  ({one_pass / baseline:.0f}× baseline)"
    )
    print(
        f"due_actions + next_wakeup                 {two_calls * 1000:9.1f} ms"
        f"  ({two_calls / baseline:.0f}× baseline)"
    )
    print(f"goal < 1 s: {'met' if one_pass < 1 else 'NOT met'} (plan)")


if __name__ == "__main__":
    main()
