"""The task that does one planner action: its messages into the outbox, its event into the ledger.

Idempotent by the action's key: the outbox keeps one row per key and the ledger one event,
so a retried, duplicated or crashed run never does it twice.
"""

from __future__ import annotations

import datetime as dt

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, ConfigDict

from lifecycle import Action, PerformAction
from lifecycle.commands import SYSTEM
from lifecycle.planner import label
from notifications.compose import compose
from notifications.outbox import Outbox
from tasks.runtime import directives_for, engine_for


class ActionInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    database_url: str
    action: Action
    at: dt.datetime
    answer_url: str


class ActionResult(BaseModel):
    key: str
    recorded: bool
    messages: int


def _run_name() -> str:
    from prefect.runtime import task_run

    action = task_run.parameters["inp"].action
    who = action.agency or action.cycle or action.directive
    return f"{label(action)} · {who}"


@task(
    name="perform-action",
    task_run_name=_run_name,
    retries=2,
    retry_delay_seconds=[1, 5],
    cache_policy=NO_CACHE,
)
def perform_action(inp: ActionInput) -> ActionResult:
    directives = directives_for(inp.database_url)
    action = inp.action
    state = directives.state(action.directive)
    if action.key in state.done_keys:
        return ActionResult(key=action.key, recorded=False, messages=0)
    notices = compose(action, state, answer_url=inp.answer_url)
    new_messages = Outbox(engine_for(inp.database_url)).enqueue(notices, now=inp.at)
    outcome = directives.execute(
        action.directive, PerformAction(actor=SYSTEM, action=action), inp.at, key=action.key
    )
    return ActionResult(key=action.key, recorded=not outcome.repeated, messages=new_messages)
