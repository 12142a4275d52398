"""The 20 tamper cases of issue 10, each caught against a witnessed checkpoint, naming stream and event.

A ledger of three interleaved streams is checkpointed twice (the checkpoints signed with an
Ed25519 key and written to a witness file), then altered the way someone with write access to
the database would. The hash chain alone (`verify`, all there was before) misses the cases
marked `chain_misses`; `audit` against the witness file's checkpoints must catch every case and
name the stream and the first version that differs. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import shutil
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, delete, insert, select, text, update

from ledger.checkpoint import (
    RollbackSuspected,
    append_to_log,
    make_checkpoint,
    newest_of,
    public_key_hex,
    read_log,
    record_restore,
)
from ledger.db import make_engine
from ledger.store import EventStore, NewEvent
from ledger.tables import events, ledger_tree
from ledger.verify import event_hash, verify
from ledger.witnessed import AuditReport, audit

T0 = datetime(2023, 6, 20, 2, 0, tzinfo=UTC)
D1 = [
    "DirectiveIssued",
    "CycleOpened",
    "ReportSubmitted",
    "ReportSubmitted",
    "ReminderSent",
    "ConsolidationRequested",
    "ConsolidatedReportSubmitted",
    "CycleClosed",
    "CycleOpened",
    "ReminderSent",
]
D2 = ["DirectiveIssued", "CycleOpened", "Acknowledged", "ReportSubmitted"] + ["ReminderSent"] * 4
D3 = ["DirectiveIssued", "CycleOpened", "Acknowledged"]


class Ticker:
    """recorded_at for the store: a minute later at every append."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        self.now += timedelta(minutes=1)
        return self.now


@dataclass
class Witnessed:
    engine: Engine
    key: Ed25519PrivateKey
    log: Path

    def report(self) -> AuditReport:
        found, problems = read_log(self.log)
        assert not problems
        return audit(self.engine, found, trusted_keys={public_key_hex(self.key.public_key())})

    def checkpoint(self, at: datetime) -> None:
        checkpoint, _ = make_checkpoint(self.engine, self.key, at)
        append_to_log(self.log, checkpoint)


def seed(engine: Engine, witnessed: Witnessed) -> None:
    store = EventStore(engine, now=Ticker())
    plan = {"d1": D1, "d2": D2, "d3": D3}
    versions = {s: 0 for s in plan}
    step = 0
    while any(versions[s] < len(plan[s]) for s in plan):
        for stream, types in plan.items():
            v = versions[stream]
            if v >= len(types):
                continue
            store.append(
                stream,
                v,
                [
                    NewEvent(
                        types[v],
                        {"agency": "ubnd-ba-to", "cycle": "2023", "n": v + 1, "note": "Đã xong"},
                        T0 + timedelta(days=step),
                        "ubnd-ba-to",
                        f"{stream}:{v + 1}",
                    )
                ],
            )
            versions[stream] += 1
            step += 1
        if step == 9:
            witnessed.checkpoint(T0 + timedelta(days=step))
    witnessed.checkpoint(T0 + timedelta(days=step + 1))


@pytest.fixture
def ledger(engine: Engine, tmp_path: Path) -> Witnessed:
    witnessed = Witnessed(engine, Ed25519PrivateKey.generate(), tmp_path / "checkpoints.jsonl")
    seed(engine, witnessed)
    return witnessed


# -- how a forger edits ----------------------------------------------------------------------


def _row(engine: Engine, stream: str, version: int) -> Any:
    with engine.connect() as conn:
        return conn.execute(
            select(events).where(events.c.stream == stream, events.c.version == version)
        ).one()


def _set(engine: Engine, stream: str, version: int, /, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(events)
            .where(events.c.stream == stream, events.c.version == version)
            .values(**values)
        )


def _hash_of(r: Any, prev_hash: str) -> str:
    return event_hash(
        prev_hash,
        stream=r.stream,
        version=r.version,
        type=r.type,
        schema_version=r.schema_version,
        payload=r.payload,
        actor=r.actor,
        business_time=r.business_time,
        recorded_at=r.recorded_at,
        idempotency_key=r.idempotency_key,
    )


