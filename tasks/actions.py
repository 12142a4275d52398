"""The task that does one planner action: its event into the ledger, its messages into the outbox.

Both are written in one transaction (`ledger.transaction`): a crash leaves either both or
neither. Idempotent by the action's key: the ledger keeps one event per key and the outbox
one row, so a retried, duplicated or crashed run never does it twice.
"""

from __future__ import annotations

import datetime as dt

from prefect import task
from prefect.cache_policies import NO_CACHE
from pydantic import BaseModel, ConfigDict, SecretBytes

from ledger.transaction import Faults, prefixed, reach
from lifecycle import Action, DirectiveState, PerformAction
from lifecycle.commands import SYSTEM
from lifecycle.planner import label
from notifications.compose import Notice, compose
from notifications.outbox import Outbox
from tasks.runtime import directives_for, engine_for


class ActionInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    database_url: str
    action: Action
    at: dt.datetime
    answer_url: str
    # Signs the link each tracked agency gets to its page (None: plain links). A SecretBytes,
    # so the key shows as '**********' in reprs, logs and Prefect's task parameters.
    link_key: SecretBytes | None = None
    link_days: int = 60
    # The real time the input was made (the flow reads it from the one clock); links are
    # opened by people in real time. None: business time only.
    real_now: dt.datetime | None = None

    def link_expires(self) -> dt.datetime:
        """Links expire `link_days` after the later of the real time and the action's
        business time (a simulation may run ahead of the real time or behind it)."""
        start = max(self.at, self.real_now) if self.real_now is not None else self.at
        return start + dt.timedelta(days=self.link_days)


class ActionResult(BaseModel):
    key: str
    recorded: bool
    messages: int


def _run_name() -> str:
    from prefect.runtime import task_run

    action = task_run.parameters["inp"].action
    who = action.agency or action.cycle or action.directive
    return f"{label(action)} · {who}"


def perform(inp: ActionInput, *, faults: Faults = None) -> ActionResult:
    """Record the action's event and enqueue its messages, in one transaction.

    The messages are composed from the state the action is decided on, inside that
    transaction; if the action is already recorded nothing is written.
    """
    directives = directives_for(inp.database_url)
    action = inp.action
    link_key = inp.link_key.get_secret_value() if inp.link_key is not None else None
    link_expires = inp.link_expires()
    enqueued: list[int] = []

    def notices(state: DirectiveState) -> list[Notice]:
        found = compose(
            action, state, answer_url=inp.answer_url, link_key=link_key, link_expires=link_expires
        )
        enqueued.append(len(found))
        return found

    reach(faults, "perform.start")
    outcome = directives.execute(
        action.directive,
        PerformAction(actor=SYSTEM, action=action),
        inp.at,
        key=action.key,
        writers=[
            Outbox(engine_for(inp.database_url), body_key=link_key).writer(notices, now=inp.at)
        ],
        faults=prefixed(faults, "perform."),
        live=True,
    )
    recorded = bool(outcome.events) and not outcome.repeated
    return ActionResult(key=action.key, recorded=recorded, messages=sum(enqueued))


@task(
    name="perform-action",
    task_run_name=_run_name,
    retries=2,
    retry_delay_seconds=[1, 5],
    cache_policy=NO_CACHE,
)
def perform_action(inp: ActionInput) -> ActionResult:
    return perform(inp)
