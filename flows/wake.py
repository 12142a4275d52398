"""Waking a directive when an agency acts: a run of its flow, created at once and coalesced.

The run is scheduled at the next whole second with an idempotency key for that second, so a
burst of calls within it makes one run, which starts after all of them are recorded. If
Prefect cannot be reached the call still succeeded (the ledger has it) and the next run
catches up; this function then returns None.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import math

from prefect.deployments.flow_runs import arun_deployment

from flows.clock import SystemClock
from lifecycle.status import current_cycle
from tasks.runtime import directives_for
from tasks.schedule import AGENCY_ANSWERED, DIRECTIVE_DEPLOYMENT, run_name

logger = logging.getLogger(__name__)


def coalescing_slot(now: dt.datetime) -> dt.datetime:
    """The next whole second after `now`."""
    return dt.datetime.fromtimestamp(math.floor(now.timestamp()) + 1, tz=dt.UTC)


def _named(directive_id: str, database_url: str | None) -> tuple[str, str | None]:
    """The directive's reference and current cycle, for the run's name (its id if unreadable)."""
    if database_url is None:
        return directive_id, None
    try:
        state = directives_for(database_url).state(directive_id)
        reference = state.definition.definition.reference if state.resolved else directive_id
        return reference, current_cycle(state)
    except Exception as e:  # the name is a courtesy; the wake-up matters
        logger.warning("could not read %s for its run's name: %s", directive_id, e)
        return directive_id, None


async def wake_directive(
    directive_id: str,
    *,
    reason: str = AGENCY_ANSWERED,
    now: dt.datetime | None = None,
    database_url: str | None = None,
    business: dt.datetime | None = None,
) -> str | None:
    """A run of the directive at the next whole second, named `run_name(...)` like every run
    (at the business time `business` when a shared simulated clock gives one)."""
    slot = coalescing_slot(now or SystemClock().now())
    reference, cycle = await asyncio.to_thread(_named, directive_id, database_url)
    label = run_name(reference, cycle, reason, business or slot)
    try:
        run = await arun_deployment(
            name=DIRECTIVE_DEPLOYMENT,
            parameters={"directive_id": directive_id, "label": label},
            scheduled_time=slot,
            flow_run_name=label,
            timeout=0,
            idempotency_key=f"{directive_id}-wake-{slot.strftime('%Y%m%dT%H%M%S')}",
            tags=[f"directive:{directive_id}"],
            as_subflow=False,
        )
    except (
        Exception
    ) as e:  # Prefect down or the deployment missing: the ledger already has the event
        logger.warning("could not wake %s through Prefect: %s", directive_id, e)
        return None
    return str(run.id)
