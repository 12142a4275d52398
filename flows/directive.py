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
from prefect.states import Completed
from prefect.tasks import exponential_backoff
from pydantic import BaseModel, ConfigDict, SecretBytes

from chidao.settings import Settings, load_settings
from definitions.calendar import default_calendar
from flows.clock import SystemClock
from ledger.directives import Directives
from ledger.store import StoredEvent
from lifecycle import DirectiveState, due_actions, next_wakeup
from lifecycle.planner import Action, label
from lifecycle.status import agency_rows, current_cycle, current_rows, reported_share
from notifications.mailer import SmtpConfig
from notifications.outbox import Outbox
from tasks.actions import ActionInput, perform_action
from tasks.checkpoint import CheckpointInput, checkpoint_ledger
from tasks.mail import DeliverInput, deliver_mail
from tasks.runtime import directives_for, engine_for
from tasks.schedule import (
    MAIL_RETRY,
    WakeupInput,
    cancel_obsolete,
    run_name,
    schedule_mail_retry,
    schedule_retry,
    schedule_wakeup,
)
from tasks.status import CycleTable, LedgerEventRef, StatusInput, publish_status

# Performing actions can make more fall due at once (a closed cycle opens the next).
MAX_ROUNDS = 25
# The name of a run's Completed state when mail is still pending or was given up on.
MAIL_NOT_DELIVERED = "Thư chưa gửi được"
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
    deliver: Callable[[DeliverInput, float | None], Awaitable[Any]]
    publish: Callable[[StatusInput], None] | None
    schedule: Callable[[WakeupInput], Awaitable[Any]] | None
    logger: Callable[[], Any]


async def _deliver_task(inp: DeliverInput, backoff: float | None) -> Any:
    """The delivery task: with `backoff`, retried with exponential backoff; without, tried once."""
    task = (
        deliver_mail.with_options(retries=0)
        if backoff is None
        else deliver_mail.with_options(retry_delay_seconds=exponential_backoff(backoff_factor=backoff))
    )
    return await task(inp)


async def _deliver_once(inp: DeliverInput, backoff: float | None) -> Any:
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
    mail_pending: int = 0
    mail_failed: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "directive": self.directive,
            "now": self.now.isoformat(),
            "performed": self.performed,
            "next_wakeup": self.next_wakeup.isoformat() if self.next_wakeup else None,
            "version": self.version,
            "mail_pending": self.mail_pending,
            "mail_failed": self.mail_failed,
        }


def reference_of(state: DirectiveState) -> str:
    return state.definition.definition.reference if state.resolved else state.id


def run_label(state: DirectiveState, action: Action | None, at: dt.datetime) -> str:
    """A run's name for people: `2810/UBND-KGVX · 2023 · nhắc hạn · 30/11/2023 08:00`."""
    return run_name(
        reference_of(state),
        action.cycle if action is not None else current_cycle(state),
        label(action) if action is not None else None,
        at,
    )


def _run_name() -> str:
    parameters = flow_run.parameters
    return str(parameters.get("label") or parameters.get("directive_id") or "directive")


def _cycle_tables(
    state: DirectiveState, now: dt.datetime, events: list[StoredEvent], since_version: int
) -> list[CycleTable]:
    """A table for each cycle something happened in after `since_version`, and the current one."""
    touched = {e.payload.get("cycle") for e in events if e.version > since_version}
    touched.add(current_cycle(state))
    return [
        CycleTable(cycle=cycle_id, status=cycle.status, rows=agency_rows(state, cycle_id, now))
        for cycle_id, cycle in state.cycles.items()
        if cycle_id in touched
    ]


def _status_input(
    state: DirectiveState,
    now: dt.datetime,
    wake: dt.datetime | None,
    events: list[StoredEvent],
    since_version: int,
    touched_since: int,
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
        cycles=_cycle_tables(state, now, events, touched_since),
        published_at=SystemClock().now(),
        language=language,
    )


def _mail_retry_delay(runtime: Runtime, attempts: int) -> float:
    """Seconds before the next delivery run: the base, doubled for each attempt made."""
    return float(runtime.mail_retry_base_seconds * 2 ** max(attempts - 1, 0))


async def _deliver(
    steps: Steps, runtime: Runtime, directive_id: str, now: dt.datetime, *, retry_here: bool
) -> None:
    """Send the outbox; with `retry_here` the step retries with backoff, else it tries once."""
    try:
        await steps.deliver(
            DeliverInput(
                database_url=runtime.database_url,
                smtp=runtime.smtp,
                at=now,
                directive=directive_id,
                link_key=runtime.link_key,
            ),
            runtime.mail_retry_base_seconds if retry_here else None,
        )
    except Exception as e:  # the outbox keeps the messages; a later run tries again
        steps.logger().warning("mail for %s not delivered yet: %s", directive_id, e)


