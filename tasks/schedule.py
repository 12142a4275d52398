"""The task that sets the directive's next wake-up: a future flow run, visible in the Prefect UI.

The idempotency key `<directive>-<wake-up>` makes every run that plans the same wake-up
create the same one run (`<directive>-mail-<time>` for a mail retry).

Every run of the directive flow is named by one pattern, `run_name`:
`<số/ký hiệu> · <kỳ> · <việc> · <dd/mm/yyyy HH:MM>` in Asia/Ho_Chi_Minh, e.g.
`2810/UBND-KGVX · 2023 · nhắc hạn · 30/11/2023 08:00` (the time to the second when the run is
not on a whole minute, as a run woken by an agency's call), so each wake-up has a name of its
own and says what it is for.
"""

from __future__ import annotations

import datetime as dt

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.deployments.flow_runs import arun_deployment
from pydantic import BaseModel, ConfigDict

from definitions.calendar import TIMEZONE

DIRECTIVE_DEPLOYMENT = "directive/directive"
SEPARATOR = " · "
MAIL_RETRY = "gửi lại thư"  # a run that only tries the outbox again
AGENCY_ANSWERED = "cơ quan phản hồi"  # a run woken by an agency's call
ISSUED = "ban hành"  # the first run after launch


def run_name(reference: str, cycle: str | None, action: str | None, at: dt.datetime) -> str:
    """The one pattern of run names (see the module's docstring)."""
    local = at.astimezone(TIMEZONE)
    when = local.strftime("%d/%m/%Y %H:%M:%S" if local.second else "%d/%m/%Y %H:%M")
    return SEPARATOR.join(p for p in (reference, cycle, action, when) if p)


def mail_retry_key(directive: str, at: dt.datetime) -> str:
    return f"{directive}-mail-{at.astimezone(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}"


class WakeupInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    directive: str
    at: dt.datetime
    label: str
    deployment: str = DIRECTIVE_DEPLOYMENT
    key: str | None = None  # the idempotency key; default `wakeup_key(directive, at)`


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
        idempotency_key=inp.key or wakeup_key(inp.directive, inp.at),
        tags=[f"directive:{inp.directive}"],
        as_subflow=False,
    )
    return str(run.id)
