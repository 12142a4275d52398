"""The task that sends what the outbox holds and records each delivery in the ledger.

A message the server does not take stays pending and the task fails, so Prefect retries it
with backoff; the outbox marks a message failed after its last attempt, which the ledger
records and the planner answers by telling the escalation path.
"""

from __future__ import annotations

import datetime as dt

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff
from pydantic import BaseModel, ConfigDict, SecretBytes

from ledger.transaction import Faults
from notifications.mailer import SmtpConfig, deliver_pending
from notifications.outbox import Outbox, record_deliveries, settled
from tasks.runtime import directives_for, engine_for

# One attempt per task try: with three retries a message gets four before it is failed.
MAX_ATTEMPTS = 4


class MailNotDelivered(Exception):
    """Messages are still pending after this try; raised so that Prefect retries the task."""


class DeliverInput(BaseModel):
    model_config = ConfigDict(frozen=True)

    database_url: str
    smtp: SmtpConfig
    at: dt.datetime
    directive: str  # whose settled messages the ledger may not know of yet
    max_attempts: int = MAX_ATTEMPTS
    # The mail-link key: bodies (which carry signed links) are stored sealed under it.
    link_key: SecretBytes | None = None


class DeliverResult(BaseModel):
    sent: int
    failed: int


async def deliver(inp: DeliverInput, *, faults: Faults = None) -> DeliverResult:
    """Send what the outbox holds, record each outcome in the ledger; MailNotDelivered while
    messages of `inp.directive` stay pending. `faults`: the crash tests' hook (`ledger.transaction`)."""
    outbox = Outbox(
        engine_for(inp.database_url),
        body_key=inp.link_key.get_secret_value() if inp.link_key is not None else None,
    )
    directives = directives_for(inp.database_url)
    # Every directive's pending mail, so an agency due on several directives gets one digest.
    deliveries = await deliver_pending(
        outbox, inp.smtp, now=inp.at, max_attempts=inp.max_attempts, faults=faults
    )
    # Also what the outbox settled earlier and the ledger lacks: a run killed between
    # sending and recording left such messages behind.
    known = directives.state(inp.directive).notifications
    unrecorded = [
        d for d in settled(outbox, directive=inp.directive) if any(k not in known for k in d.keys)
    ]
    outcomes = {(d.directive, tuple(sorted(d.keys)), d.ok): d for d in [*deliveries, *unrecorded]}
    record_deliveries(directives, [outcomes[k] for k in sorted(outcomes)], inp.at, faults=faults)
    # This run answers for its own directive's mail: another directive's, enqueued meanwhile
    # by its own run on another worker, is that run's to send (or this one's, if it is first).
    still_pending = outbox.pending(directive=inp.directive)
    if still_pending:
        errors = {d.error for d in deliveries if not d.ok and d.error}
        raise MailNotDelivered(
            f"{len(still_pending)} messages not delivered yet: {'; '.join(sorted(errors))[:500]}"
        )
    return DeliverResult(
        sent=sum(1 for d in deliveries if d.ok), failed=sum(1 for d in deliveries if not d.ok)
    )


@task(
    name="deliver-mail",
    retries=MAX_ATTEMPTS - 1,
    retry_delay_seconds=exponential_backoff(backoff_factor=5),
    retry_jitter_factor=0.2,
    cache_policy=NO_CACHE,
)
async def deliver_mail(inp: DeliverInput) -> DeliverResult:
    return await deliver(inp)
