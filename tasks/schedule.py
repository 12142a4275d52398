"""The task that sets the directive's next wake-up: a future flow run, visible in the Prefect UI.

The idempotency key `<directive>-<wake-up>` makes every run that plans the same wake-up
create the same one run. Wake-ups carry the tags `directive:<id>` and `wakeup`, so a newer
plan finds and cancels the ones it made obsolete (`cancel_obsolete`); a run that failed
schedules a `retry` wake-up of its own (`schedule_retry`), and the sweeper (`flows.sweep`)
reads the open runs of a directive (`open_runs`) to see whether anyone is on it. A mail retry
is a run of its own (`schedule_mail_retry`, keyed `<directive>-mail-<time>`, tagged
`mail-retry`, not `wakeup`: a newer plan leaves it be).

Every run of the directive flow is named by one pattern, `run_name`:
`<số/ký hiệu> · <kỳ> · <việc> · <dd/mm/yyyy HH:MM>` in Asia/Ho_Chi_Minh, e.g.
`2810/UBND-KGVX · 2023 · nhắc hạn · 30/11/2023 08:00` (the time to the second when the run is
not on a whole minute, as a run woken by an agency's call), so each wake-up has a name of its
own and says what it is for.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.deployments.flow_runs import arun_deployment
from pydantic import BaseModel, ConfigDict

from definitions.calendar import TIMEZONE

DIRECTIVE_DEPLOYMENT = "directive/directive"
WAKEUP_TAG = "wakeup"
RETRY_TAG = "retry"
MAIL_RETRY_TAG = "mail-retry"
SEPARATOR = " · "
MAIL_RETRY = "gửi lại thư"  # a run that only tries the outbox again
AGENCY_ANSWERED = "cơ quan phản hồi"  # a run woken by an agency's call
ISSUED = "ban hành"  # the first run after launch
SWEPT = "rà soát"  # a run the sweeper started for a directive with overdue work


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
    # Under a shared simulated clock: the real moment that clock reaches `at`, when the run is
    # scheduled; the run is then given `at` as its business time. None: the run starts at `at`.
    start: dt.datetime | None = None


def wakeup_key(directive: str, at: dt.datetime) -> str:
    return f"{directive}-{at.astimezone(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}"


def directive_tag(directive: str) -> str:
    return f"directive:{directive}"


async def _create(inp: WakeupInput, key: str, tags: list[str]) -> Any:
    parameters: dict[str, Any] = {"directive_id": inp.directive, "label": inp.label}
    if inp.start is not None:
        parameters["at"] = inp.at
    return await arun_deployment(
        name=inp.deployment,
        parameters=parameters,
        scheduled_time=inp.start or inp.at,
        flow_run_name=inp.label,
        timeout=0,
        idempotency_key=key,
        tags=[directive_tag(inp.directive), *tags],
        as_subflow=False,
    )


async def create_wakeup(inp: WakeupInput, *, tags: tuple[str, ...] = ()) -> str:
    """The scheduled run for `inp.at`: created once per wake-up; if that one was cancelled
    (a plan that changed and came back), a new one."""
    key = wakeup_key(inp.directive, inp.at)
    run = await _create(inp, key, [WAKEUP_TAG, *tags])
    if run.state is not None and run.state.is_final():
        # a key of its own: the cancelled run keeps the first one
        run = await _create(inp, f"{key}-again-{uuid.uuid4().hex[:16]}", [WAKEUP_TAG, *tags])
    return str(run.id)


@task(name="schedule-wakeup", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
async def schedule_wakeup(inp: WakeupInput) -> str:
    return await create_wakeup(inp)


@task(name="schedule-mail-retry", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=[2, 10])
async def schedule_mail_retry(inp: WakeupInput) -> str:
    """A run at `inp.at` that tries the outbox again; one per retry time."""
    run = await _create(inp, mail_retry_key(inp.directive, inp.at), [MAIL_RETRY_TAG])
    return str(run.id)


async def schedule_retry(directive: str, at: dt.datetime, label: str) -> str:
    """A wake-up at `at` for a run that failed, so one failure never stalls the directive."""
    return await create_wakeup(
        WakeupInput(directive=directive, at=at, label=label), tags=(RETRY_TAG,)
    )


async def open_runs(directive: str, *, deployment: str = DIRECTIVE_DEPLOYMENT) -> list[Any]:
    """The directive's runs not yet finished: scheduled, pending or running."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterName,
        FlowRunFilter,
        FlowRunFilterState,
        FlowRunFilterStateType,
        FlowRunFilterTags,
    )
    from prefect.client.schemas.objects import StateType

    async with get_client() as client:
        return list(
            await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    tags=FlowRunFilterTags(all_=[directive_tag(directive)]),
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(
                            any_=[StateType.SCHEDULED, StateType.PENDING, StateType.RUNNING]
                        )
                    ),
                ),
                deployment_filter=DeploymentFilter(
                    name=DeploymentFilterName(any_=[deployment.split("/")[-1]])
                ),
            )
        )


async def cancel_obsolete(directive: str, keep: dt.datetime | None) -> list[str]:
    """Cancel the directive's scheduled wake-ups other than the one starting at `keep` (the
    real time; all of them when `keep` is None: nothing is planned); the ids cancelled."""
    from prefect.client.orchestration import get_client
    from prefect.states import Cancelled

    cancelled = []
    runs = await open_runs(directive)
    async with get_client() as client:
        for run in runs:
            if WAKEUP_TAG not in (run.tags or []) or run.state is None:
                continue
            if not run.state.is_scheduled():
                continue
            start = run.expected_start_time or run.next_scheduled_start_time
            if keep is not None and start is not None and abs(start.timestamp() - keep.timestamp()) < 1:
                continue
            await client.set_flow_run_state(
                run.id, Cancelled(message="made obsolete by a newer plan"), force=True
            )
            cancelled.append(str(run.id))
    return cancelled
