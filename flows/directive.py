"""The directive flow: a reconciler that reads the ledger, does what is due, and sets its next wake-up.

Every run does the same thing, however it was started (launched, woken by an agency's call,
or by its own scheduled wake-up): rebuild the state from the ledger, ask the planner what is
due at `now`, perform each action as a task (idempotent by its key), deliver the outbox,
publish the status, and schedule the next run at the planner's next wake-up. No process
waits for months; a crashed or repeated run is harmless because the ledger holds the keys.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run
from prefect.tasks import exponential_backoff
from pydantic import BaseModel, ConfigDict, SecretBytes

from chidao.settings import Settings, load_settings
from definitions.calendar import default_calendar
from flows.clock import SystemClock
from ledger.directives import Directives
from ledger.store import StoredEvent
from lifecycle import DirectiveState, due_actions, next_wakeup
from lifecycle.planner import Action, label
from lifecycle.status import current_rows, reported_share
from notifications.mailer import SmtpConfig
from tasks.actions import ActionInput, perform_action
from tasks.checkpoint import CheckpointInput, checkpoint_ledger
from tasks.mail import DeliverInput, deliver_mail
from tasks.runtime import directives_for
from tasks.schedule import WakeupInput, cancel_obsolete, schedule_retry, schedule_wakeup
from tasks.status import LedgerEventRef, StatusInput, publish_status

# Performing actions can make more fall due at once (a closed cycle opens the next).
MAX_ROUNDS = 25
# Ledger events re-emitted by each run, so agencies' own calls reach the event feed too;
# Prefect stores an event id once.
EVENT_WINDOW = 30
# A failed run's retry wake-up comes this long after it (real time).
RETRY_AFTER = dt.timedelta(minutes=5)


class Runtime(BaseModel):
    """What a run needs to know about where it runs, read from settings at the edge."""

    model_config = ConfigDict(frozen=True)

    database_url: str
    smtp: SmtpConfig
    answer_url: str
    mail_retry_base_seconds: float = 5.0
    # The key the links in mail are signed with (None: plain links), and how long they last.
    link_key: SecretBytes | None = None
    link_days: int = 60
    language: str = "vi"  # the operator's, for the status table (each agency's mail has its own)
    # Where the checkpoint key and the witness file are (None: no checkpoint step).
    checkpoint_key_file: Path | None = None
    checkpoint_log: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        try:
            link_key: SecretBytes | None = SecretBytes(settings.link_key())
        except OSError as e:  # the mail still goes, with plain links
            logging.getLogger(__name__).warning("mail links go unsigned: no secret key (%s)", e)
            link_key = None
        return cls(
            database_url=settings.resolved_database_url,
            smtp=SmtpConfig.from_settings(settings),
            answer_url=settings.webhook_base_url,
            mail_retry_base_seconds=settings.mail_retry_base_seconds,
            link_key=link_key,
            link_days=settings.link_days,
            language=settings.lang,
            checkpoint_key_file=settings.checkpoint_key_path,
            checkpoint_log=settings.checkpoint_log_path,
        )


@dataclass(frozen=True)
class Steps:
    """How a reconciliation does its steps: as Prefect tasks (the flow), or as the same
    functions called in process (`IN_PROCESS`: tests over years of simulated time)."""

    perform: Callable[[ActionInput], Any]
    deliver: Callable[[DeliverInput, float], Awaitable[Any]]
    publish: Callable[[StatusInput], None] | None
    schedule: Callable[[WakeupInput], Awaitable[Any]] | None
    logger: Callable[[], Any]


async def _deliver_task(inp: DeliverInput, backoff: float) -> Any:
    retrying = deliver_mail.with_options(
        retry_delay_seconds=exponential_backoff(backoff_factor=backoff)
    )
    return await retrying(inp)


async def _deliver_once(inp: DeliverInput, backoff: float) -> Any:
    return await deliver_mail.fn(inp)


PREFECT = Steps(perform_action, _deliver_task, publish_status, schedule_wakeup, get_run_logger)
IN_PROCESS = Steps(
    perform_action.fn, _deliver_once, None, None, lambda: logging.getLogger("chidao.reconcile")
)


@dataclass(frozen=True)
class Reconciled:
    directive: str
    now: dt.datetime
    performed: list[str]
    next_wakeup: dt.datetime | None
    version: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "directive": self.directive,
            "now": self.now.isoformat(),
            "performed": self.performed,
            "next_wakeup": self.next_wakeup.isoformat() if self.next_wakeup else None,
            "version": self.version,
        }


def reference_of(state: DirectiveState) -> str:
    return state.definition.definition.reference if state.resolved else state.id


def run_label(state: DirectiveState, action: Action | None) -> str:
    """A run's name for people: `2810/UBND-KGVX · 2023 · nhắc hạn`."""
    parts = [reference_of(state)]
    if action is not None:
        if action.cycle:
            parts.append(action.cycle)
        parts.append(label(action))
    return " · ".join(parts)


