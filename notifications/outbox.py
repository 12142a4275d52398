"""The outbox: every message is recorded in the ledger database before it is sent.

A notice is stored under its planner key (so enqueuing it twice stores it once), in the
same transaction as the ledger event of the action that calls for it (`Outbox.writer`), then
the mailer claims it, sends it and marks it sent. The states are `pending` → `sent`, or
`pending` → `failed` once its attempts are used up (or at once when it has no address).
`record_deliveries` writes the outcomes into the directive's ledger as `RecordDelivery`
commands, each under its own idempotency key, so recording twice records once.

Bodies carry signed links (tokens that open an agency's form), so when the outbox is given a
key (`body_key`, the mail-link key) they are stored sealed (Fernet, under a key derived from
it: `sealed:v1:…`) and opened only when read with that key; without one, `pending` refuses
sealed rows rather than mail ciphertext. `reseal` moves them to a new key.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Engine, and_, func, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ledger.directives import Directives
from ledger.tables import outbox as table
from ledger.transaction import Faults, Writer, Written, prefixed
from lifecycle import DirectiveState
from lifecycle.commands import RecordDelivery
from notifications.compose import Notice
from notifications.errors import NotificationError

PENDING, SENT, FAILED = "pending", "sent", "failed"
NO_ADDRESS = "the agency directory has no e-mail address for this recipient"


class OutboxError(NotificationError):
    """The outbox could not record or update a message."""


SEALED = "sealed:v1:"
BODY_KEY_LABEL = b"chidao/outbox-bodies/v1"


def _fernet(body_key: bytes) -> Fernet:
    derived = hmac.new(body_key, BODY_KEY_LABEL, hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(body_key: bytes | None, text: str) -> str:
    if body_key is None:
        return text
    return SEALED + _fernet(body_key).encrypt(text.encode("utf-8")).decode("ascii")


def unseal(body_key: bytes | None, stored: str) -> str:
    """The body as written; a sealed one stays sealed without the key."""
    if body_key is None or not stored.startswith(SEALED):
        return stored
    try:
        return _fernet(body_key).decrypt(stored[len(SEALED):].encode("ascii")).decode("utf-8")
    except InvalidToken as e:
        raise OutboxError("an outbox body does not open under the secret key: the key changed") from e


class _Moved(Exception):
    """A row changed between reading and claiming it: another sender has it."""


def message_id_for(keys: Iterable[str]) -> str:
    """A stable Message-ID: the same keys give the same id, so mail clients fold a repeat."""
    joined = "\n".join(sorted(keys))
    return f"<{hashlib.sha256(joined.encode('utf-8')).hexdigest()[:32]}@chidao>"


@dataclass(frozen=True)
class OutboxRow:
    key: str
    directive: str
    agency: str  # the recipient's agency id
    kind: str
    recipient: str  # the e-mail address
    subject: str
    body_text: str
    body_html: str
    message_id: str
    language: str
    status: str
    attempts: int
    last_error: str | None
    action_keys: list[str]
    created_at: dt.datetime
    updated_at: dt.datetime
    sent_at: dt.datetime | None

    @classmethod
    def of(cls, row: Any, body_key: bytes | None = None) -> OutboxRow:
        data = dict(row._mapping)
        data["action_keys"] = list(data["action_keys"] or [])
        data["body_text"] = unseal(body_key, data["body_text"])
        data["body_html"] = unseal(body_key, data["body_html"])
        return cls(**data)

    @property
    def sealed(self) -> bool:
        return self.body_text.startswith(SEALED)

    def as_json(self) -> dict[str, Any]:
        return {
            "key": self.key, "directive": self.directive, "agency": self.agency, "kind": self.kind,
            "email": self.recipient, "subject": self.subject, "message_id": self.message_id,
            "language": self.language, "status": self.status, "attempts": self.attempts,
            "last_error": self.last_error, "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "sent_at": self.sent_at.isoformat() if self.sent_at else None,
        }


@dataclass
class Delivery:
    """The outcome of one message for one directive and kind: sent, or failed for good.

    A digest that covers several directives or kinds gives one Delivery for each, sharing
    the message's `message_id`, so each is recorded on its own directive under its own kind.
    """

    keys: list[str]
    recipient: str  # agency id
    email: str
    kind: str
    ok: bool
    message_id: str
    error: str | None
    directive: str


class Outbox:
    """The `outbox` table of one ledger database."""

    def __init__(self, engine: Engine, body_key: bytes | None = None) -> None:
        self.engine = engine
        self._body_key = body_key

    def __repr__(self) -> str:
        return f"Outbox({self.engine.url.render_as_string(hide_password=True)!r})"

    def enqueue(
        self, notices: Sequence[Notice], *, now: dt.datetime, conn: Connection | None = None
    ) -> int:
        """Record each notice by its key; a key already there is left alone. How many were new.

        With `conn`, the rows are written in the caller's transaction (see `writer`)."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        wanted = {n.key: n for n in notices}  # a key given twice in one call is one message
        if not wanted:
            return 0
        if conn is not None:
            return self._insert_new(conn, wanted, now)
        for _attempt in range(3):
            try:
                with self.engine.begin() as own:
                    return self._insert_new(own, wanted, now)
            except IntegrityError:
                # another writer enqueued one of them between our read and insert: look again
                continue
        raise OutboxError("could not enqueue: the outbox kept changing under us")

    def _insert_new(self, conn: Connection, wanted: dict[str, Notice], now: dt.datetime) -> int:
        present = set(conn.scalars(select(table.c.key).where(table.c.key.in_(list(wanted)))))
        rows = [self._row(n, now, self._body_key) for key, n in wanted.items() if key not in present]
        if rows:
            conn.execute(insert(table), rows)
        return len(rows)

    def writer(
        self, notices_for: Callable[[DirectiveState], Sequence[Notice]], *, now: dt.datetime
    ) -> Writer:
        """A ledger writer (`ledger.transaction`) that enqueues the notices of an action in the
        transaction that records it: both are committed, or neither. The notices are
        composed from the state the action was decided on."""

        def write(conn: Connection, written: Written) -> None:
            self.enqueue(notices_for(written.before), now=now, conn=conn)

        return write

    @staticmethod
    def _row(notice: Notice, now: dt.datetime, body_key: bytes | None) -> dict[str, Any]:
        return {
            "key": notice.key,
            "directive": notice.directive,
            "agency": notice.recipient,
            "kind": notice.kind,
            "recipient": notice.email,
            "subject": notice.subject,
            "body_text": seal(body_key, notice.text),
            "body_html": seal(body_key, notice.html),
            "message_id": message_id_for([notice.key]),
            "language": notice.language,
            "status": PENDING,
            "attempts": 0,
            "last_error": None,
            "action_keys": [notice.key],
            "created_at": now,
            "updated_at": now,
            "sent_at": None,
        }

    def _select(self, status: str | None, directive: str | None) -> list[OutboxRow]:
        query = select(table)
        if status is not None:
            query = query.where(table.c.status == status)
        if directive is not None:
            query = query.where(table.c.directive == directive)
        query = query.order_by(table.c.created_at, table.c.key)
        with self.engine.connect() as conn:
            return [OutboxRow.of(row, self._body_key) for row in conn.execute(query)]

    def pending(self, *, directive: str | None = None) -> list[OutboxRow]:
        rows = self._select(PENDING, directive)
        if any(r.sealed for r in rows):
            raise OutboxError("the outbox's bodies are sealed: the secret key is needed to send them")
        return rows

    def reseal(self, new_key: bytes) -> int:
        """Re-encrypt every sealed body under `new_key` (one transaction); how many rows."""
        count = 0
        with self.engine.begin() as conn:
            for row in conn.execute(select(table.c.key, table.c.body_text, table.c.body_html)).all():
                if not row.body_text.startswith(SEALED):
                    continue
                text, html = unseal(self._body_key, row.body_text), unseal(self._body_key, row.body_html)
                conn.execute(update(table).where(table.c.key == row.key)
                             .values(body_text=seal(new_key, text), body_html=seal(new_key, html)))
                count += 1
        self._body_key = new_key
        return count

    def failed(self, *, directive: str | None = None) -> list[OutboxRow]:
        return self._select(FAILED, directive)

    def sent(self, *, directive: str | None = None) -> list[OutboxRow]:
        return self._select(SENT, directive)

    def all(self, *, status: str | None = None, directive: str | None = None) -> list[OutboxRow]:
        return self._select(status, directive)

    def get(self, key: str) -> OutboxRow | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(table).where(table.c.key == key)).first()
        return OutboxRow.of(row, self._body_key) if row is not None else None

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            found = conn.execute(select(table.c.status, func.count()).group_by(table.c.status))
            return {status: count for status, count in found}

    # --- used by the mailer ---------------------------------------------------------

    def claim(self, rows: Sequence[OutboxRow], message_id: str, *, now: dt.datetime) -> bool:
        """Count an attempt on `rows` and give them `message_id`, unless someone else moved
        them on since they were read (then nothing changes and the caller skips them)."""
        try:
            with self.engine.begin() as conn:
                for row in rows:
                    result = conn.execute(
                        update(table)
                        .where(and_(table.c.key == row.key, table.c.status == PENDING,
                                    table.c.attempts == row.attempts))
                        .values(attempts=row.attempts + 1, message_id=message_id, updated_at=now)
                    )
                    if result.rowcount != 1:
                        raise _Moved  # leaving the block rolls back the rows already claimed
        except _Moved:
            return False
        return True

    def mark_sent(self, keys: Sequence[str], *, now: dt.datetime) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(table).where(table.c.key.in_(list(keys)))
                .values(status=SENT, sent_at=now, updated_at=now, last_error=None)
            )

    def mark_attempt_failed(self, keys: Sequence[str], error: str, *, now: dt.datetime,
                            final: bool) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(table).where(table.c.key.in_(list(keys)))
                .values(status=FAILED if final else PENDING, last_error=error[:2000], updated_at=now)
            )

    def retry(self, key: str, *, now: dt.datetime) -> bool:
        """Put a failed message back in the queue with its attempts reset (operator action)."""
        with self.engine.begin() as conn:
            result = conn.execute(
                update(table).where(and_(table.c.key == key, table.c.status == FAILED))
                .values(status=PENDING, attempts=0, updated_at=now)
            )
            return result.rowcount == 1