def rechain(engine: Engine, stream: str, from_version: int) -> None:
    """Recompute the hashes and links of `stream` from `from_version` on, as a forger would."""
    with engine.begin() as conn:
        rows = list(
            conn.execute(
                select(events)
                .where(events.c.stream == stream, events.c.version >= from_version - 1)
                .order_by(events.c.version)
            )
        )
        prev = rows[0].hash if rows[0].version < from_version else "0" * 64
        for r in rows:
            if r.version < from_version:
                continue
            digest = _hash_of(r, prev)
            conn.execute(
                update(events)
                .where(events.c.position == r.position)
                .values(prev_hash=prev, hash=digest)
            )
            prev = digest


def _delete(engine: Engine, stream: str, versions: range | list[int]) -> None:
    with engine.begin() as conn:
        conn.execute(
            delete(events).where(events.c.stream == stream, events.c.version.in_(list(versions)))
        )


def _newest(engine: Engine) -> Any:
    with engine.connect() as conn:
        return conn.execute(select(events).order_by(events.c.position.desc()).limit(1)).one()


def _insert(engine: Engine, values: dict[str, Any]) -> None:
    with engine.begin() as conn:
        conn.execute(insert(events).values(values))


def _forged_after(
    engine: Engine, stream: str, prev: Any, version: int, **extra: Any
) -> dict[str, Any]:
    values = {
        c: getattr(prev, c)
        for c in ("stream", "schema_version", "actor", "business_time", "recorded_at")
    }
    values.update(
        stream=stream,
        version=version,
        type="ReportSubmitted",
        payload={"agency": "ubnd-ba-to", "cycle": "2023", "text": "Báo cáo giả", "n": 0},
        idempotency_key=f"{stream}:forged",
        prev_hash=prev.hash,
    )
    values.update(extra)
    values["hash"] = event_hash(
        prev.hash, **{k: v for k, v in values.items() if k not in ("prev_hash", "position")}
    )
    return values


def edit_payload(e: Engine) -> None:
    _set(e, "d1", 3, payload={"agency": "ubnd-ba-to", "cycle": "2023", "n": 3, "note": "Sửa"})


def edit_type(e: Engine) -> None:
    _set(e, "d1", 4, type="ReportAccepted")


def edit_actor(e: Engine) -> None:
    _set(e, "d2", 2, actor="so-gddt")


def edit_business_time(e: Engine) -> None:
    _set(e, "d2", 3, business_time=T0 - timedelta(days=30))


def edit_idempotency_key(e: Engine) -> None:
    _set(e, "d1", 5, idempotency_key="d1:5-edited")


def edit_stored_hash(e: Engine) -> None:
    _set(e, "d1", 2, hash="f" * 64)


def edit_prev_hash(e: Engine) -> None:
    _set(e, "d1", 6, prev_hash="e" * 64)


def move_to_other_stream(e: Engine) -> None:
    moved = _row(e, "d2", 4)
    with e.begin() as conn:
        conn.execute(update(events).where(events.c.position == moved.position).values(stream="d3"))


def duplicate(e: Engine) -> None:
    r = _row(e, "d1", 3)
    copy = {k: v for k, v in r._asdict().items() if k != "position"}
    copy.update(version=11, idempotency_key="d1:3-copy")
    _insert(e, copy)


def swap_versions(e: Engine) -> None:
    _set(e, "d1", 3, version=-3)
    _set(e, "d1", 4, version=3)
    _set(e, "d1", -3, version=4)


def delete_middle(e: Engine) -> None:
    _delete(e, "d2", [3])


def insert_without_renumbering(e: Engine) -> None:
    # Chained after version 3 and slipped into the global order at a free position, with the
    # next free version so nothing has to move.
    prev = _row(e, "d1", 3)
    _insert(e, {**_forged_after(e, "d1", prev, 11), "position": 0})


