"""The event store: append events to a stream under optimistic concurrency, read them back.

A stream is the life of one directive. Each append names the version the caller last saw;
the batch is written atomically, each event chained to the one before it (see
`ledger.verify`), or not at all. Idempotency keys are global: re-sending an already recorded
batch returns what was recorded instead of writing it twice.

SQLite: appends take the write lock first (BEGIN IMMEDIATE), so racing writers queue up
behind `busy_timeout` and the loser sees the new version and gets ConcurrencyConflict.
PostgreSQL: appends run under READ COMMITTED and rely on UNIQUE(stream, version) and
UNIQUE(idempotency_key); a violation is re-examined after rollback and reported as the
conflict it is.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic_core import from_json
from sqlalchemy import Engine, Text, cast, insert, select, type_coerce
from sqlalchemy.engine import Connection, Row
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError

from ledger.db import mask_url
from ledger.errors import (
    ConcurrencyConflict,
    IdempotencyConflict,
    LedgerError,
    LedgerUnavailable,
)
from ledger.tables import events
from ledger.transaction import write_connection, write_transaction
from ledger.upcast import Upcasters
from ledger.verify import GENESIS_HASH, canonical_json, event_hash

MAX_STREAM = 200
MAX_TYPE = 100
MAX_ACTOR = 200
MAX_KEY = 300


@dataclass(frozen=True)
class NewEvent:
    type: str
    payload: dict[str, Any]
    business_time: datetime
    actor: str
    idempotency_key: str
    schema_version: int = 1


@dataclass(frozen=True)
class StoredEvent:
    stream: str
    version: int
    position: int
    type: str
    schema_version: int
    payload: dict[str, Any]
    actor: str
    business_time: datetime
    recorded_at: datetime
    idempotency_key: str
    prev_hash: str
    hash: str


# One event as replay needs it (`EventStore.read_replay`): version, type, payload (upcast),
# business time (aware, UTC), actor, hash. A plain tuple: no row objects, no dataclass.
ReplayRow = tuple[int, str, dict[str, Any], datetime, str, str]


def _stored_sqlite_moment(text: str) -> datetime:
    """A timestamp text SQLite holds in a shape other than SQLAlchemy's (an offset of its own)."""
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _check_text(what: str, value: str, limit: int) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    if len(value) > limit:
        raise ValueError(f"{what} is longer than {limit} characters: {value[:60]!r}…")


