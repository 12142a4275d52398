"""Tampering with the stored events is caught by verify(), which names the event concerned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import Engine, delete, insert, select, update

from ledger.store import EventStore, NewEvent
from ledger.tables import events
from ledger.verify import GENESIS_HASH, event_hash, verify

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=timezone(timedelta(hours=7)))


def seed(engine: Engine, stream: str = "d1", n: int = 5) -> list[str]:
    keys = [f"{stream}/e{i}" for i in range(1, n + 1)]
    EventStore(engine).append(
        stream,
        0,
        [
            NewEvent(
                "DirectiveIssued" if i == 0 else "ReportSubmitted",
                {"i": i, "note": "Đã hoàn thành"},
                T0 + timedelta(days=i),
                "so-y-te",
                key,
            )
            for i, key in enumerate(keys)
        ],
    )
    return keys


def set_version(engine: Engine, stream: str, old: int, new: int) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(events)
            .where(events.c.stream == stream, events.c.version == old)
            .values(version=new)
        )


def row(engine: Engine, stream: str, version: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            select(events).where(events.c.stream == stream, events.c.version == version)
        ).one()


def forged_hash(r: Any, *, version: int, prev_hash: str) -> str:
    return event_hash(
        prev_hash,
        stream=r.stream,
        version=version,
        type=r.type,
        schema_version=r.schema_version,
        payload=r.payload,
        actor=r.actor,
        business_time=r.business_time,
        recorded_at=r.recorded_at,
        idempotency_key=r.idempotency_key,
    )


def test_an_untouched_ledger_verifies(engine: Engine) -> None:
    seed(engine, "d1")
    seed(engine, "d2", 1)
    assert verify(engine) == []
    assert verify(engine, "d1") == []
    assert verify(engine, "no-such-stream") == []


def test_an_edited_payload_is_caught_and_named(engine: Engine) -> None:
    keys = seed(engine)
    with engine.begin() as conn:
        conn.execute(
            update(events)
            .where(events.c.idempotency_key == keys[2])
            .values(payload={"i": 2, "note": "Chưa hoàn thành"})
        )

    [fault] = verify(engine)

    assert (fault.stream, fault.version, fault.idempotency_key, fault.kind) == (
        "d1",
        3,
        keys[2],
        "edited",
    )
    assert "version 3" in fault.message and "'d1'" in fault.message
    assert "ReportSubmitted" in fault.message and keys[2] in fault.message


@pytest.mark.parametrize(
    "column, value",
    [
        ("actor", "operator"),
        ("business_time", datetime(2025, 1, 1, tzinfo=UTC)),
        ("recorded_at", datetime(2025, 1, 1, tzinfo=UTC)),
        ("type", "DirectiveCancelled"),
        ("hash", "f" * 64),
        ("schema_version", 2),
    ],
)
def test_any_edited_field_is_caught(engine: Engine, column: str, value: Any) -> None:
    keys = seed(engine)
    with engine.begin() as conn:
        conn.execute(
            update(events).where(events.c.idempotency_key == keys[1]).values({column: value})
        )
    [fault] = verify(engine)
    assert (fault.version, fault.kind) == (2, "edited")


def test_a_deleted_row_is_caught_and_the_gap_named(engine: Engine) -> None:
    keys = seed(engine)
    with engine.begin() as conn:
        conn.execute(delete(events).where(events.c.idempotency_key == keys[1]))

    [fault] = verify(engine)

    assert (fault.stream, fault.version, fault.kind) == ("d1", 2, "removed")
    assert "version 2 missing" in fault.message
    assert keys[2] in fault.message and "version 3" in fault.message


def test_a_deleted_first_row_is_caught(engine: Engine) -> None:
    keys = seed(engine)
    with engine.begin() as conn:
        conn.execute(delete(events).where(events.c.idempotency_key == keys[0]))
    [fault] = verify(engine)
    assert (fault.version, fault.kind) == (1, "removed")


def test_two_rows_with_swapped_versions_are_reordered(engine: Engine) -> None:
    keys = seed(engine)
    set_version(engine, "d1", 2, -1)
    set_version(engine, "d1", 4, 2)
    set_version(engine, "d1", -1, 4)

    [fault] = verify(engine)

    assert (fault.stream, fault.version, fault.idempotency_key, fault.kind) == (
        "d1",
        2,
        keys[3],
        "reordered",
    )
    assert keys[3] in fault.message and keys[1] in fault.message
    assert "recorded as version 4" in fault.message


def test_two_rows_with_swapped_positions_are_reordered(engine: Engine) -> None:
    keys = seed(engine)
    a, b = row(engine, "d1", 2).position, row(engine, "d1", 3).position
    with engine.begin() as conn:
        conn.execute(update(events).where(events.c.position == a).values(position=-1))
        conn.execute(update(events).where(events.c.position == b).values(position=a))
        conn.execute(update(events).where(events.c.position == -1).values(position=b))

    [fault] = verify(engine)

    assert (fault.version, fault.idempotency_key, fault.kind) == (3, keys[2], "reordered")
    assert "positions were swapped" in fault.message


def test_a_row_slipped_in_with_a_valid_hash_is_inserted(engine: Engine) -> None:
    keys = seed(engine)
    for version in (5, 4, 3):
        set_version(engine, "d1", version, version + 1)
    before = row(engine, "d1", 2)
    forged = {
        **before._asdict(),
        "version": 3,
        "idempotency_key": "forged",
        "payload": {"i": 99},
        "prev_hash": before.hash,
    }
    del forged["position"]
    forged["hash"] = event_hash(
        before.hash, **{k: v for k, v in forged.items() if k not in ("hash", "prev_hash")}
    )
    with engine.begin() as conn:
        conn.execute(insert(events).values(forged))

    [fault] = verify(engine)

    assert (fault.version, fault.idempotency_key, fault.kind) == (4, keys[2], "inserted")
    assert "recorded as version 3" in fault.message


def test_a_relinked_row_is_reported_as_inserted(engine: Engine) -> None:
    keys = seed(engine)
    r = row(engine, "d1", 3)
    with engine.begin() as conn:
        conn.execute(
            update(events)
            .where(events.c.idempotency_key == keys[2])
            .values(prev_hash=GENESIS_HASH, hash=forged_hash(r, version=3, prev_hash=GENESIS_HASH))
        )
    [fault] = verify(engine)
    assert (fault.version, fault.idempotency_key, fault.kind) == (3, keys[2], "inserted")


def test_the_first_fault_of_each_stream_is_reported(engine: Engine) -> None:
    a = seed(engine, "a")
    seed(engine, "b")
    c = seed(engine, "c")
    with engine.begin() as conn:
        for key in (a[1], a[3], c[4]):
            conn.execute(update(events).where(events.c.idempotency_key == key).values(actor="x"))

    faults = verify(engine)

    assert [(f.stream, f.version, f.kind) for f in faults] == [
        ("a", 2, "edited"),
        ("c", 5, "edited"),
    ]
    assert [f.stream for f in verify(engine, "c")] == ["c"]
    assert verify(engine, "b") == []


def test_upcasting_and_timezones_do_not_disturb_the_chain(engine: Engine) -> None:
    store = EventStore(engine, now=lambda: datetime(2025, 3, 3, 23, 59, 59, 999999, tzinfo=UTC))
    store.append(
        "tz",
        0,
        [
            NewEvent(
                "T",
                {"n": 1},
                datetime(2025, 3, 3, 6, 59, tzinfo=timezone(timedelta(hours=-5))),
                "a",
                "tz/1",
            )
        ],
    )
    assert verify(engine) == []
