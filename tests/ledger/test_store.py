"""The event store against real SQLite files and a real PostgreSQL: appends, conflicts, reads."""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import signal
import subprocess
import sys
import textwrap
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, insert, select

from ledger.db import ensure_schema, make_engine, sqlite_url_for
from ledger.errors import (
    ConcurrencyConflict,
    IdempotencyConflict,
    LedgerError,
    LedgerUnavailable,
)
from ledger.migrations.runner import current_revision, head_revision
from ledger.store import EventStore, NewEvent, StoredEvent
from ledger.tables import events, metadata, outbox
from ledger.upcast import Upcasters
from ledger.verify import GENESIS_HASH, canonical_json, event_hash, verify
from tests.pg import throwaway_database

ICT = timezone(timedelta(hours=7))
T0 = datetime(2025, 3, 3, 8, 0, tzinfo=ICT)
REPO = Path(__file__).resolve().parents[2]


def ev(key: str, type: str = "ReportSubmitted", **payload: Any) -> NewEvent:
    return NewEvent(
        type=type,
        payload=payload or {"agency": "so-tai-chinh", "note": "Báo cáo tiến độ"},
        business_time=T0,
        actor="so-tai-chinh",
        idempotency_key=key,
    )


def count_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(events)) or 0)


class Clock:
    def __init__(self) -> None:
        self.moment = datetime(2025, 3, 3, 1, 0, 0, 123456, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.moment += timedelta(seconds=1)
        return self.moment


# --- round trip -------------------------------------------------------------------------


def test_append_then_read_gives_back_the_events_chained(engine: Engine) -> None:
    clock = Clock()
    store = EventStore(engine, now=clock)
    batch = [ev("d1/issued", "DirectiveIssued", number="12/CT-UBND"), ev("d1/r1"), ev("d1/r2")]

    stored = store.append("d1", 0, batch)

    assert [e.version for e in stored] == [1, 2, 3]
    assert [e.idempotency_key for e in stored] == ["d1/issued", "d1/r1", "d1/r2"]
    assert stored[0].payload == {"number": "12/CT-UBND"}
    assert stored[0].prev_hash == GENESIS_HASH
    assert [e.prev_hash for e in stored[1:]] == [e.hash for e in stored[:-1]]
    assert stored[0].position < stored[1].position
    assert stored[1].position < stored[2].position
    for e in stored:
        assert e.business_time == T0 and e.business_time.tzinfo is UTC
        assert e.recorded_at == datetime(2025, 3, 3, 1, 0, 1, 123456, tzinfo=UTC)
        assert e.hash == event_hash(
            e.prev_hash,
            stream=e.stream,
            version=e.version,
            type=e.type,
            schema_version=e.schema_version,
            payload=e.payload,
            actor=e.actor,
            business_time=e.business_time,
            recorded_at=e.recorded_at,
            idempotency_key=e.idempotency_key,
        )
    assert store.read("d1") == stored
    assert store.version("d1") == 3
    assert store.version("nothing-here") == 0
    assert store.read("nothing-here") == []


def test_reads_filter_by_version_business_time_and_position(engine: Engine) -> None:
    store = EventStore(engine)
    days = [T0 + timedelta(days=i) for i in range(4)]
    store.append(
        "d2",
        0,
        [NewEvent("ReportSubmitted", {"n": i}, day, "a", f"d2/{i}") for i, day in enumerate(days)],
    )
    store.append("d1", 0, [ev("d1/0")])

    assert [e.version for e in store.read("d2", to_version=2)] == [1, 2]
    assert [e.version for e in store.read("d2", business_time_until=days[1])] == [1, 2]
    until_utc = days[2].astimezone(UTC)
    assert [e.version for e in store.read("d2", business_time_until=until_utc)] == [1, 2, 3]
    assert store.streams() == ["d1", "d2"]

    everything = store.read_all()
    assert [e.position for e in everything] == sorted(e.position for e in everything)
    assert [e.idempotency_key for e in everything] == ["d2/0", "d2/1", "d2/2", "d2/3", "d1/0"]
    page = store.read_all(after_position=everything[1].position, limit=2)
    assert page == everything[2:4]
    assert store.find("d2/2") == everything[2]
    assert store.find("no-such-key") is None


def test_same_events_hash_the_same_on_every_backend(engine: Engine) -> None:
    store = EventStore(engine, now=lambda: datetime(2025, 3, 3, 9, 30, tzinfo=ICT))
    stored = store.append(
        "so-42/2025",
        0,
        [
            NewEvent(
                "DirectiveIssued",
                {"tiêu_đề": "Chỉ thị về phòng chống bão", "hạn": "2025-03-31", "số": 42},
                datetime(2025, 3, 3, 8, 0, 0, 1, tzinfo=ICT),
                "ubnd-tinh",
                "so-42/issued",
            )
        ],
    )
    canonical = (
        '{"actor":"ubnd-tinh","business_time":"2025-03-03T01:00:00.000001+00:00",'
        '"idempotency_key":"so-42/issued",'
        '"payload":{"hạn":"2025-03-31","số":42,"tiêu_đề":"Chỉ thị về phòng chống bão"},'
        f'"prev_hash":"{GENESIS_HASH}","recorded_at":"2025-03-03T02:30:00.000000+00:00",'
        '"schema_version":1,"stream":"so-42/2025","type":"DirectiveIssued","version":1}'
    )
    assert stored[0].hash == hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    assert stored[0].hash == "32667f0c933ce5ad191f1a5a78875386db6d13037246af36c4043342b88e1d09"


# --- optimistic concurrency ------------------------------------------------------------


def test_stale_expected_version_is_a_concurrency_conflict(engine: Engine) -> None:
    store = EventStore(engine)
    store.append("d1", 0, [ev("a"), ev("b")])

    with pytest.raises(ConcurrencyConflict) as caught:
        store.append("d1", 1, [ev("c")])

    conflict = caught.value
    assert (conflict.stream, conflict.expected_version, conflict.actual_version) == ("d1", 1, 2)
    assert "'d1'" in str(conflict) and "1" in str(conflict) and "2" in str(conflict)
    with pytest.raises(ConcurrencyConflict):
        store.append("new-stream", 3, [ev("d")])
    assert count_rows(engine) == 2
    assert isinstance(conflict, LedgerError)


def test_racing_writers_exactly_one_wins_each_version(engine: Engine) -> None:
    writers = 6
    store = EventStore(engine)
    barrier = threading.Barrier(writers)
    first_round: list[str] = []
    conflicts: list[ConcurrencyConflict] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def write(n: int) -> None:
        try:
            barrier.wait()
            try:
                store.append("race", 0, [ev(f"race/{n}/0")])
                with lock:
                    first_round.append(f"race/{n}/0")
            except ConcurrencyConflict as c:
                with lock:
                    conflicts.append(c)
            for attempt in itertools.count(1):
                if f"race/{n}/0" in first_round:
                    return
                try:
                    store.append("race", store.version("race"), [ev(f"race/{n}/{attempt}")])
                    return
                except ConcurrencyConflict:
                    continue
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)

    assert errors == []
    assert len(first_round) == 1
    assert len(conflicts) == writers - 1
    assert all(c.expected_version == 0 and c.actual_version >= 1 for c in conflicts)
    read = store.read("race")
    assert [e.version for e in read] == list(range(1, writers + 1))
    assert verify(engine, "race") == []


