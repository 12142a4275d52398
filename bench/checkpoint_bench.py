"""Benchmark of checkpoints: the cost per new event stays flat as the ledger grows (O(log n)).

For each ledger size n (a fresh SQLite file, or a throwaway PostgreSQL database with
--postgres), the ledger is filled with n events over a fixed number of streams and
checkpointed once; then a batch of new events is appended and checkpointed, and the time per
new event is measured. The baseline, in the same run on the same database: what a checkpoint
that is not incremental would cost — the Merkle root recomputed by one pass over the whole
ledger (reading every event's hash), per new event of the batch. The incremental cost should
stay about the same across sizes (ratio to the smallest size near 1) while the pass grows
with n.

    .venv/bin/python bench/checkpoint_bench.py --quick
    .venv/bin/python bench/checkpoint_bench.py --sizes 10000 100000 400000
    .venv/bin/python bench/checkpoint_bench.py --postgres
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, insert, select

from ledger.checkpoint import make_checkpoint
from ledger.db import ensure_schema, make_engine, sqlite_url_for
from ledger.merkle import Frontier, leaf_data, leaf_hash
from ledger.store import EventStore, NewEvent
from ledger.tables import events

DEFAULT_POSTGRES = "postgresql://postgres@127.0.0.1:5432/test"
STREAMS = 200
T0 = datetime(2023, 6, 20, tzinfo=UTC)


@contextmanager
def database(postgres: str | None) -> Iterator[Engine]:
    if postgres is None:
        with tempfile.TemporaryDirectory() as folder:
            engine = make_engine(sqlite_url_for(Path(folder)))
            ensure_schema(engine)
            try:
                yield engine
            finally:
                engine.dispose()
        return
    import psycopg
    from sqlalchemy.engine import make_url

    name = f"chidao_bench_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    engine = make_engine(make_url(postgres).set(database=name).render_as_string(False))
    ensure_schema(engine)
    try:
        yield engine
    finally:
        engine.dispose()
        with psycopg.connect(postgres, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def fill(engine: Engine, n: int) -> dict[str, int]:
    """n events over STREAMS streams, inserted in bulk (the chain is not what is measured)."""
    versions = {f"s{i:03d}": 0 for i in range(STREAMS)}
    rows = []
    for i in range(n):
        stream = f"s{i % STREAMS:03d}"
        versions[stream] += 1
        rows.append(
            {
                "stream": stream,
                "version": versions[stream],
                "type": "ReminderSent",
                "schema_version": 1,
                "payload": {"i": i},
                "actor": "system",
                "business_time": T0,
                "recorded_at": T0,
                "idempotency_key": f"fill:{i}",
                "prev_hash": "0" * 64,
                "hash": os.urandom(32).hex(),
            }
        )
    for start in range(0, n, 20_000):
        with engine.begin() as conn:
            conn.execute(insert(events), rows[start : start + 20_000])
    return versions


def append_batch(engine: Engine, versions: dict[str, int], batch: int, tag: str) -> None:
    store = EventStore(engine)
    per_stream = max(1, batch // 50)
    streams = list(versions)[:50]
    for stream in streams:
        v = versions[stream]
        store.append(
            stream,
            v,
            [
                NewEvent("ReminderSent", {"b": j}, T0 + timedelta(days=1), "system", f"{tag}:{stream}:{j}")
                for j in range(per_stream)
            ],
        )
        versions[stream] = v + per_stream


def full_pass(engine: Engine) -> str:
    frontier = Frontier()
    query = select(events.c.position, events.c.stream, events.c.version, events.c.hash).order_by(
        events.c.position
    )
    with engine.connect() as conn:
        for r in conn.execution_options(yield_per=5000).execute(query):
            frontier.append(leaf_hash(leaf_data(r.position, r.stream, r.version, r.hash)))
    return frontier.root().hex()


def measure(engine: Engine, n: int, batch: int, rounds: int) -> tuple[float, float]:
    key = Ed25519PrivateKey.generate()
    versions = fill(engine, n)
    make_checkpoint(engine, key, T0)  # the first checkpoint covers everything once
    incremental: list[float] = []
    passes: list[float] = []
    for r in range(rounds):
        append_batch(engine, versions, batch, f"r{r}")
        start = time.perf_counter()
        checkpoint, made = make_checkpoint(engine, key, T0 + timedelta(days=r + 1))
        incremental.append((time.perf_counter() - start) / batch)
        assert made
        start = time.perf_counter()
        root = full_pass(engine)
        passes.append((time.perf_counter() - start) / batch)
        assert root == checkpoint.root, "the incremental root differs from the full pass"
    return min(incremental), min(passes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000, 200_000])
    parser.add_argument("--batch", type=int, default=1000, help="new events per checkpoint")
    parser.add_argument("--rounds", type=int, default=3, help="best of this many")
    parser.add_argument("--quick", action="store_true", help="sizes 2,000 8,000 32,000")
    parser.add_argument("--postgres", nargs="?", const=DEFAULT_POSTGRES, default=None)
    args = parser.parse_args()
    sizes = [2_000, 8_000, 32_000] if args.quick else args.sizes
    backend = "PostgreSQL" if args.postgres else "SQLite (WAL, synchronous=FULL)"
    print(f"{backend}; {STREAMS} streams; {args.batch} new events per checkpoint; best of {args.rounds}")
    print(f"{'ledger size':>12} {'checkpoint µs/new event':>24} {'full pass µs/new event':>23} "
          f"{'vs smallest':>12} {'pass / checkpoint':>18}")
    first: float | None = None
    for n in sizes:
        with database(args.postgres) as engine:
            incremental, full = measure(engine, n, args.batch, args.rounds)
        first = first or incremental
        print(f"{n:>12,} {incremental * 1e6:>24.1f} {full * 1e6:>23.1f} "
              f"{incremental / first:>12.2f} {full / incremental:>18.1f}")


if __name__ == "__main__":
    main()