def _run_name() -> str:
    parameters = flow_run.parameters
    return str(parameters.get("label") or parameters.get("directive_id") or "directive")


def _status_input(
    state: DirectiveState,
    now: dt.datetime,
    wake: dt.datetime | None,
    events: list[StoredEvent],
    since_version: int,
    language: str = "vi",
) -> StatusInput:
    """The status to publish, with the ledger events after `since_version` for the event feed."""
    cycle, rows = current_rows(state, now)
    return StatusInput(
        directive=state.id,
        reference=reference_of(state),
        cycle=cycle,
        rows=rows,
        share_reported=reported_share(rows),
        next_wakeup=wake,
        failed_notifications=sum(1 for n in state.notifications.values() if n.status == "failed"),
        events=[
            LedgerEventRef(
                version=e.version,
                hash=e.hash,
                type=e.type,
                agency=e.payload.get("agency"),
                cycle=e.payload.get("cycle"),
                at=e.business_time,
            )
            for e in events
            if e.version > since_version
        ],
        language=language,
    )


async def reconcile(
    directive_id: str,
    now: dt.datetime,
    runtime: Runtime,
    *,
    schedule_next: bool = True,
    steps: Steps = PREFECT,
) -> Reconciled:
    """One reconciliation of a directive at business time `now`, its steps run as tasks
    (or, with `steps=IN_PROCESS`, as the same functions in this process)."""
    logger = steps.logger()
    directives: Directives = directives_for(runtime.database_url)
    state = directives.state(directive_id)
    start_version = state.version
    calendar = default_calendar()
    performed: list[str] = []
    for _ in range(MAX_ROUNDS):
        actions = due_actions(state, now, calendar)
        if not actions:
            break
        for action in actions:
            steps.perform(
                ActionInput(
                    database_url=runtime.database_url,
                    action=action,
                    at=now,
                    answer_url=runtime.answer_url,
                    link_key=runtime.link_key,
                    link_days=runtime.link_days,
                )
            )
            performed.append(action.key)
        state = directives.state(directive_id)
    try:
        await steps.deliver(
            DeliverInput(
                database_url=runtime.database_url,
                smtp=runtime.smtp,
                at=now,
                directive=directive_id,
                link_key=runtime.link_key,
            ),
            runtime.mail_retry_base_seconds,
        )
    except Exception as e:  # the outbox keeps the messages; the next run tries again
        logger.warning("mail for %s not delivered yet: %s", directive_id, e)
    events, state = directives.load(directive_id)
    wake = next_wakeup(state, now, calendar)
    if steps.publish is not None:
        steps.publish(
            _status_input(state, now, wake, events, start_version - EVENT_WINDOW, runtime.language)
        )
    if schedule_next and wake is not None and steps.schedule is not None:
        upcoming = [a for a in due_actions(state, wake, calendar) if a.due_at == wake]
        await steps.schedule(
            WakeupInput(
                directive=directive_id,
                at=wake,
                label=run_label(state, upcoming[0] if upcoming else None),
            )
        )
    if schedule_next:
        try:  # wake-ups of an older plan; the sweeper cancels them if this fails
            await cancel_obsolete(directive_id, wake)
        except Exception as e:
            logger.warning("obsolete wake-ups of %s not cancelled yet: %s", directive_id, e)
    if runtime.checkpoint_key_file is not None and runtime.checkpoint_log is not None:
        # Signed and witnessed outside the database; a ledger behind its witnesses stops here.
        await checkpoint_ledger(
            CheckpointInput(
                database_url=runtime.database_url,
                key_file=runtime.checkpoint_key_file,
                log_file=runtime.checkpoint_log,
                at=now,
            )
        )
    logger.info(
        "%s reconciled at %s: %d actions, next wake-up %s",
        directive_id,
        now.isoformat(),
        len(performed),
        wake,
    )
    return Reconciled(directive_id, now, performed, wake, state.version)


@flow(name="directive", flow_run_name=_run_name, persist_result=False, log_prints=True)
async def directive(
    directive_id: str,
    label: str = "",
    at: dt.datetime | None = None,
    schedule_next: bool = True,
) -> dict[str, Any]:
    """Reconcile one directive now (or at the business time `at`, when simulating).

    A run that fails schedules its own retry wake-up RETRY_AFTER later (then fails), so one
    failure never stalls the directive; if even that cannot be done, the sweeper
    (`flows.sweep`) finds the directive overdue."""
    now = at or SystemClock().now()
    try:
        runtime = Runtime.from_settings(load_settings())
        result = await reconcile(directive_id, now, runtime, schedule_next=schedule_next)
    except Exception:
        if schedule_next:
            retry_at = SystemClock().now() + RETRY_AFTER
            try:
                await schedule_retry(directive_id, retry_at, f"{label or directive_id} · retry")
            except Exception as e:
                get_run_logger().warning("no retry wake-up for %s: %s", directive_id, e)
        raise
    return result.as_dict()
