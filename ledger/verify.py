"""Hash chain of the ledger and its verification: has anyone edited, removed or moved an event?

Every stream (one directive) carries its own chain. An event's hash is the SHA-256 (hex) of
the canonical JSON of its fields (stream, version, type, schema_version, payload as stored,
actor, business_time, recorded_at, idempotency_key) plus the previous event's hash; the first
event of a stream links to GENESIS_HASH. Canonical JSON: sort_keys, separators (",", ":"),
ensure_ascii=False, UTF-8; datetimes as ISO-8601 in UTC with microseconds
("2025-03-01T08:00:00.000000+00:00"), so SQLite (naive on read-back) and PostgreSQL (aware)
give the same hash. The global `position` is not hashed: it is assigned by the database.

`verify` walks each stream in version order, reading raw rows (no upcasting), and reports the
first fault of each stream, classified like this:

- "edited": the row's content no longer matches its own hash (any field, or the hash itself).
- "reordered": the row's hash matches only under the version of another row that in turn
  matches under this row's version (two versions swapped), or the rows' global positions run
  against their versions (positions swapped).
- "removed": versions have a gap (the fault carries the first missing version and names the
  event after the gap), or the row's hash matches only under a *higher* version than it now
  has (earlier events were deleted and later ones renumbered down).
- "inserted": the row's hash matches only under a *lower* version (something was slipped in
  before it and it was pushed up), or the row is self-consistent and in sequence but does not
  link to the hash of the event before it (a forged or transplanted row; this is also what a
  rewritten predecessor with a recomputed hash looks like, which the chain cannot tell apart).

What a chain without an outside anchor cannot see: deletion of the newest events of a stream
(truncation) or a whole stream, and a forger who recomputes every hash after the change.
Guarding against those needs the head hash recorded elsewhere.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Engine, func, select
from sqlalchemy.engine import Connection, Row

from ledger.tables import events

GENESIS_HASH = "0" * 64

FaultKind = Literal[
    "edited",
    "removed",
    "reordered",
    "inserted",
    # found against a witnessed checkpoint (ledger.witnessed)
    "truncated",
    "rewritten",
    "forged",
    "checkpoint",
]


@dataclass(frozen=True)
class ChainFault:
    stream: str
    version: int | None
    position: int | None
    idempotency_key: str | None
    kind: FaultKind
    message: str


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def iso_utc(moment: datetime) -> str:
    """ISO-8601 in UTC with microseconds; a naive value is taken to be UTC already."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def event_hash(
    prev_hash: str,
    *,
    stream: str,
    version: int,
    type: str,
    schema_version: int,
    payload: Any,
    actor: str,
    business_time: datetime,
    recorded_at: datetime,
    idempotency_key: str,
) -> str:
    document = {
        "stream": stream,
        "version": version,
        "type": type,
        "schema_version": schema_version,
        "payload": payload,
        "actor": actor,
        "business_time": iso_utc(business_time),
        "recorded_at": iso_utc(recorded_at),
        "idempotency_key": idempotency_key,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(canonical_json(document).encode("utf-8")).hexdigest()


def _row_hash(row: Row[Any], *, version: int | None = None) -> str:
    return event_hash(
        row.prev_hash,
        stream=row.stream,
        version=row.version if version is None else version,
        type=row.type,
        schema_version=row.schema_version,
        payload=row.payload,
        actor=row.actor,
        business_time=row.business_time,
        recorded_at=row.recorded_at,
        idempotency_key=row.idempotency_key,
    )


def _describe(row: Row[Any]) -> str:
    return (
        f"event version {row.version} of stream {row.stream!r} "
        f"({row.type}, idempotency key {row.idempotency_key!r}, position {row.position})"
    )


def verify(engine: Engine, stream: str | None = None) -> list[ChainFault]:
    """Check the chain of one stream, or of every stream; an empty list means intact."""
    faults: list[ChainFault] = []
    with engine.connect() as conn:
        if stream is None:
            names: Iterable[str] = list(
                conn.scalars(select(events.c.stream).distinct().order_by(events.c.stream))
            )
        else:
            names = [stream]
        for name in names:
            fault = _verify_stream(conn, name)
            if fault is not None:
                faults.append(fault)
    return faults


def _verify_stream(conn: Connection, stream: str) -> ChainFault | None:
    query = select(events).where(events.c.stream == stream).order_by(events.c.version)
    result = conn.execution_options(yield_per=2000).execute(query)
    try:
        prev: Row[Any] | None = None
        for row in result:
            fault = _check(conn, stream, row, prev)
            if fault is not None:
                return fault
            prev = row
    finally:
        result.close()
    return None


def _check(
    conn: Connection, stream: str, row: Row[Any], prev: Row[Any] | None
) -> ChainFault | None:
    expected_version = 1 if prev is None else prev.version + 1
    expected_prev_hash = GENESIS_HASH if prev is None else prev.hash

    if _row_hash(row) != row.hash:
        return _classify_mismatch(conn, stream, row)

    if row.version > expected_version:
        missing = (
            f"version {expected_version}"
            if row.version == expected_version + 1
            else f"versions {expected_version} to {row.version - 1}"
        )
        return ChainFault(
            stream=stream,
            version=expected_version,
            position=None,
            idempotency_key=None,
            kind="removed",
            message=(
                f"stream {stream!r}: {missing} missing (removed); the chain resumes at "
                f"{_describe(row)}"
            ),
        )

    if row.version < expected_version or row.prev_hash != expected_prev_hash:
        before = "the start of the stream" if prev is None else f"version {prev.version}"
        return ChainFault(
            stream=stream,
            version=row.version,
            position=row.position,
            idempotency_key=row.idempotency_key,
            kind="inserted",
            message=(
                f"{_describe(row)} does not link to {before}: it was inserted or rewritten, "
                f"or what precedes it was replaced"
            ),
        )

    if prev is not None and row.position < prev.position:
        return ChainFault(
            stream=stream,
            version=row.version,
            position=row.position,
            idempotency_key=row.idempotency_key,
            kind="reordered",
            message=(
                f"{_describe(row)} sits before version {prev.version} "
                f"(position {prev.position}) in the global order: positions were swapped"
            ),
        )
    return None


def _classify_mismatch(conn: Connection, stream: str, row: Row[Any]) -> ChainFault:
    def fault(kind: FaultKind, message: str) -> ChainFault:
        return ChainFault(
            stream=stream,
            version=row.version,
            position=row.position,
            idempotency_key=row.idempotency_key,
            kind=kind,
            message=message,
        )

    original = _original_version(conn, stream, row)
    if original is None:
        return fault(
            "edited", f"{_describe(row)} was edited: its content no longer matches its hash"
        )

    partner = conn.execute(
        select(events).where(events.c.stream == stream, events.c.version == original)
    ).first()
    if partner is not None and _row_hash(partner, version=row.version) == partner.hash:
        return fault(
            "reordered",
            f"{_describe(row)} was recorded as version {original}: it swapped versions with "
            f"{partner.type} (idempotency key {partner.idempotency_key!r})",
        )
    if original > row.version:
        return fault(
            "removed",
            f"{_describe(row)} was recorded as version {original}: events before it were "
            f"removed and it was renumbered",
        )
    return fault(
        "inserted",
        f"{_describe(row)} was recorded as version {original}: something was inserted "
        f"before it and it was renumbered",
    )


def _original_version(conn: Connection, stream: str, row: Row[Any]) -> int | None:
    """The version under which `row` hashes correctly, if a version change is all that broke it."""
    top = conn.scalar(select(func.max(events.c.version)).where(events.c.stream == stream)) or 0
    limit = max(top, row.version) + 1
    for distance in range(1, limit + 1):
        for candidate in (row.version - distance, row.version + distance):
            if 1 <= candidate <= limit and _row_hash(row, version=candidate) == row.hash:
                return candidate
    return None