def test_a_writer_that_loses_while_waiting_gets_a_concurrency_conflict(engine: Engine) -> None:
    """SQLite: the append queues on the write lock; PostgreSQL: on the unique index."""
    store = EventStore(engine)
    outcome: list[BaseException | list[StoredEvent]] = []

    def append() -> None:
        try:
            outcome.append(store.append("held", 0, [ev("held/mine")]))
        except BaseException as e:
            outcome.append(e)

    with engine.connect() as raw:
        conn = raw.execution_options(ledger_sqlite_begin="IMMEDIATE")
        with conn.begin():
            conn.execute(
                insert(events).values(
                    stream="held",
                    version=1,
                    type="T",
                    schema_version=1,
                    payload={},
                    actor="a",
                    business_time=T0,
                    recorded_at=T0,
                    idempotency_key="held/theirs",
                    prev_hash=GENESIS_HASH,
                    hash="f" * 64,
                )
            )
            writer = threading.Thread(target=append)
            writer.start()
            writer.join(timeout=0.5)
            assert writer.is_alive(), "the append should wait for the open transaction"
        writer.join(timeout=10)

    [result] = outcome
    assert isinstance(result, ConcurrencyConflict), result
    assert (result.expected_version, result.actual_version) == (0, 1)


# --- idempotency -----------------------------------------------------------------------


