"""Benchmark of the ledger: durable appends/s against a bare INSERT, read and verify events/s.

Each backend (a SQLite file in WAL mode with synchronous=FULL, and PostgreSQL) gets a fresh
database. Appends are measured next to a baseline taken in the same run on the same
database: the same rows inserted into a plain table with no hash chain, no constraints and
no checks, one transaction per append as well. The ratio says what the ledger's guarantees
cost. Reads and verification are measured on one stream of --events events; replay on about
as many events of real 2810 histories, made by bench/replay_bench.py.

    .venv/bin/python bench/ledger_bench.py --quick
    .venv/bin/python bench/ledger_bench.py --events 1000000 --no-postgres
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import CHAR, Column, Engine, Integer, MetaData, String, Table, insert

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from ledger.db import ensure_schema, make_engine, sqlite_url_for
from ledger.store import EventStore, NewEvent, StoredEvent
from ledger.tables import UTCDateTime, json_document
from ledger.verify import verify

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"

plain_metadata = MetaData()
plain = Table(
    "bench_plain_events",
    plain_metadata,
    Column("position", Integer, primary_key=True, autoincrement=True),
    Column("stream", String(200)),
    Column("version", Integer),
    Column("type", String(100)),
    Column("schema_version", Integer),
    Column("payload", json_document()),
    Column("actor", String(200)),
    Column("business_time", UTCDateTime()),
    Column("recorded_at", UTCDateTime()),
    Column("idempotency_key", String(300)),
    Column("prev_hash", CHAR(64)),
    Column("hash", CHAR(64)),
)


@dataclass
class Result:
    backend: str
    measure: str
    ledger: float
    baseline: float | None = None

    def row(self) -> str:
        base = f"{self.baseline:>12,.0f}" if self.baseline else f"{'':>12}"
        ratio = f"{self.ledger / self.baseline:>6.2f}" if self.baseline else f"{'':>6}"
        return f"{self.backend:<10} {self.measure:<34} {self.ledger:>12,.0f} {base} {ratio}"


def payload(n: int) -> dict[str, Any]:
    return {
        "agency": "so-tai-chinh",
        "cycle": "2025-Q1",
        "item": n % 7,
        "note": "Báo cáo tiến độ thực hiện Chỉ thị số 12/CT-UBND",
        "amount": str(n * 1000),
    }


def new_events(prefix: str, start: int, count: int) -> list[NewEvent]:
    now = datetime.now(UTC)
    return [
        NewEvent("ReportSubmitted", payload(i), now, "so-tai-chinh", f"{prefix}/{i}")
        for i in range(start, start + count)
    ]


def plain_rows(prefix: str, start: int, count: int) -> list[dict[str, Any]]:
    now = datetime.now(UTC)
    return [
        {
            "stream": prefix,
            "version": i + 1,
            "type": "ReportSubmitted",
            "schema_version": 1,
            "payload": payload(i),
            "actor": "so-tai-chinh",
            "business_time": now,
            "recorded_at": now,
            "idempotency_key": f"{prefix}/{i}",
            "prev_hash": "0" * 64,
            "hash": "f" * 64,
        }
        for i in range(start, start + count)
    ]


def rate(count: int, fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return count / (time.perf_counter() - started)


def bench_appends(engine: Engine, backend: str, singles: int, batches: int) -> list[Result]:
    store = EventStore(engine)
    plain_metadata.create_all(engine)

    def ledger_appends(stream: str, n: int, size: int) -> None:
        version = 0
        for b in range(n):
            store.append(stream, version, new_events(stream, b * size, size))
            version += size

    def bare_inserts(stream: str, n: int, size: int) -> None:
        for b in range(n):
            rows = plain_rows(stream, b * size, size)
            with engine.begin() as conn:
                conn.execute(insert(plain), rows if size > 1 else rows[0])

    results = []
    for size, n in ((1, singles), (10, batches)):
        ledger = rate(n * size, partial(ledger_appends, f"append-{size}", n, size))
        baseline = rate(n * size, partial(bare_inserts, f"plain-{size}", n, size))
        label = f"append, {size} event{'s' if size > 1 else ''}/transaction"
        results.append(Result(backend, f"{label} (ev/s)", ledger, baseline))
    return results


def seed_stream(engine: Engine, stream: str, events: int, batch: int = 1000) -> float:
    store = EventStore(engine)

    def seed() -> None:
        version = 0
        while version < events:
            size = min(batch, events - version)
            store.append(stream, version, new_events(stream, version, size))
            version += size

    return rate(events, seed)


def bench_reads(engine: Engine, backend: str, events: int) -> tuple[list[Result], list[Any]]:
    stream = "long-stream"
    seeded = seed_stream(engine, stream, events)
    store = EventStore(engine)
    read: list[StoredEvent] = []

    def read_all() -> None:
        read.extend(store.read(stream))

    results = [
        Result(backend, "seed via append, 1000/txn (ev/s)", seeded),
        Result(backend, f"read stream of {events:,} (ev/s)", rate(events, read_all)),
    ]
    assert len(read) == events

    def check() -> None:
        faults = verify(engine, stream)
        assert faults == [], faults

    results.append(Result(backend, f"verify stream of {events:,} (ev/s)", rate(events, check)))
    return results, read


# --- replay: delegated to bench/replay_bench.py ---------------------------------------------


def replay_throughput(engine: Engine, events: int) -> float | None:
    """Events/s of replay (read + to_event + lifecycle.apply) over about `events` realistic events.

    The synthetic events above do not fit the lifecycle's schemas, so the replayed ledger is
    made by `bench/replay_bench.py`: copies of a real 2810 history, each a stream of its own,
    added to this same database next to the read stream.
    """
    try:
        replay_bench = importlib.import_module("bench.replay_bench")
    except ImportError as e:
        print(f"replay: skipped, bench/replay_bench.py cannot be imported ({e})")
        return None
    per_second: float = replay_bench.replay_throughput(engine, events)
    return per_second


# --- databases ---------------------------------------------------------------------------


@contextmanager
def sqlite_engine(directory: str | None) -> Iterator[Engine]:
    with tempfile.TemporaryDirectory(dir=directory, prefix="ledger-bench-") as home:
        engine = make_engine(sqlite_url_for(Path(home)))
        try:
            ensure_schema(engine)
            yield engine
        finally:
            engine.dispose()


@contextmanager
def postgres_engine(server_url: str) -> Iterator[Engine]:
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"chidao_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = make_url(server_url).set(drivername="postgresql").render_as_string(False)
    with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        engine = make_engine(make_url(server_url).set(database=name).render_as_string(False))
        try:
            ensure_schema(engine)
            yield engine
        finally:
            engine.dispose()
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_backend(
    backend: str, engine_cm: Any, args: argparse.Namespace, replay_done: list[bool]
) -> list[Result]:
    with engine_cm as engine:
        results = bench_appends(engine, backend, args.appends, args.batches)
        read_results, _ = bench_reads(engine, backend, args.events)
        results.extend(read_results)
        if not replay_done:
            replay_done.append(True)
            per_second = replay_throughput(engine, args.events)
            if per_second is not None:
                label = f"replay ~{args.events:,} real ev (ev/s)"
                results.append(Result(backend, label, per_second))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small counts, a few seconds")
    parser.add_argument("--appends", type=int, default=1000, help="single-event appends")
    parser.add_argument("--batches", type=int, default=200, help="appends of 10 events")
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the read stream")
    parser.add_argument("--sqlite-dir", help="directory for the SQLite file (default: temp)")
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES, help="server to use")
    parser.add_argument("--no-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only")
    args = parser.parse_args(argv)
    if args.quick:
        args.appends, args.batches = min(args.appends, 200), min(args.batches, 50)
        if args.events == parser.get_default("events"):
            args.events = 20_000

    results: list[Result] = []
    replay_done: list[bool] = []
    if not args.no_sqlite:
        results += run_backend("sqlite", sqlite_engine(args.sqlite_dir), args, replay_done)
    if not args.no_postgres:
        try:
            results += run_backend(
                "postgresql", postgres_engine(args.postgres_url), args, replay_done
            )
        except Exception as e:
            print(f"postgresql: skipped, {args.postgres_url} unusable: {e}")

    print()
    print(f"{'backend':<10} {'measure':<34} {'ledger':>12} {'bare INSERT':>12} {'ratio':>6}")
    for result in results:
        print(result.row())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
