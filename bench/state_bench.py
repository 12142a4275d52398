"""Benchmark of `Directives.state()` read cold, at 300 and 30,000 events, against the store read.

Two streams are written to a temp SQLite ledger: the real 2810 history of `replay_bench`
(272 events: three cycles and a fourth opened) plus a few more to reach --short events, and
the same history continued in its open cycle by rounds of a report submitted, returned
(`trả lại`) and the planner's notice of it, up to --long events. Snapshots are written as
`Directives.over` writes them (every 10 versions; the last snapshot is at the last multiple
of 10, so a read replays the tail after it).

Each figure is cold: a fresh Python process, after a write to the stream by this (another)
process, imports everything first, then times its first read (no cache in it can answer):
  state     `Directives.over(engine).state(stream)` (snapshot + tail);
  replay    the same state replayed from nothing (`Directives.replay`, the lean read);
  read      `EventStore.read(stream)` alone (the baseline: the bytes replay must read).

    .venv/bin/python bench/state_bench.py               # 300 and 30,000 events
    .venv/bin/python bench/state_bench.py --long 3000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from replay_bench import DIRECTIVE, REVIEWER, History, build_history, clone, store_definitions

from definitions.calendar import default_calendar
from ledger.db import ensure_schema, make_engine
from ledger.directives import Directives, to_new_events
from ledger.snapshots import write_snapshot
from ledger.store import EventStore
from lifecycle import DirectiveState, PerformAction, apply, due_actions
from lifecycle import commands as c
from lifecycle.commands import SYSTEM

CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
from ledger.db import make_engine
from ledger.directives import Directives
from ledger.store import EventStore
import lifecycle, ledger.snapshots  # imports excluded from the timing
engine = make_engine({url!r})
kind, stream = sys.argv[1], sys.argv[2]
started = time.perf_counter()
if kind == "state":
    state = Directives.over(engine).state(stream)
    n = state.version
elif kind == "replay":
    n = Directives.over(engine).replay(stream).version
else:
    n = len(EventStore(engine).read(stream))
print(json.dumps({{"seconds": time.perf_counter() - started, "version": n}}))
"""


def extend(h: History, until: int) -> None:
    """Rounds of a report submitted and returned in the open cycle, each answered by the
    planner's notice, until the history holds `until` events."""
    agencies = [a.id for a in h.state.definition.tracked if a.reports]
    cycle = next(cy.id for cy in h.state.cycles.values() if cy.status != "closed")
    now = h.state.last_event_at
    assert now is not None
    n = 0
    while h.events < until:
        agency = agencies[n % len(agencies)]
        n += 1
        now += dt.timedelta(minutes=1)
        work = h.state.cycles[cycle].works.get(agency)
        if work is None or work.status == "withdrawn":
            continue
        h.command(
            c.SubmitReport(actor=agency, agency=agency, cycle=cycle, text=f"Báo cáo lần {n}"), now
        )
        h.command(
            c.ReturnReport(actor=REVIEWER, agency=agency, cycle=cycle, reason="Bổ sung số liệu"),
            now,
        )
        for action in due_actions(h.state, now, default_calendar()):
            if action.kind == "notice":
                h._record(PerformAction(actor=SYSTEM, action=action), now, action.key)


def write_stream(store: EventStore, h: History, stream: str, limit: int) -> None:
    """The first `limit` events of the history as `stream`, with the snapshot the writer keeps."""
    template = [e for key, events in h.batches for e in to_new_events(events, key)]
    copied = clone(template, stream)[:limit]
    store_definitions(store.engine, copied)
    for start in range(0, len(copied), 1000):
        store.append(stream, start, copied[start : start + 1000])
    stored = store.read(stream)
    at = (len(stored) // 10) * 10
    state = DirectiveState()
    from ledger.directives import to_event

    for event in stored[:at]:
        apply(state, to_event(event))
    with store.engine.begin() as conn:
        write_snapshot(conn, stream, state, stored[at - 1].hash, stored[at - 1].recorded_at)


def touch(directives: Directives, stream: str, tag: str) -> None:
    """One command that records an event: a report sent back, or submitted again."""
    state = directives.state(stream)
    cycle = next(cy for cy in state.cycles.values() if cy.status != "closed")
    work = next(w for w in cycle.works.values() if w.status in ("reported", "returned"))
    at = (state.last_event_at or dt.datetime.now(dt.UTC)) + dt.timedelta(minutes=1)
    command: c.AnyCommand
    if work.status == "reported":
        command = c.ReturnReport(actor=REVIEWER, agency=work.agency, cycle=cycle.id, reason="Thiếu")
    else:
        command = c.SubmitReport(actor=work.agency, agency=work.agency, cycle=cycle.id, text="BC")
    directives.execute(stream, command, at, key=f"{stream}:bench:{tag}")


def cold(root: str, url: str, kind: str, stream: str) -> float:
    code = CHILD.format(root=root, url=url)
    out = subprocess.run(
        [sys.executable, "-c", code, kind, stream], check=True, capture_output=True, text=True
    ).stdout
    seconds: float = json.loads(out.strip().splitlines()[-1])["seconds"]
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", type=int, default=300)
    parser.add_argument("--long", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    root = str(Path(__file__).resolve().parents[1])

    h = build_history()
    extend(h, args.long + 10)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/ledger.db"
        engine = make_engine(url)
        ensure_schema(engine)
        store = EventStore(engine)
        streams = {"short": f"{DIRECTIVE}-short", "long": f"{DIRECTIVE}-long"}
        write_stream(store, h, streams["short"], args.short - 1)
        write_stream(store, h, streams["long"], args.long - 1)
        directives = Directives.over(engine)
        results: dict[tuple[str, str], float] = {}
        for round_ in range(args.repeat):
            for name, stream in streams.items():
                for kind in ("state", "replay", "read"):
                    # a write by this process first: the child's read is the first after it
                    touch(directives, stream, f"{kind}-{round_}")
                    seconds = cold(root, url, kind, stream)
                    key = (name, kind)
                    results[key] = min(results.get(key, seconds), seconds)
        versions = {name: store.version(stream) for name, stream in streams.items()}
        engine.dispose()
    print(f"events: short {versions['short']}, long {versions['long']} (SQLite, temp file)")
    for name in ("short", "long"):
        print(
            f"{name:>5}: state {results[(name, 'state')] * 1000:7.1f} ms   "
            f"replay {results[(name, 'replay')] * 1000:7.1f} ms   "
            f"read alone {results[(name, 'read')] * 1000:7.1f} ms"
        )
    ratio = results[("long", "state")] / results[("short", "state")]
    print(
        f"state(long) {results[('long', 'state')] * 1000:.1f} ms (goal ≤ 10 ms); "
        f"long / short = {ratio:.2f} (goal ≤ 2)"
    )


if __name__ == "__main__":
    main()