def test_reappending_a_recorded_batch_returns_it_and_writes_nothing(engine: Engine) -> None:
    store = EventStore(engine)
    batch = [ev("d1/a"), ev("d1/b")]
    first = store.append("d1", 0, batch)
    store.append("d1", 2, [ev("d1/c")])

    again = store.append("d1", 0, batch)
    reversed_again = store.append("d1", 3, list(reversed(batch)))

    assert again == first
    assert reversed_again == list(reversed(first))
    assert count_rows(engine) == 3
    assert store.version("d1") == 3


def test_partly_recorded_batch_is_an_idempotency_conflict(engine: Engine) -> None:
    store = EventStore(engine)
    store.append("d1", 0, [ev("d1/a")])

    with pytest.raises(IdempotencyConflict) as caught:
        store.append("d1", 1, [ev("d1/a"), ev("d1/b")])
    assert caught.value.key == "d1/a"
    assert "d1/a" in str(caught.value)

    with pytest.raises(IdempotencyConflict) as elsewhere:
        store.append("d2", 0, [ev("d1/a")])
    assert "'d1'" in str(elsewhere.value)

    with pytest.raises(IdempotencyConflict):
        store.append("d1", 1, [ev("d1/a", type="DeadlineExtended")])

    with pytest.raises(IdempotencyConflict):
        store.append("d1", 1, [ev("dup"), ev("dup")])
    assert count_rows(engine) == 1


def test_racing_retries_of_one_batch_record_it_once(engine: Engine) -> None:
    store = EventStore(engine)
    barrier = threading.Barrier(4)
    results: list[list[StoredEvent]] = []
    errors: list[BaseException] = []

    def retry() -> None:
        try:
            barrier.wait()
            results.append(store.append("d1", 0, [ev("d1/x"), ev("d1/y")]))
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=retry) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert errors == []
    assert len(results) == 4 and all(r == results[0] for r in results)
    assert count_rows(engine) == 2


# --- upcasting -------------------------------------------------------------------------


def test_reads_upcast_old_payloads_and_hashes_cover_the_stored_payload(engine: Engine) -> None:
    def v1_to_v2(p: dict[str, Any]) -> dict[str, Any]:
        return {"agency_id": p["agency"], "note": p.get("note", "")}

    def v2_to_v3(p: dict[str, Any]) -> dict[str, Any]:
        return {**p, "channel": "email"}

    upcasters = Upcasters()
    upcasters.register("ReportSubmitted", 1, v1_to_v2)
    upcasters.register("ReportSubmitted", 2, v2_to_v3)
    assert upcasters.current_version("ReportSubmitted") == 3
    assert upcasters.current_version("DirectiveIssued") == 1

    EventStore(engine).append("d1", 0, [ev("old", agency="so-y-te", note="xong")])
    store = EventStore(engine, upcasters=upcasters)
    store.append(
        "d1",
        1,
        [NewEvent("ReportSubmitted", {"agency_id": "so-gd", "note": ""}, T0, "so-gd", "new", 2)],
    )

    read = store.read("d1")
    assert [(e.schema_version, e.payload) for e in read] == [
        (3, {"agency_id": "so-y-te", "note": "xong", "channel": "email"}),
        (3, {"agency_id": "so-gd", "note": "", "channel": "email"}),
    ]
    assert store.find("old") == read[0]
    assert EventStore(engine).read("d1")[0].payload == {"agency": "so-y-te", "note": "xong"}
    assert verify(engine) == []

    gappy = Upcasters()
    gappy.register("ReportSubmitted", 2, v2_to_v3)
    with pytest.raises(LedgerError, match="no upcaster"):
        EventStore(engine, upcasters=gappy).read("d1")


