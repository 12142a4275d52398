"""The task that sets the directive's next wake-up: a future flow run, visible in the Prefect UI.

The idempotency key `<directive>-<wake-up>` makes every run that plans the same wake-up
create the same one run.
"""

from __future__ import annotations

import datetime as dt

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.deployments.flow_runs import arun_deployment
from pydantic import BaseModel, ConfigDict

DIRECTIVE_DEPLOYMENT = "directive/directive"


class WakeupInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    directive: str
    at: dt.datetime
    label: str
    deployment: str = DIRECTIVE_DEPLOYMENT


def wakeup_key(directive: str, at: dt.datetime) -> str:
    return f"{directive}-{at.astimezone(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}"


@task(name="schedule-wakeup", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
async def schedule_wakeup(inp: WakeupInput) -> str:
    run = await arun_deployment(
        name=inp.deployment,
        parameters={"directive_id": inp.directive, "label": inp.label},
        scheduled_time=inp.at,
        flow_run_name=inp.label,
        timeout=0,
        idempotency_key=wakeup_key(inp.directive, inp.at),
        tags=[f"directive:{inp.directive}"],
        as_subflow=False,
    )
    return str(run.id)
