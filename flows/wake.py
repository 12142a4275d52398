"""Waking a directive when an agency acts: a run of its flow, created at once and coalesced.

The run is scheduled at the next whole second with an idempotency key for that second, so a
burst of calls within it makes one run, which starts after all of them are recorded. If
Prefect cannot be reached the call still succeeded (the ledger has it) and the next run
catches up; this function then returns None.
"""

from __future__ import annotations

import datetime as dt
import logging
import math

from prefect.deployments.flow_runs import arun_deployment

from flows.clock import SystemClock
from tasks.schedule import DIRECTIVE_DEPLOYMENT

logger = logging.getLogger(__name__)


def coalescing_slot(now: dt.datetime) -> dt.datetime:
    """The next whole second after `now`."""
    return dt.datetime.fromtimestamp(math.floor(now.timestamp()) + 1, tz=dt.UTC)


async def wake_directive(
    directive_id: str, *, reason: str = "", now: dt.datetime | None = None
) -> str | None:
    slot = coalescing_slot(now or SystemClock().now())
    label = f"{directive_id} · {reason}" if reason else directive_id
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