def deliveries_of(rows: Sequence[OutboxRow], *, ok: bool, message_id: str,
                  error: str | None) -> list[Delivery]:
    """One Delivery per (directive, kind) of the rows of one message."""
    grouped: dict[tuple[str, str], list[OutboxRow]] = {}
    for row in rows:
        grouped.setdefault((row.directive, row.kind), []).append(row)
    return [
        Delivery(
            keys=[k for r in group for k in r.action_keys], recipient=group[0].agency,
            email=group[0].recipient, kind=kind, ok=ok, message_id=message_id, error=error,
            directive=directive,
        )
        for (directive, kind), group in grouped.items()
    ]


def settled(outbox: Outbox, *, directive: str | None = None) -> list[Delivery]:
    """The outcome of every message sent or failed for good, as Deliveries.

    For a flow that crashed between sending and recording: `record_deliveries` of these
    records what is missing and skips what the ledger already has.
    """
    found: list[Delivery] = []
    for row in outbox.sent(directive=directive):
        found.extend(deliveries_of([row], ok=True, message_id=row.message_id, error=None))
    for row in outbox.failed(directive=directive):
        found.extend(deliveries_of([row], ok=False, message_id=row.message_id, error=row.last_error))
    return found


def record_deliveries(
    directives: Directives, deliveries: Iterable[Delivery], at: dt.datetime, *, faults: Faults = None
) -> int:
    """Record each delivery's outcome on its directive's ledger; how many keys were new.

    A delivery event never marks its action done: the action's own event does that."""
    new = 0
    faults = prefixed(faults, "record.")
    for delivery in deliveries:
        for key in delivery.keys:
            detail = delivery.message_id if delivery.ok else (delivery.error or "delivery failed")
            command = RecordDelivery(
                actor="system", key=key, notification=delivery.kind, recipient=delivery.recipient,
                ok=delivery.ok, detail=detail,
            )
            ledger_key = f"{key}:delivered" if delivery.ok else f"{key}:failed"
            outcome = directives.execute(
                delivery.directive, command, at, key=ledger_key, faults=faults, live=True
            )
            if outcome.events and not outcome.repeated:
                new += 1
    return new
