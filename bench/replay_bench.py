"""Benchmark of replay over a ledger of realistic directive histories: events/s, against a bare read.

One real history of directive 2810 is made by the lifecycle itself, in memory, with
`decide` and `apply`: issuance, the planner's notices, reminders, escalations and
consolidation requests (`due_actions`), deliveries recorded, acknowledgements, items
completed, reports on time and late, one returned and sent again, an extension granted and
one refused, a deadline moved, a task withdrawn, consolidated reports, three cycles closed
and a fourth opened. That history is cloned into many streams (`qn-2810-…-copy-00001`,
with the directive id and the planner's keys rewritten per copy) until the ledger holds
about --events events, appended in batches of about 1000 with `EventStore.append`.

Then, in the same run and on the same database, every stream is read twice:
  baseline  `EventStore.read` alone;
  replay    `EventStore.read` + `to_event` + `lifecycle.apply` into a fresh DirectiveState.
The ratio says what rebuilding the state costs on top of reading the events.

    .venv/bin/python bench/replay_bench.py --quick
    .venv/bin/python bench/replay_bench.py                      # 1,000,000 events, temp SQLite
    .venv/bin/python bench/replay_bench.py --postgres           # 127.0.0.1:5432, throwaway db
    .venv/bin/python bench/replay_bench.py --database postgresql://user@host/db
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import Engine

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from definitions.calendar import TIMEZONE, default_calendar
from definitions.content_hash import definition_sha256
from definitions.loader import DIRECTIVES_DIR, load_definition, load_directory
from definitions.resolve import ResolvedDirective, resolve
from ledger import definitions_store
from ledger.db import ensure_schema, make_engine, mask_url, sqlite_url_for
from ledger.definitions_store import lookup_on, store_definition
from ledger.directives import lifecycle_upcasters, replay_rows, to_new_events
from ledger.store import EventStore, NewEvent
from lifecycle import DirectiveState, PerformAction, apply, decide, due_actions, next_wakeup
from lifecycle import commands as c
from lifecycle.commands import OPERATOR, SYSTEM
from lifecycle.events import Event
from lifecycle.planner import Action

DIRECTIVE = "qn-2810-ubnd-kgvx-2023"
DEFINITION = DIRECTIVES_DIR / f"{DIRECTIVE}.yaml"
ISSUER = "ubnd-tinh"
REVIEWER = "so-gddt"  # the Department of Education and Training receives and consolidates
BATCH = 1000
CHUNK = 10  # streams measured in turn by read, replay and the raw fold
# Planner actions that send a message, whose delivery is then recorded in the ledger.
MAILED = {
    "issue_notice",
    "remind",
    "escalate",
    "request_consolidation",
    "notice",
    "delivery_failed",
}


def at(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=TIMEZONE)


# --- one realistic history, made by the lifecycle --------------------------------------------


class History:
    """Drives a directive with commands and planner actions, keeping every batch under its key."""

    def __init__(self) -> None:
        self.state = DirectiveState()
        self.batches: list[tuple[str, list[Event]]] = []
        self._commands = 0
        self._fail_next: set[str] = set()

    @property
    def events(self) -> int:
        return sum(len(events) for _, events in self.batches)

    def _record(self, command: c.AnyCommand, when: dt.datetime, key: str) -> list[Event]:
        # business time never goes back: a step planned earlier is recorded when it is done
        last = self.state.last_event_at
        events = decide(self.state, command, max(when, last) if last else when)
        for event in events:
            apply(self.state, event)
        if events:
            self.batches.append((key, events))
        return events

    def command(self, command: c.AnyCommand, when: dt.datetime) -> None:
        self._commands += 1
        self._record(command, when, f"{DIRECTIVE}:cmd:{self._commands}")

    def fail_delivery_to(self, recipient: str) -> None:
        """The next message to `recipient` bounces (recorded as NotificationFailed)."""
        self._fail_next.add(recipient)

    def _deliver(self, action: Action, when: dt.datetime) -> None:
        recipient = action.recipient or action.agency or ISSUER
        ok = recipient not in self._fail_next
        self._fail_next.discard(recipient)
        detail = (
            f"<{hashlib.sha1(action.key.encode()).hexdigest()[:16]}@chidao.example>"
            if ok
            else "550 5.1.1 mailbox unavailable"
        )
        command = c.RecordDelivery(
            actor=SYSTEM,
            key=action.key,
            notification=action.notice_kind or action.kind,
            recipient=recipient,
            ok=ok,
            detail=detail,
        )
        self._record(command, when, f"{action.key}:{'delivered' if ok else 'failed'}")

    def run_until(self, until: dt.datetime) -> None:
        """Perform the planner's actions wake-up by wake-up up to `until`, recording deliveries."""
        now = self.state.last_event_at
        assert now is not None
        calendar = default_calendar()
        while True:
            while due := due_actions(self.state, now, calendar):
                for action in due:
                    self._record(PerformAction(actor=SYSTEM, action=action), now, action.key)
                    if action.kind in MAILED:
                        self._deliver(action, now + dt.timedelta(minutes=3))
            wake = next_wakeup(self.state, now, calendar)
            if wake is None or wake > until:
                return
            now = wake

    # shorthands -----------------------------------------------------------------------------

    def report(self, agency: str, cycle: str, when: dt.datetime, text: str = "Báo cáo") -> None:
        tracked = self.state.definition.agency(agency)
        items: dict[str, Literal["done", "in_progress", "not_started"]] = {
            i.id: "done" for i in (tracked.items if tracked else ())
        }
        self.command(
            c.SubmitReport(
                actor=agency,
                agency=agency,
                cycle=cycle,
                text=f"{text} kết quả thực hiện năm {cycle} của {agency}.",
                items=items,
                figures={"so_hoc_sinh": "12500", "ty_le_huy_dong": "98,5%"},
            ),
            when,
        )

    def accept(self, agency: str, cycle: str, when: dt.datetime) -> None:
        self.command(c.AcceptReport(actor=REVIEWER, agency=agency, cycle=cycle), when)


