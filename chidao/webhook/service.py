"""The webhook's work against the database, synchronous (the app runs it in a thread pool).

`Service.handle` turns one authenticated call into a ledger command exactly once:

0. it uses up the signature's nonce (a row of `webhook_requests`, in the call's transaction),
   so a byte-identical replay is refused (409 `nonce_reused`) before anything else happens;
1. it *claims* the call's `idempotency-key` in `webhook_requests`, so a retry (signed anew)
   returns the first answer (on PostgreSQL it waits for the first call's transaction), and
   the same key with another request is refused — even when both arrive at the same moment;
2. it runs the command through `Directives.execute` on the same transaction, which decides it
   on the stored state and appends it under the ledger idempotency key
   `wh:{agency}:{idempotency-key}`, the signed request kept in the first event;
3. it stores the answer, and the one transaction (`ledger.transaction`) commits all of it:
   one commit per call.
   Decided answers (success and lifecycle refusals) are kept; a transient failure or a crash
   rolls everything back, so the agency can retry with the same key. A writer racing on the
   same directive is retried inside up to CONFLICT_RETRIES times; only if it keeps winning is
   the answer 503 `busy` with `Retry-After` — never a refusal.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, delete, insert, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, IntegrityError

from chidao.webhook import schemas
from chidao.webhook.errors import (
    Busy,
    Forbidden,
    IdempotencyKeyReused,
    NonceReused,
    NotFound,
    Unavailable,
)
from ledger.attachments import AttachmentMissing, Blob
from ledger.attachments import load as load_attachment
from ledger.attachments import readers as attachment_readers
from ledger.attachments import writer as attachment_writer
from ledger.definitions_store import load_definition
from ledger.directives import DirectiveNotFound, Directives, Outcome, to_event
from ledger.errors import ConcurrencyConflict, IdempotencyConflict, LedgerError, LedgerUnavailable
from ledger.projections import read_inbox, refresh
from ledger.tables import webhook_requests
from ledger.works import directive_summary, rows_for_directive, status_rows
from lifecycle import AnyCommand, DirectiveState
from lifecycle import errors as lifecycle_errors
from lifecycle.events import AttachmentRef, ReportSubmitted
from lifecycle.inbox import InboxItem, item_standing
from lifecycle.status import counts

log = logging.getLogger("chidao.webhook")

INBOX_PAGE = 100  # inbox entries per page unless the call asks for fewer or more
INBOX_PAGE_MAX = 500


def inbox_cursor(directive: str, seq: int) -> str:
    """The `after` of the inbox page that follows the entry (directive, seq)."""
    return f"{directive}:{seq}"


def parse_inbox_cursor(cursor: str) -> tuple[str, int] | None:
    """(directive, seq) of an inbox cursor; None when it is not one."""
    directive, _, seq = cursor.rpartition(":")
    if not directive or not seq.isdigit():
        return None
    return directive, int(seq)

PENDING = 0
NONCE_USED = -1  # a row of webhook_requests that only records a used nonce
NONCE_KEEP = dt.timedelta(minutes=15)  # longer than the signature window, then pruned
PRUNE_EVERY = 200  # nonces recorded between two prunings, per process
CONFLICT_RETRIES = 8  # decisions retried inside the service on a racing writer
RETRY_AFTER_SECONDS = 1
RESERVED_ACTORS = frozenset({"operator", "system"})
ATTACHING = frozenset({"ReportSubmitted", "ConsolidatedReportSubmitted"})


@dataclass(frozen=True)
class Caller:
    """Who signed a request, and what identifies the request for idempotency.

    `webhook_id` is the request's `idempotency-key` (or the browser form's one-time id);
    `nonce` is used up once; `proof` is the signed request the answer keeps in the ledger.
    """

    agency: str
    webhook_id: str
    request_sha256: str
    nonce: str | None = None
    proof: dict[str, Any] | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> str:
        return f"wh:{self.agency}:{self.webhook_id}"


def request_digest(method: str, path: str, query: str, body: bytes) -> str:
    """SHA-256 of what makes two requests the same: method, path, query and raw body."""
    head = f"{method.upper()} {path}?{query}\n".encode()
    return hashlib.sha256(head + body).hexdigest()


def _utc_now() -> dt.datetime:
    from flows.clock import SystemClock

    return SystemClock().now()


def error_body(code: str, detail: str) -> dict[str, Any]:
    return {"error": code, "detail": detail, "fields": []}


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]
    replayed: bool = False
    # the lifecycle's refusal, when it is one: a page says it in its own language
    refusal: lifecycle_errors.Refused | None = None


class Service:
    """Commands and reads of the webhook over one ledger database."""

    def __init__(self, engine: Engine, clock: Callable[[], dt.datetime]) -> None:
        self.engine = engine
        self.directives = Directives.over(engine)
        self.clock = clock
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._nonces = 0

    def now(self) -> dt.datetime:
        moment = self.clock()
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)

    def _lock(self, directive: str) -> threading.Lock:
        # One writer per directive inside this process: racing calls queue here instead of
        # replaying the stream, losing the append and replaying again. Other processes are
        # still kept honest by the ledger's optimistic concurrency.
        with self._locks_guard:
            return self._locks.setdefault(directive, threading.Lock())

    # --- commands ---------------------------------------------------------------------------

    def handle(
        self, caller: Caller, directive: str, command: AnyCommand, blobs: Sequence[Blob] = ()
    ) -> Answer:
        """Claim the idempotency-key, decide, append and store the answer in ONE transaction: a
        crash or a transient failure anywhere leaves nothing, and the agency may resend.

        `blobs` (the files a report names) are stored in that transaction only if the command
        records its events: a refused report stores none of them."""
        try:
            with self._lock(directive), self.directives.transaction() as conn:
                if caller.nonce is not None:
                    self._use_nonce(conn, caller)
                earlier = self._claim(conn, caller)
                if earlier is not None:
                    return earlier
                answer = self._execute(conn, caller, directive, command, blobs)
                conn.execute(
                    update(webhook_requests)
                    .where(webhook_requests.c.webhook_id == caller.key)
                    .values(status_code=answer.status, response=answer.body)
                )
        except LedgerUnavailable as e:
            raise Unavailable("the ledger is unavailable; send the call again later") from e
        except LedgerError as e:
            raise Unavailable(f"the ledger refused the call; send it again later ({e})") from e
        return answer

    def _execute(
        self,
        conn: Connection,
        caller: Caller,
        directive: str,
        command: AnyCommand,
        blobs: Sequence[Blob] = (),
    ) -> Answer:
        now = self.now()
        try:
            outcome = self.directives.execute(
                directive,
                command,
                now,
                key=caller.key,
                writers=[attachment_writer(blobs, now)] if blobs else (),
                conn=conn,
                live=True,
                retries=CONFLICT_RETRIES,
                proof=caller.proof,
            )
        except lifecycle_errors.NotFound as e:
            return Answer(404, error_body("not_found", str(e)), refusal=e)
        except DirectiveNotFound as e:
            return Answer(404, error_body("not_found", str(e)))
        except lifecycle_errors.Forbidden as e:
            return Answer(403, error_body("forbidden", str(e)), refusal=e)
        except lifecycle_errors.Refused as e:
            return Answer(409, error_body(e.code, str(e)), refusal=e)
        except IdempotencyConflict as e:
            return Answer(
                409,
                error_body(
                    IdempotencyKeyReused.code,
                    f"idempotency-key {caller.webhook_id} was already used: {e}",
                ),
            )
        except ConcurrencyConflict as e:
            # Other writers won every one of the bounded retries: not a refusal, try later.
            raise Busy(
                f"directive {directive} kept changing while this call was decided; "
                "send it again (signed anew, same idempotency-key) shortly",
                retry_after=RETRY_AFTER_SECONDS,
            ) from e
        return Answer(201 if outcome.events else 200, self._recorded(directive, caller, outcome))

    @staticmethod
    def _recorded(directive: str, caller: Caller, outcome: Outcome) -> dict[str, Any]:
        # Built only from the stored events, so the first answer and a repeat (or a retry that
        # found the ledger key already recorded) are the same document.
        events = [
            schemas.RecordedEvent(type=e.type, version=e.version, business_time=e.business_time)
            for e in outcome.events
        ]
        detail = (
            "recorded: " + ", ".join(e.type for e in events)
            if events
            else "nothing new to record: this was already done"
        )
        return schemas.Recorded(
            directive=directive, actor=caller.agency, events=events, detail=detail
        ).model_dump(mode="json")

    # --- idempotency ------------------------------------------------------------------------

    def _earlier(self, conn: Connection, caller: Caller) -> Answer | None:
        row = conn.execute(
            select(webhook_requests).where(webhook_requests.c.webhook_id == caller.key)
        ).first()
        if row is None or row.status_code == PENDING:
            return None
        if row.body_sha256 != caller.request_sha256:
            raise IdempotencyKeyReused(
                f"idempotency-key {caller.webhook_id} was already used for a different "
                "request; each call needs its own key"
            )
        return Answer(row.status_code, dict(row.response), replayed=True)

    def _claim(self, conn: Connection, caller: Caller) -> Answer | None:
        """Take the idempotency-key inside the command's transaction; the earlier answer if a
        call with the same id committed first (PostgreSQL: the insert waits for it)."""
        earlier = self._earlier(conn, caller)
        if earlier is not None:
            return earlier
        # A pending row is a claim of the older, three-transaction code that died: take over.
        conn.execute(
            delete(webhook_requests)
            .where(webhook_requests.c.webhook_id == caller.key)
            .where(webhook_requests.c.status_code == PENDING)
        )
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(webhook_requests).values(
                        webhook_id=caller.key,
                        agency_id=caller.agency,
                        body_sha256=caller.request_sha256,
                        status_code=PENDING,
                        response={},
                        created_at=_utc_now(),
                    )
                )
        except IntegrityError:
            earlier = self._earlier(conn, caller)
            if earlier is None:
                raise Busy(
                    f"a call with idempotency-key {caller.webhook_id} is still being processed; "
                    "send it again shortly",
                    retry_after=RETRY_AFTER_SECONDS,
                ) from None
            return earlier
        return None

    def _use_nonce(self, conn: Connection, caller: Caller) -> None:
        """Record the request's nonce as used, in the call's transaction (under a savepoint),
        or NonceReused if it was (a replay). A call that rolls back leaves its nonce unused:
        nothing of it was recorded, so the same bytes may come again."""
        assert caller.nonce is not None
        digest = hashlib.sha256(f"{caller.agency}\n{caller.nonce}".encode()).hexdigest()
        now = _utc_now()
        self._nonces += 1
        if self._nonces % PRUNE_EVERY == 1:
            # Nonces older than the window can no longer be replayed: forget them now and
            # then (a pass over the table, not on every call).
            conn.execute(
                delete(webhook_requests)
                .where(webhook_requests.c.status_code == NONCE_USED)
                .where(webhook_requests.c.created_at < now - NONCE_KEEP)
            )
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(webhook_requests).values(
                        webhook_id=f"nonce:{digest}",
                        agency_id=caller.agency,
                        body_sha256=digest,
                        status_code=NONCE_USED,
                        response={},
                        created_at=now,
                    )
                )
        except IntegrityError as e:
            raise NonceReused(
                "this signature's nonce was already used: a replayed request is not recorded "
                "again; to retry, sign anew (new nonce, same idempotency-key)"
            ) from e

    def ready(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except DBAPIError:
            return False
        return True

    def _state(self, directive: str) -> DirectiveState:
        try:
            return self.directives.state(directive)
        except DirectiveNotFound as e:
            raise NotFound(f"no directive {directive}") from e
        except LedgerUnavailable as e:
            raise Unavailable("the ledger is unavailable") from e

    def state(self, directive: str) -> DirectiveState:
        """The directive's state from the ledger; NotFound or Unavailable as webhook errors."""
        return self._state(directive)

    def status(self, caller: Caller, directive: str) -> schemas.DirectiveStatus:
        """The four-way status of the current cycle: everyone for the issuer and the
        consolidator, only its own row for a tracked agency, nothing for anyone else."""
        try:
            refresh(self.engine)
            summary = directive_summary(self.engine, directive, fresh=True)
            if summary is None or summary.definition_sha256 is None:
                raise NotFound(f"no directive {directive}")
            with self.engine.connect() as conn:
                resolved = load_definition(conn, summary.definition_sha256)
            if resolved is None:
                raise LedgerError(f"the definition of {directive} is not stored")
            overseers = {resolved.issuer.id, resolved.reporting_to}
            overseers.update(a for a in (resolved.consolidator, resolved.consolidation_to) if a)
            if caller.agency not in overseers and resolved.agency(caller.agency) is None:
                raise Forbidden(f"{caller.agency} has no part in directive {directive}")
            now = self.now()
            cycle = summary.current_cycle
            works = rows_for_directive(self.engine, directive, cycle, fresh=True) if cycle else []
        except (LedgerError, DBAPIError) as e:
            raise Unavailable("the ledger is unavailable") from e
        rows = status_rows(works, now)
        if caller.agency not in overseers:
            rows = [r for r in rows if r.agency == caller.agency]
        return schemas.DirectiveStatus(
            directive=directive,
            directive_status=summary.status,
            cycle=cycle,
            as_of=now,
            rows=[schemas.StatusRow.model_validate(r.model_dump()) for r in rows],
            counts=counts(rows),
        )

    def attachment(self, reader: str, directive: str, sha256: str) -> Blob:
        """The file `sha256` of `directive` if `reader` may read it, else NotFound (whether
        the file is not there or belongs to others: the answer tells nothing about either)."""
        try:
            state = self.directives.state(directive)
            stored = self.directives.events(directive)
        except DirectiveNotFound as e:
            raise NotFound(f"no directive {directive}") from e
        except LedgerUnavailable as e:
            raise Unavailable("the ledger is unavailable") from e
        found = [to_event(e) for e in stored if e.type in ATTACHING]
        if reader not in attachment_readers(state, found, sha256):
            raise NotFound(f"no attachment {sha256} of {directive} that {reader} may read")
        try:
            return load_attachment(self.engine, sha256)
        except AttachmentMissing as e:
            raise NotFound(f"no attachment {sha256} of {directive}") from e

    def sent_files(self, directive: str, agency: str) -> list[tuple[str, AttachmentRef]]:
        """(cycle, file) of every file `agency` sent with its reports on `directive`."""
        found: list[tuple[str, AttachmentRef]] = []
        try:
            stored = self.directives.events(directive)
        except (LedgerError, DBAPIError) as e:
            raise Unavailable("the ledger is unavailable") from e
        for event in (to_event(e) for e in stored if e.type == "ReportSubmitted"):
            if isinstance(event, ReportSubmitted) and event.agency == agency:
                found.extend((event.cycle, ref) for ref in event.attachments)
        return found

    def inbox_entries(self, agency: str) -> list[InboxItem]:
        """`agency`'s inbox entries across every active directive (the projection)."""
        try:
            return read_inbox(self.engine, agency)
        except (LedgerError, DBAPIError) as e:
            raise Unavailable("the ledger is unavailable") from e

    def draft(
        self,
        reader: str,
        directive: str,
        cycle: str,
        ext: str,
        file_url: Callable[[AttachmentRef], str] | None = None,
    ) -> tuple[bytes, str, str]:
        """The consolidated report's draft of `cycle` (DOCX or HTML) for the consolidating
        department only: (content, media type, file name). `file_url` links its files (HTML)."""
        import tempfile
        from pathlib import Path

        from chidao.draft import WRITERS, DraftError, build, render_html
        from definitions.calendar import default_calendar

        state = self._state(directive)
        if state.resolved is None or state.resolved.consolidator != reader:
            raise NotFound(f"{reader} consolidates no report of {directive}")
        writer = WRITERS.get(f".{ext}")
        if writer is None:
            raise NotFound(f"no draft as .{ext}: .docx or .html")
        events = [to_event(e) for e in self.directives.events(directive)]
        try:
            made = build(state, events, cycle, self.now(), default_calendar())
        except DraftError as e:
            raise NotFound(str(e)) from e
        if ext == "html":
            content = render_html(made, file_url).encode("utf-8")
        else:
            with tempfile.TemporaryDirectory() as folder:
                path = Path(folder) / f"draft.{ext}"
                writer(made, path)
                content = path.read_bytes()
        media = {
            "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "html": "text/html; charset=utf-8",
        }[ext]
        return content, media, f"bao-cao-tong-hop-{directive}-{cycle}.{ext}"

    def inbox(
        self,
        caller: Caller,
        agency: str,
        *,
        after: tuple[str, int] | None = None,
        limit: int = INBOX_PAGE,
    ) -> schemas.Inbox:
        """What `agency` is expected to do now, across every directive in the ledger: a page
        of at most `limit` entries (by directive, then place), after the entry `after`, with
        the cursor of the next page when there is more."""
        if agency != caller.agency:
            raise Forbidden(f"signed by {caller.agency}: cannot read the inbox of another agency")
        now = self.now()
        try:
            items = read_inbox(self.engine, agency, after=after, limit=limit + 1)
        except (LedgerError, DBAPIError) as e:
            raise Unavailable("the ledger is unavailable") from e
        more = len(items) > limit
        items = items[:limit]
        entries = [
            schemas.InboxEntry(
                directive=item.directive,
                kind=item.kind,
                cycle=item.cycle,
                agency=item.agency,
                due=item.due,
                standing=item_standing(item, now),
                detail=item.detail,
            )
            for item in items
        ]
        following = inbox_cursor(items[-1].directive, items[-1].seq) if more else None
        return schemas.Inbox(agency=agency, as_of=now, entries=entries, next=following)