def delete_newest(e: Engine) -> None:
    newest = _newest(e)
    _delete(e, newest.stream, [newest.version])


def delete_newest_five(e: Engine) -> None:
    _delete(e, "d1", range(6, 11))


def delete_stream(e: Engine) -> None:
    _delete(e, "d3", range(1, 4))


def cut_at_consolidated_report(e: Engine) -> None:
    _delete(e, "d1", range(7, 11))


def edit_and_recompute(e: Engine) -> None:
    _set(e, "d2", 2, payload={"agency": "ubnd-ba-to", "cycle": "2023", "n": 2, "note": "Sửa"})
    rechain(e, "d2", 2)


def edit_newest_and_recompute(e: Engine) -> None:
    _set(e, "d1", 10, actor="so-gddt")
    rechain(e, "d1", 10)


def append_forged(e: Engine) -> None:
    prev = _row(e, "d2", 8)
    # Backdated to look as if it came before the checkpoints: that is what it is forged for.
    _insert(e, _forged_after(e, "d2", prev, 9, recorded_at=T0 + timedelta(minutes=2)))


def insert_after_renumbering(e: Engine) -> None:
    at = _row(e, "d2", 3)
    with e.begin() as conn:
        conn.execute(
            update(events)
            .where(events.c.position >= at.position)
            .values(position=-events.c.position - 1)
        )
        conn.execute(
            update(events).where(events.c.position < 0).values(position=-events.c.position)
        )
        conn.execute(
            update(events)
            .where(events.c.stream == "d2", events.c.version >= 3)
            .values(version=-events.c.version - 1)
        )
        conn.execute(
            update(events)
            .where(events.c.stream == "d2", events.c.version < 0)
            .values(version=-events.c.version)
        )
    prev = _row(e, "d2", 2)
    _insert(e, {**_forged_after(e, "d2", prev, 3), "position": at.position})
    rechain(e, "d2", 3)


@dataclass(frozen=True)
class Case:
    tamper: Callable[[Engine], None]
    stream: str
    version: int
    chain_misses: bool = False


CASES = {
    "edit a payload": Case(edit_payload, "d1", 3),
    "edit a type": Case(edit_type, "d1", 4),
    "edit an actor": Case(edit_actor, "d2", 2),
    "edit a business time": Case(edit_business_time, "d2", 3),
    "edit an idempotency key": Case(edit_idempotency_key, "d1", 5),
    "edit a stored hash": Case(edit_stored_hash, "d1", 2),
    "edit a previous-hash link": Case(edit_prev_hash, "d1", 6),
    "move an event to another stream": Case(move_to_other_stream, "d2", 4),
    "duplicate an event": Case(duplicate, "d1", 11),
    "swap two events' versions": Case(swap_versions, "d1", 3),
    "delete a middle event": Case(delete_middle, "d2", 3),
    "insert mid-stream without renumbering": Case(insert_without_renumbering, "d1", 11),
    "delete the newest event": Case(delete_newest, "d1", 10, chain_misses=True),
    "delete the newest five": Case(delete_newest_five, "d1", 6, chain_misses=True),
    "delete a whole stream": Case(delete_stream, "d3", 1, chain_misses=True),
    "cut a stream at its consolidated report": Case(
        cut_at_consolidated_report, "d1", 7, chain_misses=True
    ),
    "edit a payload and recompute every later hash": Case(
        edit_and_recompute, "d2", 2, chain_misses=True
    ),
    "edit the newest event and recompute its hash": Case(
        edit_newest_and_recompute, "d1", 10, chain_misses=True
    ),
    "append a forged event with a correct hash": Case(append_forged, "d2", 9, chain_misses=True),
    "insert mid-stream after renumbering and recomputing": Case(
        insert_after_renumbering, "d2", 3, chain_misses=True
    ),
}


def test_an_untouched_ledger_satisfies_its_newest_checkpoint(ledger: Witnessed) -> None:
    report = ledger.report()
    assert report.faults == []
    assert report.newest is not None and report.newest.seq == 2
    assert report.satisfied is report.newest and report.unwitnessed == 0
    assert len(report.checked) == 2