def build_history() -> History:
    """2810 from issuance on 20/6/2023 through its 2023, 2024 and 2025 cycles, 2026 opened."""
    directory = load_directory()
    resolved = resolve(load_definition(DEFINITION, directory), directory)
    DEFINITIONS[definition_sha256(resolved)] = resolved
    agencies = [a.id for a in resolved.tracked if a.reports]
    h = History()
    h.fail_delivery_to("hoi-khuyen-hoc-tinh")
    h.command(c.Issue(actor=OPERATOR, resolved=resolved.model_dump(mode="json")), at(2023, 6, 20))
    h.run_until(at(2023, 6, 21, 8))
    # the bounced issue notice is sent again and goes through
    h.command(
        c.RecordDelivery(
            actor=SYSTEM,
            key=f"{DIRECTIVE}:-:hoi-khuyen-hoc-tinh:issue_notice:0",
            notification="issue_notice",
            recipient="hoi-khuyen-hoc-tinh",
            ok=True,
            detail="<resent-1@chidao.example>",
        ),
        at(2023, 6, 21, 10),
    )
    silent = "ubnd-ly-son"
    for day, agency in enumerate(agencies, start=1):
        if agency != silent:
            h.command(
                c.Acknowledge(actor=agency, agency=agency),
                at(2023, 6, 21) + dt.timedelta(days=day // 3),
            )
    for n, agency in enumerate(agencies):
        tracked = resolved.agency(agency)
        for k, item in enumerate(tracked.items if tracked else ()):
            if (n + k) % 3 != 2 and agency != silent:
                when = at(2023, 8, 1) + dt.timedelta(days=(n * 3 + k * 7) % 90)
                h.command(
                    c.CompleteItem(actor=agency, agency=agency, item=item.id, note="Đã triển khai"),
                    when,
                )
    h.run_until(at(2023, 11, 1))

    # cycle 2023: most on time, one returned and sent again, one extension, one late, one silent
    late, extended, returned = "ubnd-ba-to", "hoi-khuyen-hoc-tinh", "ubnd-son-ha"
    on_time = [a for a in agencies if a not in {silent, late, extended, returned, "so-ldtbxh"}]
    for i, agency in enumerate(on_time):
        h.report(agency, "2023", at(2023, 11, 10 + i % 10, 9 + i % 7))
    h.run_until(at(2023, 11, 24))
    h.command(
        c.RequestExtension(
            actor=extended,
            agency=extended,
            cycle="2023",
            reason="Chờ số liệu từ cơ sở",
            proposed_due=dt.date(2023, 12, 8),
        ),
        at(2023, 11, 24),
    )
    h.command(c.GrantExtension(actor=ISSUER, agency=extended, cycle="2023"), at(2023, 11, 27))
    h.report(returned, "2023", at(2023, 11, 28), "Sơ sài")
    h.command(
        c.ReturnReport(actor=REVIEWER, agency=returned, cycle="2023", reason="Thiếu số liệu"),
        at(2023, 11, 29),
    )
    h.report("so-ldtbxh", "2023", at(2023, 11, 30, 16))
    for i, agency in enumerate([*on_time, "so-ldtbxh"]):
        h.accept(agency, "2023", at(2023, 12, 1, 8) + dt.timedelta(minutes=10 * i))
    h.run_until(at(2023, 12, 4, 8))
    h.report(returned, "2023", at(2023, 12, 4), "Bổ sung")
    h.report(late, "2023", at(2023, 12, 5))
    h.report(extended, "2023", at(2023, 12, 7))
    for agency in (returned, late, extended):
        h.accept(agency, "2023", at(2023, 12, 8))
    h.run_until(at(2023, 12, 12))
    h.command(
        c.SubmitConsolidatedReport(actor=REVIEWER, cycle="2023", text="Báo cáo tổng hợp năm 2023"),
        at(2023, 12, 14),
    )
    h.run_until(at(2024, 11, 1))

    # cycle 2024: an extension refused, then a late report; the silent district reports late
    refused = "ubnd-ba-to"
    for i, agency in enumerate(a for a in agencies if a not in {silent, refused}):
        h.report(agency, "2024", at(2024, 11, 4 + i % 20, 8 + i % 9))
        h.accept(agency, "2024", at(2024, 11, 4 + i % 20, 15))
    h.command(
        c.RequestExtension(
            actor=refused,
            agency=refused,
            cycle="2024",
            reason="Lũ lụt, chưa tổng hợp được",
            proposed_due=dt.date(2024, 12, 20),
        ),
        at(2024, 11, 25),
    )
    h.command(
        c.RefuseExtension(actor=ISSUER, agency=refused, cycle="2024", reason="Không có căn cứ"),
        at(2024, 11, 26),
    )
    h.run_until(at(2024, 12, 9))
    h.report(refused, "2024", at(2024, 12, 9))
    h.report(silent, "2024", at(2024, 12, 10))
    h.accept(refused, "2024", at(2024, 12, 11))
    h.accept(silent, "2024", at(2024, 12, 11))
    h.command(
        c.SubmitConsolidatedReport(actor=REVIEWER, cycle="2024", text="Báo cáo tổng hợp năm 2024"),
        at(2024, 12, 13),
    )
    h.run_until(at(2025, 6, 1))

    # cycle 2025: one task withdrawn, the deadline moved for everyone, a report returned
    h.command(
        c.WithdrawTask(actor=ISSUER, agency=silent, reason="Sắp xếp đơn vị hành chính"),
        at(2025, 6, 2),
    )
    h.command(
        c.MoveDeadline(
            actor=ISSUER, cycle="2025", new_due=dt.date(2025, 12, 5), reason="Sáp nhập tỉnh"
        ),
        at(2025, 6, 3),
    )
    h.run_until(at(2025, 11, 3))
    for i, agency in enumerate(a for a in agencies if a != silent):
        h.report(agency, "2025", at(2025, 11, 3 + i % 25, 9))
    h.command(
        c.ReturnReport(actor=REVIEWER, agency="ubnd-tra-bong", cycle="2025", reason="Sai biểu mẫu"),
        at(2025, 11, 28),
    )
    h.report("ubnd-tra-bong", "2025", at(2025, 12, 3), "Bổ sung")
    for agency in (a for a in agencies if a != silent):
        h.accept(agency, "2025", at(2025, 12, 4))
    h.run_until(at(2025, 12, 10))
    h.command(
        c.SubmitConsolidatedReport(actor=REVIEWER, cycle="2025", text="Báo cáo tổng hợp năm 2025"),
        at(2025, 12, 12),
    )
    h.run_until(at(2026, 1, 15))
    assert h.state.cycles["2025"].status == "closed" and "2026" in h.state.cycles
    return h


# --- cloning it into many streams -----------------------------------------------------------


def template(history: History) -> list[NewEvent]:
    """The history as the ledger stores it, under the original directive id."""
    return [e for key, events in history.batches for e in to_new_events(events, key)]


def _rekey(value: str, stream: str) -> str:
    return stream + value[len(DIRECTIVE) :] if value.startswith(f"{DIRECTIVE}:") else value


# the resolved definitions of the histories made here, and of each copy, by hash
DEFINITIONS: dict[str, ResolvedDirective] = {}


def clone(events: list[NewEvent], stream: str) -> list[NewEvent]:
    """The same history as directive `stream`: its id, and every key that names it, rewritten;
    its issuance names a copy of the definition under that id (kept in DEFINITIONS, stored by
    `store_definitions`)."""
    copied = []
    for e in events:
        payload = e.payload
        if e.type == "DirectiveIssued":
            base = DEFINITIONS[payload["definition_sha256"]]
            copy = base.model_copy(
                update={"definition": base.definition.model_copy(update={"id": stream})}
            )
            sha = definition_sha256(copy)
            DEFINITIONS[sha] = copy
            payload = {**payload, "directive_id": stream, "definition_sha256": sha}
        elif "key" in payload:
            payload = {**payload, "key": _rekey(payload["key"], stream)}
        copied.append(
            NewEvent(
                type=e.type,
                payload=payload,
                business_time=e.business_time,
                actor=e.actor,
                idempotency_key=_rekey(e.idempotency_key, stream),
                schema_version=e.schema_version,
            )
        )
    return copied


def store_definitions(engine: Engine, events: list[NewEvent]) -> None:
    """Store the definitions the issuances of `events` name (as `execute` would have)."""
    with engine.begin() as conn:
        for e in events:
            if e.type == "DirectiveIssued":
                store_definition(conn, DEFINITIONS[e.payload["definition_sha256"]], e.business_time)


def forget_definitions() -> None:
    """Empty this process's cache of definitions, so a replay reads each from the table."""
    definitions_store._by_sha.clear()
    definitions_store._sha_of.clear()


def stream_name(index: int) -> str:
    return f"{DIRECTIVE}-copy-{index:05d}"


def fill(
    store: EventStore, events: int, *, prefix: str = "", progress: bool = True
) -> tuple[list[str], int]:
    """About `events` events as copies of the 2810 history; the streams and the events written."""
    history = template(build_history())
    copies = max(1, round(events / len(history)))
    streams, written, started = [], 0, time.perf_counter()
    for index in range(1, copies + 1):
        stream = prefix + stream_name(index)
        batch = clone(history, stream)
        store_definitions(store.engine, batch)
        for start in range(0, len(batch), BATCH):
            store.append(stream, start, batch[start : start + BATCH])
        streams.append(stream)
        written += len(batch)
        if progress and (index % 100 == 0 or index == copies):
            elapsed = time.perf_counter() - started
            print(
                f"  filled {index:,}/{copies:,} streams, {written:,} events, "
                f"{written / elapsed:,.0f} ev/s",
                file=sys.stderr,
                flush=True,
            )
    return streams, written


# --- measuring -------------------------------------------------------------------------------


@dataclass
class Figures:
    events: int
    streams: int
    per_stream: int
    fill: float
    read: float
    replay: float
    replay_read_part: float  # seconds spent reading inside the replay pass
    replay_fold_part: float  # seconds spent in to_event + apply inside the replay pass
    raw: float | None = None  # sqlite3 + json.loads fold of the same rows (SQLite only), ev/s

    @property
    def ratio(self) -> float:
        return self.replay / self.read


def measure_read(store: EventStore, streams: list[str]) -> tuple[int, float]:
    count, started = 0, time.perf_counter()
    for stream in streams:
        count += len(store.read(stream))
    return count, time.perf_counter() - started


def measure_raw(engine: Engine, streams: list[str]) -> float | None:
    """The floor of any replay: the same rows read with the bare `sqlite3` module, each payload
    `json.loads`-ed and folded into a dict (the latest payload per type); events/s."""
    import json
    import sqlite3

    if engine.dialect.name != "sqlite" or not engine.url.database:
        return None
    db = sqlite3.connect(engine.url.database)
    count, started = 0, time.perf_counter()
    try:
        for stream in streams:
            folded: dict[str, Any] = {}
            rows = db.execute(
                "SELECT type, payload, business_time FROM events WHERE stream = ? ORDER BY version",
                (stream,),
            )
            for type_, payload, business_time in rows:
                folded[type_] = (json.loads(payload), business_time)
                count += 1
    finally:
        db.close()
    return count / (time.perf_counter() - started)


def measure_replay(store: EventStore, streams: list[str]) -> tuple[int, float, float, float]:
    """Events replayed, total seconds, and the seconds of reading and of folding within them."""
    count, reading, folding = 0, 0.0, 0.0
    expected: DirectiveState | None = None
    started = time.perf_counter()
    for stream in streams:
        t0 = time.perf_counter()
        with store.engine.connect() as conn:  # as `Directives.replay`: one connection
            stored = store.read_replay(stream, conn=conn)
            t1 = time.perf_counter()
            state = replay_rows(stored, None, lookup_on(conn), stream)
        t2 = time.perf_counter()
        reading, folding, count = reading + t1 - t0, folding + t2 - t1, count + len(stored)
        if state.id != stream or state.version != len(stored):
            raise AssertionError(f"replay of {stream} gave {state.id} at version {state.version}")
        if expected is None:
            expected = state
        elif len(state.cycles) != len(expected.cycles):
            raise AssertionError(f"replay of {stream} differs from the first copy")
    return count, time.perf_counter() - started, reading, folding


def run(engine: Engine, events: int, *, prefix: str = "", rounds: int = 3) -> Figures:
    """Fill, then `rounds` passes over the streams in chunks of CHUNK, each chunk read, replayed
    and raw-folded in turn (so the load of a shared machine falls on all three alike); the best
    pass of each."""
    store = EventStore(engine, upcasters=lifecycle_upcasters())
    started = time.perf_counter()
    streams, written = fill(store, events, prefix=prefix)
    fill_rate = written / (time.perf_counter() - started)
    best: dict[str, float] = {}
    reading = folding = 0.0
    for _ in range(max(1, rounds)):
        spent = {"read": 0.0, "replay": 0.0, "raw": 0.0}
        read_part = fold_part = 0.0
        counts = {"read": 0, "replay": 0}
        for start in range(0, len(streams), CHUNK):
            chunk = streams[start : start + CHUNK]
            n, seconds = measure_read(store, chunk)
            counts["read"] += n
            spent["read"] += seconds
            forget_definitions()  # each stream's definition read from the table, as cold
            n, seconds, r, f = measure_replay(store, chunk)
            counts["replay"] += n
            spent["replay"] += seconds
            read_part, fold_part = read_part + r, fold_part + f
            rate = measure_raw(engine, chunk)
            if rate is not None:
                spent["raw"] += n / rate  # the same rows as the replay just folded
        assert counts["read"] == counts["replay"] == written, (counts, written)
        for name in ("read", "replay", "raw"):
            if spent[name] and spent[name] < best.get(name, float("inf")):
                best[name] = spent[name]
                if name == "replay":
                    reading, folding = read_part, fold_part
    return Figures(
        raw=written / best["raw"] if "raw" in best else None,
        events=written,
        streams=len(streams),
        per_stream=written // len(streams),
        fill=fill_rate,
        read=written / best["read"],
        replay=written / best["replay"],
        replay_read_part=reading,
        replay_fold_part=folding,
    )


def replay_throughput(engine: Engine, events: int, *, prefix: str = "replay-") -> float:
    """Replay events/s (read + to_event + apply) over about `events` realistic events."""
    return run(engine, events, prefix=prefix).replay


# --- the machine and the databases ---------------------------------------------------------


def machine() -> str:
    memory = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    processor = platform.processor() or platform.machine()
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{processor}{f' ({model})' if model else ''}, {os.cpu_count()} CPUs, {memory} RAM, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}"
    )


