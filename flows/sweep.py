"""The sweeper: every few minutes, no active directive is left without someone on it.

A directive's runs plan its next wake-up themselves; a crashed process, Prefect down at the
wrong moment or a run that failed before it could plan leaves it stalled. The `sweep` flow
(deployment `sweep/sweep`, on an interval schedule, served by `chidao up`) looks at every
active directive in the ledger:

- *overdue*: the planner has actions due more than `grace_seconds` ago and no run of the
  directive is pending or running → it reconciles the directive now (a subflow run of
  `directive`, which also plans the next wake-up);
- *missing*: the planned next wake-up has no scheduled run → it schedules it;
- wake-ups scheduled for any other time (made obsolete by a newer plan) are cancelled, and
  a directive no longer active keeps none;
- *dead*: a run pending or running for more than `stale_seconds` (real time) was left by a
  worker that died without telling the server (SIGKILL, a lost machine): it is marked Crashed
  and no longer counts as someone on the directive.

Its "now" is the business clock: the shared simulated one when CHIDAO_CLOCK_FILE names it,
and then wake-ups are compared and scheduled at the real moment that clock reaches them.

Reconciling twice is harmless (the ledger holds the keys), so the sweeper errs on acting.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow, get_run_logger

from chidao.settings import load_settings
from definitions.calendar import default_calendar
from flows.clock import SystemClock
from flows.directive import directive, reference_of, run_label
from lifecycle import due_actions, next_wakeup
from lifecycle.status import current_cycle
from tasks.runtime import directives_for
from tasks.schedule import (
    SWEPT,
    WakeupInput,
    cancel_obsolete,
    create_wakeup,
    open_runs,
    run_name,
)

SWEEP_INTERVAL = dt.timedelta(minutes=5)
GRACE_SECONDS = 600  # two sweeps: a wake-up's own run gets its chance first
# A run pending or running this long (real time) is taken for dead: its worker or its machine
# went away without telling the server (a SIGKILL, a power cut), so the run stays "Running"
# for ever. A reconciliation takes seconds; the sweeper marks such a run Crashed and acts.
STALE_SECONDS = 1800


def _starts(run: Any) -> dt.datetime | None:
    start = run.expected_start_time or run.next_scheduled_start_time
    return dt.datetime.fromtimestamp(start.timestamp(), tz=dt.UTC) if start is not None else None


def _stale(run: Any, real_now: dt.datetime, stale_seconds: int) -> bool:
    """A pending or running run whose last state change is older than `stale_seconds`."""
    if run.state is None or run.state.is_scheduled():
        return False
    since = run.state.timestamp
    if since is None:
        return False
    moment = dt.datetime.fromtimestamp(since.timestamp(), tz=dt.UTC)
    return (real_now - moment).total_seconds() > stale_seconds


async def _mark_crashed(runs: list[Any]) -> None:
    from prefect.client.orchestration import get_client
    from prefect.states import Crashed

    async with get_client() as client:
        for run in runs:
            await client.set_flow_run_state(
                run.id,
                Crashed(message="no word from its worker: taken for dead by the sweeper"),
                force=True,
            )


@flow(name="sweep", persist_result=False)
async def sweep(
    grace_seconds: int = GRACE_SECONDS, stale_seconds: int = STALE_SECONDS
) -> dict[str, list[str]]:
    """Reconcile every active directive that is overdue; schedule missing wake-ups; cancel
    obsolete ones; a run left pending or running `stale_seconds` by a worker that died is
    marked Crashed. What it did, per directive id. Its "now" is the business clock (the
    shared one when CHIDAO_CLOCK_FILE names it)."""
    logger = get_run_logger()
    settings = load_settings()
    directives = directives_for(settings.resolved_database_url)
    calendar = default_calendar()
    clock = settings.clock()
    now = clock.now()
    real_now = SystemClock().now()
    done: dict[str, list[str]] = {
        "reconciled": [], "scheduled": [], "cancelled": [], "failed": [], "crashed": []
    }
    for directive_id in directives.ids():
        state = directives.state(directive_id)
        runs = await open_runs(directive_id)
        dead = [r for r in runs if _stale(r, real_now, stale_seconds)]
        if dead:
            await _mark_crashed(dead)
            done["crashed"].extend(str(r.id) for r in dead)
            runs = [r for r in runs if r not in dead]
        if state.status != "active":
            if await cancel_obsolete(directive_id, None):
                done["cancelled"].append(directive_id)
            continue
        busy = any(r.state is not None and not r.state.is_scheduled() for r in runs)
        overdue = [
            a for a in due_actions(state, now, calendar)
            if a.due_at <= now - dt.timedelta(seconds=grace_seconds)
        ]
        if overdue and not busy:
            logger.info("%s: %d actions overdue, reconciling", directive_id, len(overdue))
            try:
                await directive(
                    directive_id=directive_id,
                    label=run_name(reference_of(state), current_cycle(state), SWEPT, now),
                )
            except Exception as e:  # its run scheduled its retry; the others still get swept
                logger.warning("%s: the sweep's run failed: %s", directive_id, e)
                done["failed"].append(directive_id)
                continue
            done["reconciled"].append(directive_id)
            continue  # the run planned its own next wake-up and cancelled the obsolete ones
        wake = next_wakeup(state, now, calendar)
        start = clock.wall_time(wake) if wake is not None else None
        starts = [_starts(r) for r in runs if r.state is not None and r.state.is_scheduled()]
        if (
            wake is not None
            and start is not None
            and not any(s is not None and abs((s - start).total_seconds()) < 1 for s in starts)
        ):
            upcoming = [a for a in due_actions(state, wake, calendar) if a.due_at == wake]
            await create_wakeup(
                WakeupInput(
                    directive=directive_id,
                    at=wake,
                    label=run_label(state, upcoming[0] if upcoming else None, wake),
                    start=start if settings.clock_file is not None else None,
                )
            )
            done["scheduled"].append(directive_id)
        if await cancel_obsolete(directive_id, start):
            done["cancelled"].append(directive_id)
    logger.info("sweep at %s: %s", now.isoformat(), done)
    return done