async def reconcile(
    directive_id: str,
    now: dt.datetime,
    runtime: Runtime,
    *,
    schedule_next: bool = True,
    steps: Steps = PREFECT,
) -> Reconciled:
    """One reconciliation of a directive at business time `now`, its steps run as tasks
    (or, with `steps=IN_PROCESS`, as the same functions in this process).

    The status is published first when actions are due (what the ledger holds, an agency's
    answer among it, before the actions it calls for), and again as soon as the actions are
    recorded; mail goes after it, one attempt per message in a scheduled run (a message not
    taken is tried again by a run of its own, `… · gửi lại thư`, with backoff), so publishing
    never waits for a mail server. Runs without a schedule (a simulation) retry within the
    run, still after publishing.
    """
    logger = steps.logger()
    directives: Directives = directives_for(runtime.database_url)
    # the state from its snapshot and the events the feed shows: no replay from nothing
    events, state = directives.recent(directive_id, window=EVENT_WINDOW)
    start_version = state.version
    calendar = default_calendar()
    performed: list[str] = []
    if steps.publish is not None and due_actions(state, now, calendar):
        # what the ledger already holds (an agency's answer) is shown before the actions
        # it calls for are composed and recorded; the table is published again after them
        steps.publish(
            _status_input(
                state, now, None, events, start_version - EVENT_WINDOW, start_version,
                runtime.language,
            )
        )
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
                    real_now=SystemClock().now(),
                )
            )
            performed.append(action.key)
        # one read per round: the state the next round plans on, and the feed's events
        events, state = directives.recent(directive_id, after_version=start_version - EVENT_WINDOW)
    wake = next_wakeup(state, now, calendar)
    if steps.publish is not None:
        since = start_version - EVENT_WINDOW
        steps.publish(
            _status_input(state, now, wake, events, since, start_version, runtime.language)
        )
    scheduling = schedule_next and steps.schedule is not None
    if scheduling and wake is not None and steps.schedule is not None:
        upcoming = [a for a in due_actions(state, wake, calendar) if a.due_at == wake]
        await steps.schedule(
            WakeupInput(
                directive=directive_id,
                at=wake,
                label=run_label(state, upcoming[0] if upcoming else None, wake),
            )
        )
    published = state.version
    await _deliver(steps, runtime, directive_id, now, retry_here=not schedule_next)
    outbox = Outbox(engine_for(runtime.database_url))
    pending = outbox.pending(directive=directive_id)
    events, state = directives.recent(directive_id, after_version=start_version - EVENT_WINDOW)
    failed = _failed(state)
    if steps.publish is not None and state.version > published:
        # deliveries recorded: to the feed, and failures to the table
        steps.publish(
            _status_input(state, now, wake, events, published, published, runtime.language)
        )
    if pending and scheduling:
        retry_at = SystemClock().now() + dt.timedelta(
            seconds=_mail_retry_delay(runtime, max(r.attempts for r in pending))
        )
        await schedule_mail_retry(
            WakeupInput(
                directive=directive_id,
                at=retry_at,
                label=run_name(reference_of(state), current_cycle(state), MAIL_RETRY, retry_at),
            )
        )
    if scheduling:
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
        "%s reconciled at %s: %d actions, next wake-up %s, %d messages pending, %d failed",
        directive_id,
        now.isoformat(),
        len(performed),
        wake,
        len(pending),
        failed,
    )
    return Reconciled(directive_id, now, performed, wake, state.version, len(pending), failed)


def _failed(state: DirectiveState) -> int:
    return sum(1 for n in state.notifications.values() if n.status == "failed")


@flow(name="directive", flow_run_name=_run_name, persist_result=False, log_prints=True)
async def directive(
    directive_id: str,
    label: str = "",
    at: dt.datetime | None = None,
    schedule_next: bool = True,
) -> Any:
    """Reconcile one directive now (or at the business time `at`, when simulating).

    A run that fails schedules its own retry wake-up RETRY_AFTER later (then fails), so one
    failure never stalls the directive; if even that cannot be done, the sweeper
    (`flows.sweep`) finds the directive overdue. A run whose mail waits or was given up on
    ends Completed, named MAIL_NOT_DELIVERED."""
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
    if result.mail_pending or result.mail_failed:
        # not plain success in the runs list: mail is waiting, or was given up on
        return Completed(
            name=MAIL_NOT_DELIVERED,
            message=(
                f"{result.mail_pending} thư đang chờ gửi lại, {result.mail_failed} thư không gửi "
                "được (xem bảng trạng thái và `chidao notifications outbox --failed`)"
            ),
            data=result.as_dict(),
        )
    return result.as_dict()