@contextmanager
def database(args: argparse.Namespace) -> Iterator[Engine]:
    if args.postgres:
        from tests.pg import throwaway_database

        with throwaway_database("chidao_replay_bench") as url:
            yield _engine(url)
        return
    if args.database:
        yield _engine(args.database)
        return
    with tempfile.TemporaryDirectory(prefix="replay-bench-") as home:
        yield _engine(sqlite_url_for(Path(home)))


def _engine(url: str) -> Any:
    engine = make_engine(url)
    ensure_schema(engine)
    return engine


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        epilog="Without --database or --postgres, a temporary SQLite file (WAL) is used.",
    )
    parser.add_argument(
        "--events", type=int, default=1_000_000, help="about this many events (default 1,000,000)"
    )
    parser.add_argument("--quick", action="store_true", help="about 20,000 events, a few seconds")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--database", help="a SQLAlchemy URL (an empty database: streams are added)")
    where.add_argument(
        "--postgres", action="store_true", help="a throwaway database on 127.0.0.1:5432"
    )
    args = parser.parse_args(argv)
    if args.quick and args.events == parser.get_default("events"):
        args.events = 20_000

    print(f"machine: {machine()}")
    try:
        with database(args) as engine:
            print(f"database: {mask_url(engine.url)} ({engine.dialect.name})", flush=True)
            try:
                figures = run(engine, args.events)
            finally:
                engine.dispose()
    except BaseException as e:  # pytest.skip from tests.pg raises a BaseException
        if type(e).__name__ != "Skipped":
            raise
        print(f"skipped: {e}")
        return 1

    print(
        f"ledger: {figures.events:,} events in {figures.streams:,} streams "
        f"of {figures.per_stream:,} events (one 2810 history each)"
    )
    print(f"fill    (append, {BATCH}/batch)          {figures.fill:>10,.0f} ev/s")
    print(f"read    (EventStore.read)               {figures.read:>10,.0f} ev/s")
    print(f"replay  (read + to_event + apply)       {figures.replay:>10,.0f} ev/s")
    print(f"ratio   replay / read                   {figures.ratio:>10.2f}")
    if figures.raw is not None:
        print(f"raw     (sqlite3 + json.loads fold)     {figures.raw:>10,.0f} ev/s")
        print(f"ratio   replay / raw                    {figures.replay / figures.raw:>10.2f}")
    total = figures.replay_read_part + figures.replay_fold_part
    print(
        f"replay time: {figures.replay_read_part / total:.0%} reading, "
        f"{figures.replay_fold_part / total:.0%} to_event + apply "
        f"({figures.events / figures.replay_fold_part:,.0f} ev/s for the fold alone)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