# --- inputs ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        NewEvent("T", {"x": 1.5}, T0, "a", "k"),
        NewEvent("T", {"x": "nul\x00"}, T0, "a", "k"),
        NewEvent("T", {"x": 1}, datetime(2025, 1, 1), "a", "k"),
        NewEvent("T", {"x": 1}, T0, "a", ""),
        NewEvent("T", {"x": 1}, T0, "a", "k" * 301),
    ],
)
def test_unusable_events_are_refused_before_touching_the_database(
    engine: Engine, bad: NewEvent
) -> None:
    with pytest.raises(ValueError):
        EventStore(engine).append("d1", 0, [bad])
    assert count_rows(engine) == 0


# --- crash safety ----------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from ledger.db import make_engine
    from ledger.store import EventStore, NewEvent

    url, stream, run = sys.argv[1], sys.argv[2], sys.argv[3]
    store = EventStore(make_engine(url))
    version = store.version(stream)
    now = datetime.now(UTC)
    for batch in range(1_000_000):
        size = 1 + batch % 4
        events = [
            NewEvent("Tick", {"run": run, "batch": batch, "i": i, "of": size}, now, "system",
                     f"{stream}/{run}/{batch}/{i}")
            for i in range(size)
        ]
        store.append(stream, version, events)
        version += size
        if batch == 0:
            print("appending", flush=True)
    """
)


def test_sigkill_mid_append_leaves_the_ledger_valid(engine: Engine, backend_url: str) -> None:
    rng = random.Random(7)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for run in range(4):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, backend_url, "crash", str(run)],
            stdout=subprocess.PIPE,
            env=env,
            cwd=REPO,
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == b"appending"
        threading.Event().wait(rng.uniform(0.01, 0.15))
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        assert child.returncode == -signal.SIGKILL

    assert verify(engine) == []
    store = EventStore(engine)
    read = store.read("crash")
    assert len(read) > 4
    assert [e.version for e in read] == list(range(1, len(read) + 1))
    batches: dict[tuple[str, int], list[int]] = {}
    for e in read:
        batches.setdefault((e.payload["run"], e.payload["batch"]), []).append(e.payload["i"])
    for (run_id, batch), items in batches.items():
        assert items == list(range(1 + batch % 4)), f"batch {batch} of run {run_id} is partial"
    store.append("crash", len(read), [ev("after-the-crash")])
    assert verify(engine) == []


# --- engines and schema ----------------------------------------------------------------


def test_sqlite_engine_is_durable_and_creates_its_directory(tmp_path: Path) -> None:
    url = sqlite_url_for(tmp_path / "nested" / "home")
    assert url == f"sqlite:///{tmp_path}/nested/home/chidao.db"
    engine = make_engine(url)
    try:
        assert (tmp_path / "nested" / "home").is_dir()
        with engine.connect() as conn:
            pragma = {
                name: conn.exec_driver_sql(f"PRAGMA {name}").scalar()
                for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
            }
        assert pragma == {
            "journal_mode": "wal",
            "synchronous": 2,
            "busy_timeout": 10_000,
            "foreign_keys": 1,
        }
    finally:
        engine.dispose()


def test_bad_urls_raise_ledger_unavailable_naming_the_url(tmp_path: Path) -> None:
    with pytest.raises(LedgerUnavailable, match="nosuchdb://x"):
        make_engine("nosuchdb://x")
    with pytest.raises(LedgerUnavailable, match="not a url"):
        make_engine("not a url")
    with pytest.raises(LedgerUnavailable) as caught:
        make_engine("postgresql://chidao:hunter2@127.0.0.1:1/ledger")
    message = str(caught.value)
    assert "127.0.0.1:1" in message and "chidao:***@" in message and "hunter2" not in message
    assert isinstance(caught.value.__cause__, Exception)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(LedgerUnavailable, match="a-file"):
        make_engine(f"sqlite:///{blocker}/chidao.db")


@pytest.mark.postgres
def test_postgresql_urls_use_psycopg_3() -> None:
    with throwaway_database() as url:
        engine = make_engine(url)
        try:
            assert engine.url.drivername == "postgresql+psycopg"
        finally:
            engine.dispose()


def test_schema_matches_the_tables_module_and_migrating_twice_is_harmless(
    engine: Engine,
) -> None:
    ensure_schema(engine)
    with engine.connect() as conn:
        assert current_revision(conn) == head_revision()
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def test_concurrent_ensure_schema_on_a_fresh_database(tmp_path: Path) -> None:
    def race(url: str) -> None:
        engines = [make_engine(url) for _ in range(3)]
        errors: list[BaseException] = []
        barrier = threading.Barrier(len(engines))

        def migrate(engine: Engine) -> None:
            try:
                barrier.wait()
                ensure_schema(engine)
            except BaseException as e:
                errors.append(e)

        threads = [threading.Thread(target=migrate, args=(e,)) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        try:
            assert errors == []
            EventStore(engines[0]).append("d1", 0, [ev("k")])
        finally:
            for e in engines:
                e.dispose()

    race(sqlite_url_for(tmp_path))
    with throwaway_database() as url:
        race(url)


def test_auxiliary_tables_round_trip(engine: Engine) -> None:
    now = datetime(2025, 3, 3, 9, 0, tzinfo=ICT)
    with engine.begin() as conn:
        conn.execute(
            insert(outbox).values(
                key="plan/d1/remind/so-y-te",
                directive="d1",
                agency="so-y-te",
                kind="reminder",
                recipient="vanthu@soyte.example.gov.vn",
                subject="Nhắc hạn báo cáo",
                body_text="…",
                body_html="<p>…</p>",
                message_id="<1@chidao>",
                language="vi",
                status="pending",
                action_keys=["plan/d1/remind/so-y-te"],
                created_at=now,
                updated_at=now,
            )
        )
    with engine.connect() as conn:
        row = conn.execute(select(outbox)).one()
    assert row.attempts == 0 and row.sent_at is None
    assert row.created_at == now and row.created_at.tzinfo is UTC
    assert row.action_keys == ["plan/d1/remind/so-y-te"]


# --- property --------------------------------------------------------------------------

_text = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    max_size=12,
)
_json: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=12,
)
_event_draft = st.tuples(
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij", min_size=1, max_size=30),
    st.dictionaries(_text, _json, max_size=5),
    st.datetimes(
        min_value=datetime(1990, 1, 1),
        max_value=datetime(2100, 1, 1),
        timezones=st.sampled_from([UTC, ICT, timezone(timedelta(hours=-3, minutes=-30))]),
    ),
    _text.filter(bool),
)
_streams = itertools.count()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    stream_name=_text.filter(bool),
    batches=st.lists(st.lists(_event_draft, min_size=1, max_size=4), min_size=1, max_size=3),
)
def test_random_batches_read_back_as_written(
    engine: Engine, stream_name: str, batches: list[list[tuple[Any, ...]]]
) -> None:
    store = EventStore(engine)
    stream = f"{next(_streams)}:{stream_name}"
    written: list[StoredEvent] = []
    drafts: list[NewEvent] = []
    for batch in batches:
        new = [
            NewEvent(type, payload, moment, actor, f"{stream}/{len(drafts) + i}")
            for i, (type, payload, moment, actor) in enumerate(batch)
        ]
        drafts.extend(new)
        written.extend(store.append(stream, len(written), new))

    read = store.read(stream)
    assert read == written
    assert [e.version for e in read] == list(range(1, len(drafts) + 1))
    for got, sent in zip(read, drafts, strict=True):
        assert (got.type, got.actor, got.idempotency_key) == (
            sent.type,
            sent.actor,
            sent.idempotency_key,
        )
        assert canonical_json(got.payload) == canonical_json(sent.payload)
        assert got.business_time == sent.business_time
    assert verify(engine, stream) == []