@pytest.mark.parametrize("name", list(CASES))
def test_each_tamper_case_is_caught_and_named(ledger: Witnessed, name: str) -> None:
    case = CASES[name]
    case.tamper(ledger.engine)

    chain_only = verify(ledger.engine)
    assert (chain_only == []) is case.chain_misses, chain_only

    report = ledger.report()
    named = {(f.stream, f.version) for f in report.faults}
    assert (case.stream, case.version) in named, report.faults
    fault = next(f for f in report.faults if (f.stream, f.version) == (case.stream, case.version))
    assert repr(case.stream) in fault.message and str(case.version) in fault.message


def test_a_forger_who_also_rewrites_the_stored_tree_is_still_caught(ledger: Witnessed) -> None:
    edit_and_recompute(ledger.engine)
    with ledger.engine.begin() as conn:
        conn.execute(delete(ledger_tree))
    report = ledger.report()
    assert report.satisfied is None
    rewritten = [f for f in report.faults if f.stream == "d2"]
    # Only heads are left to go by: the first checkpoint's head of d2 (version 3) no longer
    # matches either, so the change lies at or before it.
    assert rewritten and rewritten[0].kind == "rewritten"
    assert rewritten[0].version == 1 and "at most" in rewritten[0].message


def test_a_checkpoint_signed_by_another_key_is_not_trusted(ledger: Witnessed) -> None:
    delete_newest_five(ledger.engine)
    stranger = Ed25519PrivateKey.generate()
    forged, _ = make_checkpoint(ledger.engine, stranger, T0 + timedelta(days=90), force=True)
    append_to_log(ledger.log, forged)
    report = ledger.report()
    assert any("not the server's" in f.message for f in report.faults)
    assert ("d1", 6) in {(f.stream, f.version) for f in report.faults}


def test_a_restored_backup_shows_as_rollback_until_the_restore_is_recorded(
    backend_url: str, tmp_path: Path
) -> None:
    if not backend_url.startswith("sqlite"):
        pytest.skip("a file backup is what this restores; PostgreSQL's is pg_dump, same logic")
    engine = make_engine(backend_url)
    witnessed = Witnessed(engine, Ed25519PrivateKey.generate(), tmp_path / "w.jsonl")
    seed(engine, witnessed)
    db = Path(backend_url.removeprefix("sqlite:///"))
    engine.dispose()
    backup = tmp_path / "backup.db"
    with sqlite3.connect(db) as source, sqlite3.connect(backup) as target:
        source.backup(target)
    engine = make_engine(backend_url)
    witnessed.engine = engine
    EventStore(engine).append(
        "d3", 3, [NewEvent("ReminderSent", {"n": 4}, T0 + timedelta(days=40), "system", "d3:4")]
    )
    witnessed.checkpoint(T0 + timedelta(days=41))
    engine.dispose()
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    shutil.copy(backup, db)
    engine = make_engine(backend_url)
    witnessed.engine = engine

    report = witnessed.report()
    assert report.satisfied is not None and report.satisfied.seq == 2
    assert ("d3", 4) in {(f.stream, f.version) for f in report.faults}
    found, _ = read_log(witnessed.log)
    newest = newest_of(found)
    assert newest is not None and newest.seq == 3
    with pytest.raises(RollbackSuspected, match="restored from a backup"):
        make_checkpoint(engine, witnessed.key, T0 + timedelta(days=42), witnessed=newest)

    record = record_restore(
        engine,
        witnessed.key,
        T0 + timedelta(days=42),
        witnessed=newest,
        satisfies=report.satisfied,
        operator="nguyen-van-a",
        reason="đĩa hỏng, khôi phục bản sao lưu 01/12",
    )
    append_to_log(witnessed.log, record)
    after = witnessed.report()
    assert after.faults == [] and [c.seq for c in after.superseded] == [3]
    EventStore(engine).append(
        "d3", 3, [NewEvent("ReminderSent", {"n": 4}, T0 + timedelta(days=43), "system", "d3:4b")]
    )
    found, _ = read_log(witnessed.log)
    checkpoint, made = make_checkpoint(
        engine, witnessed.key, T0 + timedelta(days=44), witnessed=newest_of(found)
    )
    append_to_log(witnessed.log, checkpoint)
    assert made and checkpoint.seq == 5
    assert witnessed.report().faults == []
    engine.dispose()