def _check_json(value: Any, where: str) -> None:
    """Only what both backends round-trip exactly: no floats, no NUL, no lone surrogates."""
    if value is None or isinstance(value, bool | int):
        return
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError(f"{where}: strings may not contain NUL (PostgreSQL rejects it)")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            raise ValueError(f"{where}: string is not valid Unicode text") from e
        return
    if isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_json(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: object keys must be strings, got {key!r}")
            _check_json(key, f"{where} key")
            _check_json(item, f"{where}.{key}")
        return
    raise ValueError(
        f"{where}: {type(value).__name__} is not allowed in a payload "
        "(use strings, ints, bools, None, lists and dicts; floats as strings)"
    )


def _aware(what: str, moment: datetime) -> datetime:
    if not isinstance(moment, datetime) or moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be a timezone-aware datetime, got {moment!r}")
    return moment.astimezone(UTC)


class EventStore:
    """Append-only, hash-chained event streams over a SQLAlchemy engine (SQLite or PostgreSQL)."""

    def __init__(
        self,
        engine: Engine,
        *,
        upcasters: Upcasters | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self._engine = engine
        self._upcasters = upcasters if upcasters is not None else Upcasters()
        self._now = now or _utc_now
        self._sqlite = engine.dialect.name == "sqlite"

    @property
    def engine(self) -> Engine:
        return self._engine

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except LedgerError:
            raise
        except OperationalError as e:
            where = mask_url(self._engine.url)
            if self._sqlite and "locked" in str(e.orig).lower():
                raise LedgerUnavailable(
                    f"{where} stayed locked by another writer for longer than the busy timeout"
                ) from e
            raise LedgerUnavailable(f"ledger database {where} failed: {e.orig}") from e
        except DBAPIError as e:
            raise LedgerError(
                f"ledger database {mask_url(self._engine.url)} refused the operation: {e.orig}"
            ) from e

    def _write_connection(self, conn: Connection) -> Connection:
        return write_connection(conn)

    def append(
        self,
        stream: str,
        expected_version: int,
        events_: Sequence[NewEvent],
        *,
        conn: Connection | None = None,
    ) -> list[StoredEvent]:
        """Append `events_` atomically after `expected_version` (0 for a new stream).

        Returns the stored events, in batch order. If every key of the batch is already
        recorded in this stream, returns those records and writes nothing, whatever
        `expected_version` says: that is a retry of a batch that went through.

        With `conn` (a connection inside the caller's write transaction, see
        `ledger.transaction`), the batch is written on it under a savepoint and commits with
        the caller's transaction; a conflict rolls back only the savepoint, so the caller
        can decide again on the same transaction.
        """
        _check_text("stream", stream, MAX_STREAM)
        if expected_version < 0:
            raise ValueError(f"expected_version must be >= 0, got {expected_version}")
        batch = list(events_)
        if not batch:
            return []
        prepared = [self._prepare(e) for e in batch]
        self._check_batch_keys(batch)

        with self._translated():
            if conn is not None:
                return self._append_on(conn, stream, expected_version, batch, prepared)[0]
            try:
                with self._engine.connect() as raw, self._write_connection(raw) as conn:
                    with conn.begin():
                        recorded = self._recorded(conn, stream, batch)
                        if recorded is not None:
                            return recorded
                        rows = self._insert(conn, stream, expected_version, prepared)
                return [self._to_stored(r) for r in rows]
            except (IntegrityError, ConcurrencyConflict) as e:
                # On PostgreSQL a racing retry of this very batch may have committed between
                # our key lookup and our insert: that is success, not a conflict.
                with self._engine.connect() as conn:
                    recorded = self._recorded(conn, stream, batch)
                    if recorded is not None:
                        return recorded
                    if isinstance(e, ConcurrencyConflict):
                        raise
                    actual = self._current_version(conn, stream)
                raise ConcurrencyConflict(stream, expected_version, actual) from e

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction (see `ledger.transaction`), database errors translated."""
        with self._translated(), write_transaction(self._engine) as conn:
            yield conn

    def append_on(
        self, conn: Connection, stream: str, expected_version: int, events_: Sequence[NewEvent]
    ) -> tuple[list[StoredEvent], bool]:
        """`append` on the caller's transaction; also says whether the events are new
        (False: every key was already recorded, by a retry or a racing writer)."""
        _check_text("stream", stream, MAX_STREAM)
        if expected_version < 0:
            raise ValueError(f"expected_version must be >= 0, got {expected_version}")
        batch = list(events_)
        if not batch:
            return [], False
        prepared = [self._prepare(e) for e in batch]
        self._check_batch_keys(batch)
        with self._translated():
            return self._append_on(conn, stream, expected_version, batch, prepared)

    def _append_on(
        self,
        conn: Connection,
        stream: str,
        expected_version: int,
        batch: list[NewEvent],
        prepared: list[NewEvent],
    ) -> tuple[list[StoredEvent], bool]:
        try:
            with conn.begin_nested():
                recorded = self._recorded(conn, stream, batch)
                if recorded is not None:
                    return recorded, False
                rows = self._insert(conn, stream, expected_version, prepared)
        except IntegrityError as e:
            # PostgreSQL: a racing writer committed this version or one of these keys
            # while we were deciding; only our savepoint is rolled back.
            recorded = self._recorded(conn, stream, batch)
            if recorded is not None:
                return recorded, False
            raise ConcurrencyConflict(
                stream, expected_version, self._current_version(conn, stream)
            ) from e
        return [self._to_stored(r) for r in rows], True

    @staticmethod
    def _check_batch_keys(batch: list[NewEvent]) -> None:
        seen: set[str] = set()
        for event in batch:
            if event.idempotency_key in seen:
                raise IdempotencyConflict(event.idempotency_key, "appears twice in the same batch")
            seen.add(event.idempotency_key)

    def _prepare(self, event: NewEvent) -> NewEvent:
        _check_text("event type", event.type, MAX_TYPE)
        _check_text("actor", event.actor, MAX_ACTOR)
        _check_text("idempotency key", event.idempotency_key, MAX_KEY)
        if not isinstance(event.payload, dict):
            raise ValueError(f"payload of {event.type} must be a dict, got {event.payload!r}")
        if not isinstance(event.schema_version, int) or event.schema_version < 1:
            raise ValueError(f"schema_version of {event.type} must be an int >= 1")
        _check_json(event.payload, f"payload of {event.type}")
        return NewEvent(
            type=event.type,
            payload=json.loads(canonical_json(event.payload)),
            business_time=_aware(f"business_time of {event.type}", event.business_time),
            actor=event.actor,
            idempotency_key=event.idempotency_key,
            schema_version=event.schema_version,
        )

    def _recorded(
        self, conn: Connection, stream: str, batch: list[NewEvent]
    ) -> list[StoredEvent] | None:
        """The stored events if the whole batch is already recorded; None if none of it is."""
        keys = [e.idempotency_key for e in batch]
        found: dict[str, Row[Any]] = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start : start + 500]
            for row in conn.execute(select(events).where(events.c.idempotency_key.in_(chunk))):
                found[row.idempotency_key] = row
        if not found:
            return None
        for key, row in found.items():
            if row.stream != stream:
                raise IdempotencyConflict(
                    key, f"already recorded in stream {row.stream!r}, not {stream!r}"
                )
        missing = [k for k in keys if k not in found]
        if missing:
            raise IdempotencyConflict(
                next(iter(found)),
                f"already recorded in stream {stream!r} while {len(missing)} other key(s) "
                f"of the same batch (first {missing[0]!r}) are not: a different batch",
            )
        for event in batch:
            row = found[event.idempotency_key]
            if row.type != event.type:
                raise IdempotencyConflict(
                    event.idempotency_key,
                    f"recorded as a {row.type} event (version {row.version} of {stream!r}), "
                    f"not {event.type}",
                )
        return [self._to_stored(found[k]) for k in keys]

    def _current_version(self, conn: Connection, stream: str) -> int:
        head = conn.execute(
            select(events.c.version)
            .where(events.c.stream == stream)
            .order_by(events.c.version.desc())
            .limit(1)
        ).scalar()
        return head or 0

    def _insert(
        self, conn: Connection, stream: str, expected_version: int, batch: list[NewEvent]
    ) -> list[Row[Any]]:
        head = conn.execute(
            select(events.c.version, events.c.hash)
            .where(events.c.stream == stream)
            .order_by(events.c.version.desc())
            .limit(1)
        ).first()
        actual = head.version if head is not None else 0
        if actual != expected_version:
            raise ConcurrencyConflict(stream, expected_version, actual)
        prev_hash = head.hash if head is not None else GENESIS_HASH
        recorded_at = _aware("now()", self._now())
        values: list[dict[str, Any]] = []
        for offset, event in enumerate(batch, start=1):
            version = expected_version + offset
            digest = event_hash(
                prev_hash,
                stream=stream,
                version=version,
                type=event.type,
                schema_version=event.schema_version,
                payload=event.payload,
                actor=event.actor,
                business_time=event.business_time,
                recorded_at=recorded_at,
                idempotency_key=event.idempotency_key,
            )
            values.append(
                {
                    "stream": stream,
                    "version": version,
                    "type": event.type,
                    "schema_version": event.schema_version,
                    "payload": event.payload,
                    "actor": event.actor,
                    "business_time": event.business_time,
                    "recorded_at": recorded_at,
                    "idempotency_key": event.idempotency_key,
                    "prev_hash": prev_hash,
                    "hash": digest,
                }
            )
            prev_hash = digest
        if len(values) == 1:
            stmt = insert(events).returning(*events.c)
            return list(conn.execute(stmt, values[0]))
        stmt = insert(events).returning(*events.c, sort_by_parameter_order=True)
        return list(conn.execute(stmt, values))

    def _to_stored(self, row: Row[Any]) -> StoredEvent:
        schema_version, payload = self._upcasters.upcast(row.type, row.schema_version, row.payload)
        return StoredEvent(
            stream=row.stream,
            version=row.version,
            position=row.position,
            type=row.type,
            schema_version=schema_version,
            payload=payload,
            actor=row.actor,
            business_time=row.business_time,
            recorded_at=row.recorded_at,
            idempotency_key=row.idempotency_key,
            prev_hash=row.prev_hash,
            hash=row.hash,
        )

    def read(
        self,
        stream: str,
        *,
        after_version: int | None = None,
        to_version: int | None = None,
        business_time_until: datetime | None = None,
        recorded_until: datetime | None = None,
        conn: Connection | None = None,
    ) -> list[StoredEvent]:
        """The stream's events by version, upcast; the bounds are inclusive.

        `recorded_until` gives the prefix recorded by then (record order: what was known at
        that moment). With `conn`, read inside the caller's transaction.
        """
        query = select(events).where(events.c.stream == stream)
        if after_version is not None:
            query = query.where(events.c.version > after_version)
        if to_version is not None:
            query = query.where(events.c.version <= to_version)
        if business_time_until is not None:
            until = _aware("business_time_until", business_time_until)
            query = query.where(events.c.business_time <= until)
        if recorded_until is not None:
            until = _aware("recorded_until", recorded_until)
            query = query.where(events.c.recorded_at <= until)
        return self._fetch(query.order_by(events.c.version), conn)

    def _fetch(self, query: Any, conn: Connection | None = None) -> list[StoredEvent]:
        if conn is not None:
            with self._translated():
                return [self._to_stored(row) for row in conn.execute(query)]
        with self._translated(), self._engine.connect() as own:
            result = own.execution_options(yield_per=5000).execute(query)
            return [self._to_stored(row) for row in result]

    def read_replay(
        self, stream: str, *, after_version: int | None = None, conn: Connection | None = None
    ) -> list[ReplayRow]:
        """The stream's events by version, upcast, with only what replay needs (`ReplayRow`).

        The lean path of `read`: one Core query of seven columns, the
        payload decoded from its JSON text by pydantic-core's parser and, on SQLite, the
        timestamp parsed from its stored text; no result processors, no row objects, no
        `StoredEvent`. Hashes are read, not checked: `ledger.verify` checks every one.
        """
        sqlite = self._sqlite
        query = select(
            events.c.version,
            events.c.type,
            events.c.schema_version,
            # the JSON text as stored (SQLite) or rendered (PostgreSQL), decoded below
            type_coerce(events.c.payload, Text) if sqlite else cast(events.c.payload, Text),
            type_coerce(events.c.business_time, Text) if sqlite else events.c.business_time,
            events.c.actor,
            events.c.hash,
        ).where(events.c.stream == stream)
        if after_version is not None:
            query = query.where(events.c.version > after_version)
        query = query.order_by(events.c.version)
        with self._translated():
            if conn is not None:
                rows = conn.execute(query).all()
            else:
                with self._engine.connect() as own:
                    rows = own.execute(query).all()
        current = self._upcasters.current_version
        upcast = self._upcasters.upcast
        fromiso = datetime.fromisoformat
        out: list[ReplayRow] = []
        append = out.append
        for version, type_, schema_version, text, moment, actor, digest in rows:
            payload = from_json(text)
            if schema_version < current(type_):
                payload = upcast(type_, schema_version, payload)[1]
            if sqlite:  # stored naive in UTC as 'YYYY-MM-DD HH:MM:SS.ffffff'
                try:
                    moment = fromiso(moment + "+00:00")
                except ValueError:
                    moment = _stored_sqlite_moment(moment)
            append((version, type_, payload, moment, actor, digest))
        return out

    def version(self, stream: str, *, conn: Connection | None = None) -> int:
        if conn is not None:
            with self._translated():
                return self._current_version(conn, stream)
        with self._translated(), self._engine.connect() as own:
            return self._current_version(own, stream)

    def streams(self) -> list[str]:
        with self._translated(), self._engine.connect() as conn:
            return list(conn.scalars(select(events.c.stream).distinct().order_by(events.c.stream)))

    def read_all(self, *, after_position: int = 0, limit: int | None = None) -> list[StoredEvent]:
        """Events of every stream in global (position) order, after `after_position`."""
        query = select(events).where(events.c.position > after_position)
        query = query.order_by(events.c.position)
        if limit is not None:
            query = query.limit(limit)
        return self._fetch(query)

    def find(
        self, idempotency_key: str, *, conn: Connection | None = None
    ) -> StoredEvent | None:
        query = select(events).where(events.c.idempotency_key == idempotency_key)
        if conn is not None:
            with self._translated():
                row = conn.execute(query).first()
        else:
            with self._translated(), self._engine.connect() as own:
                row = own.execute(query).first()
        return self._to_stored(row) if row is not None else None