def test_checkpoints_do_not_stop_concurrent_appends(ledger: Witnessed) -> None:
    store = EventStore(ledger.engine)
    done = threading.Event()
    errors: list[BaseException] = []

    def append() -> None:
        try:
            for i in range(60):
                store.append("d4", i, [NewEvent("ReminderSent", {"i": i}, T0, "system", f"d4:{i}")])
        except BaseException as e:
            errors.append(e)
        finally:
            done.set()

    thread = threading.Thread(target=append)
    thread.start()
    made = 0
    while not done.is_set() or made == 0:
        checkpoint, new = make_checkpoint(ledger.engine, ledger.key, T0 + timedelta(days=50))
        if new:
            append_to_log(ledger.log, checkpoint)
            made += 1
    thread.join(timeout=60)
    checkpoint, new = make_checkpoint(ledger.engine, ledger.key, T0 + timedelta(days=51))
    if new:
        append_to_log(ledger.log, checkpoint)
    assert not errors
    report = ledger.report()
    assert report.faults == [] and report.unwitnessed == 0
    assert report.newest is not None and report.newest.streams["d4"][0] == 60


@pytest.mark.postgres
def test_postgres_checkpoints_cover_only_the_gap_free_prefix(
    backend_url: str, tmp_path: Path
) -> None:
    if not backend_url.startswith("postgresql"):
        pytest.skip("PostgreSQL commits positions out of order; SQLite has one writer")
    engine = make_engine(backend_url)
    witnessed = Witnessed(engine, Ed25519PrivateKey.generate(), tmp_path / "w.jsonl")
    store = EventStore(engine)
    store.append("p", 0, [NewEvent("DirectiveIssued", {}, T0, "operator", "p:1")])
    # A permanent gap: an append whose transaction rolls back still used up a position.
    with engine.connect() as conn:
        conn.execute(text("BEGIN"))
        conn.execute(insert(events).values(_plain("q", 1, "q:rolled-back")))
        conn.execute(text("ROLLBACK"))
    store.append("p", 1, [NewEvent("CycleOpened", {}, T0, "system", "p:2")])
    # An open transaction holds the next position while a later one commits.
    slow = engine.connect()
    slow.execute(insert(events).values(_plain("q", 1, "q:1")))
    store.append("p", 2, [NewEvent("ReminderSent", {}, T0, "system", "p:3")])

    first, _ = make_checkpoint(engine, witnessed.key, T0, wait_seconds=0.05)
    # While a transaction is open, no gap can be told from its position: the checkpoint stops
    # before the first one (the rolled-back position), leaving p:2 and p:3 for later.
    assert first.streams == {"p": (1, _row(engine, "p", 1).hash)} and first.size == 1
    slow.commit()
    slow.close()
    second, made = make_checkpoint(engine, witnessed.key, T0)
    assert made and second.streams["p"][0] == 3 and second.streams["q"][0] == 1
    append_to_log(witnessed.log, first)
    append_to_log(witnessed.log, second)
    assert witnessed.report().faults == []
    engine.dispose()


def _plain(stream: str, version: int, key: str) -> dict[str, Any]:
    values: dict[str, Any] = {
        "stream": stream,
        "version": version,
        "type": "DirectiveIssued",
        "schema_version": 1,
        "payload": {},
        "actor": "operator",
        "business_time": T0,
        "recorded_at": T0,
        "idempotency_key": key,
        "prev_hash": "0" * 64,
    }
    values["hash"] = event_hash("0" * 64, **{k: v for k, v in values.items() if k != "prev_hash"})
    return values
