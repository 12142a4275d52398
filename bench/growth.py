"""Growth tables: the same costs at more directives and at more agencies, one axis at a time.

Axis 1, directives: N copies (10, 100, 1,000 by default) of a 60-agency directive (2810 with
its reporting agencies copied, as bench/planner_bench.py makes it), each through its first
cycle (issuance, notices, acknowledgements, reminders, half reporting, escalations), written
to one SQLite ledger (appended in bulk, the read side rebuilt from the events). Per point:
  record      one more directive issued through `Directives.execute` (its projections too);
  state()     one directive's state in that ledger, first read in a fresh process;
  inbox       a signed inbox GET for an agency every directive tracks (warm server);
  planner     `plan` over every directive's state;
  replay      every stream replayed from its events (`Directives.load`);
  stats       `chidao stats --json` over the whole ledger, as a fresh process.
Axis 2, agencies: one directive of 16, 60, 300 agencies: issuance through Prefect (the flow
run of its notices, against a bare flow of as many no-op tasks), its state(), the planner,
its replay. The issuance through Prefect is per directive by construction (one flow run
each), so it is measured along this axis only.

    python -m bench --growth [--directives 10 100 1000] [--agencies 16 60 300] [--quick]
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import REPO, clean_env

READER = "ubnd-ba-to"  # tracked by every copy (an original 2810 district)


def history(agencies: int) -> tuple[Any, list[Any]]:
    """The wide directive and its first cycle as the ledger stores it (under 2810's id)."""
    from bench.planner_bench import at, wide_definition
    from definitions.calendar import default_calendar
    from ledger.directives import to_new_events
    from lifecycle import DirectiveState, PerformAction, apply, decide, due_actions, next_wakeup
    from lifecycle import commands as c
    from lifecycle.commands import OPERATOR, SYSTEM

    resolved = wide_definition(agencies)
    _register(resolved)
    state = DirectiveState()
    stored: list[Any] = []
    calendar = default_calendar()

    def drive(command: Any, when: dt.datetime, key: str) -> None:
        last = state.last_event_at
        events = decide(state, command, max(when, last) if last else when)
        for event in events:
            apply(state, event)
        stored.extend(to_new_events(events, f"{resolved.definition.id}:{key}"))

    def run_until(until: dt.datetime) -> None:
        now = state.last_event_at
        assert now is not None
        while True:
            while due := due_actions(state, now, calendar):
                for action in due:
                    drive(PerformAction(actor=SYSTEM, action=action), now, action.key)
            wake = next_wakeup(state, now, calendar)
            if wake is None or wake > until:
                return
            now = wake

    drive(c.Issue(actor=OPERATOR, resolved=resolved.model_dump(mode="json")), at(2023, 6, 20), "issue")
    reporting = [a.id for a in resolved.tracked if a.reports]
    for i, agency in enumerate(reporting):
        drive(c.Acknowledge(actor=agency, agency=agency), at(2023, 6, 21 + i % 7), f"ack:{agency}")
    run_until(at(2023, 11, 10))
    for i, agency in enumerate(reporting[::2]):
        drive(c.SubmitReport(actor=agency, agency=agency, cycle="2023", text="Báo cáo"),
              at(2023, 11, 10 + i % 15), f"report:{agency}")  # fmt: skip
    run_until(at(2023, 12, 8))
    return resolved, stored


def _register(resolved: Any) -> None:
    """Issuances name their definition by hash: `replay_bench.clone` copies it per stream."""
    try:
        from bench.replay_bench import DEFINITIONS
        from definitions.content_hash import definition_sha256
    except ImportError:  # a ledger that embeds the definition in its issuance
        return
    DEFINITIONS[definition_sha256(resolved)] = resolved


def _ledger(folder: Path, template: list[Any], count: int) -> tuple[str, list[str]]:
    from bench.replay_bench import clone
    from ledger.db import ensure_schema, make_engine
    from ledger.projections import rebuild
    from ledger.store import EventStore

    url = f"sqlite:///{folder / 'ledger.db'}"
    engine = make_engine(url)
    ensure_schema(engine)
    store = EventStore(engine)
    streams = [f"growth-{n:05d}" for n in range(count)]
    for stream in streams:
        copied = clone(template, stream)
        try:
            from bench.replay_bench import store_definitions
        except ImportError:
            pass
        else:
            store_definitions(engine, copied)
        for start in range(0, len(copied), 1000):
            store.append(stream, start, copied[start : start + 1000])
    rebuild(engine)
    engine.dispose()
    return url, streams


COLD_STATE = r"""
import json, sys, time
sys.path.insert(0, {root!r})
from ledger.db import make_engine
from ledger.directives import Directives
directives = Directives.over(make_engine({url!r}))
directives.exists("warm-up")
started = time.perf_counter()
state = directives.state(sys.argv[1])
print(json.dumps({{"seconds": time.perf_counter() - started, "version": state.version}}))
"""


def _cold_state(url: str, stream: str) -> float:
    out = subprocess.run([sys.executable, "-c", COLD_STATE.format(root=str(REPO), url=url), stream],
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    seconds: float = json.loads(out.strip().splitlines()[-1])["seconds"]
    return seconds


def _record_one(url: str, resolved: Any) -> float:
    from ledger.db import make_engine
    from ledger.directives import Directives
    from lifecycle import commands as c
    from lifecycle.commands import OPERATOR

    engine = make_engine(url)
    directives = Directives.over(engine)
    ident = f"growth-new-{time.monotonic_ns()}"
    copy = resolved.model_copy(update={"definition": resolved.definition.model_copy(update={"id": ident})})
    started = time.perf_counter()
    directives.execute(ident, c.Issue(actor=OPERATOR, resolved=copy.model_dump(mode="json")),
                       dt.datetime(2023, 6, 20, 2, tzinfo=dt.UTC), key=f"issue:{ident}")  # fmt: skip
    seconds = time.perf_counter() - started
    engine.dispose()
    return seconds


def _inbox(url: str, rounds: int) -> tuple[float, float, int]:
    import httpx
    from cryptography.fernet import Fernet

    from bench.inbox_bench import signed_get
    from bench.webhook_bench import BUSINESS_NOW, serving
    from chidao.webhook import SecretStore, create_app
    from chidao.webhook.auth import secret_key_bytes
    from ledger.db import make_engine

    engine = make_engine(url)
    store = SecretStore(engine, Fernet.generate_key())
    signer = secret_key_bytes(store.generate(READER))
    app = create_app(engine=engine, secrets=store, clock=lambda: BUSINESS_NOW)
    path = f"/v1/agencies/{READER}/inbox"
    inbox, health, entries = [], [], 0
    with serving(app) as base, httpx.Client(base_url=base, timeout=120) as client:
        client.get(path, headers=signed_get(signer, path)).raise_for_status()
        for _ in range(rounds):
            headers = signed_get(signer, path)
            started = time.perf_counter()
            response = client.get(path, headers=headers)
            inbox.append(time.perf_counter() - started)
            response.raise_for_status()
            entries = len(response.json()["entries"])
            started = time.perf_counter()
            client.get("/healthz").raise_for_status()
            health.append(time.perf_counter() - started)
    engine.dispose()
    return statistics.median(inbox), statistics.median(health), entries


def _replay(url: str, streams: list[str]) -> tuple[float, int]:
    from ledger.db import make_engine
    from ledger.directives import Directives

    engine = make_engine(url)
    directives = Directives.over(engine)
    started, events = time.perf_counter(), 0
    for stream in streams:
        events += len(directives.load(stream)[0])
    seconds = time.perf_counter() - started
    engine.dispose()
    return seconds, events


def _stats(url: str, folder: Path) -> float:
    env = clean_env(CHIDAO_HOME=str(folder), CHIDAO_DATABASE_URL=url, PYTHONPATH=str(REPO))
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "chidao.cli", "stats", "--json", "--as-of",
                    "2023-12-08T12:00:00+07:00"], env=env, cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return time.perf_counter() - started


def _planner(states: int, agencies: int) -> float:
    from bench.adapters import planner_figures

    return planner_figures(states, agencies)["plan"]


def directives_point(count: int, agencies: int, rounds: int) -> dict[str, Any]:
    resolved, template = history(agencies)
    with tempfile.TemporaryDirectory(prefix="chidao-growth-") as tmp:
        started = time.perf_counter()
        url, streams = _ledger(Path(tmp), template, count)
        fill = time.perf_counter() - started
        inbox, health, entries = _inbox(url, rounds)
        replay, events = _replay(url, streams)
        return {
            "directives": count, "agencies": agencies, "events": events, "fill_s": fill,
            "record_ms": 1000 * statistics.median(_record_one(url, resolved) for _ in range(rounds)),
            "state_ms": 1000 * min(_cold_state(url, streams[n % count]) for n in range(rounds)),
            "inbox_ms": 1000 * inbox, "healthz_ms": 1000 * health, "inbox_entries": entries,
            "planner_ms": 1000 * _planner(count, agencies),
            "replay_s": replay, "replay_ev_s": events / replay,
            "stats_s": _stats(url, Path(tmp)),
        }  # fmt: skip


def agencies_point(agencies: int, rounds: int, api: str | None) -> dict[str, Any]:
    resolved, template = history(agencies)
    point: dict[str, Any] = {"directives": 1, "agencies": agencies, "events": len(template)}
    with tempfile.TemporaryDirectory(prefix="chidao-growth-") as tmp:
        url, streams = _ledger(Path(tmp), template, 1)
        point["state_ms"] = 1000 * min(_cold_state(url, streams[0]) for _ in range(rounds))
        point["replay_s"], _ = _replay(url, streams)
        point["planner_ms"] = 1000 * _planner(1, agencies)
        point["record_ms"] = 1000 * statistics.median(_record_one(url, resolved) for _ in range(rounds))
    if api:
        from bench.prefect_bench import _issuance

        with tempfile.TemporaryDirectory(prefix="chidao-growth-issue-") as tmp:
            r = asyncio.run(_issuance(api, max(1, rounds // 2), Path(tmp), resolved=resolved))
        point["issuance_s"] = statistics.median(r["ours"])
        point["issuance_floor_s"] = statistics.median(r["floor"])
        point["issuance_tasks"] = max(r["tasks"])
    return point


def run_growth(directives: list[int], agencies: list[int], *, quick: bool) -> dict[str, Any]:
    import os

    from bench.common import prefect_server

    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    rounds = 2 if quick else 3
    if quick:
        directives = [n for n in directives if n <= 100]
    found: dict[str, Any] = {"directives_axis": [], "agencies_axis": [], "rounds": rounds}
    for count in directives:
        print(f"… growth: {count} directives × 60 agencies", flush=True)
        found["directives_axis"].append(directives_point(count, 60, rounds))
        print(f"  {found['directives_axis'][-1]}", flush=True)
    with prefect_server() as api:
        for n in agencies:
            print(f"… growth: one directive of {n} agencies", flush=True)
            found["agencies_axis"].append(agencies_point(n, rounds, api))
            print(f"  {found['agencies_axis'][-1]}", flush=True)
    print()
    print(markdown(found))
    return found


def markdown(found: dict[str, Any]) -> str:
    lines = ["| directives × 60 agencies | events | record one (ms) | state() cold (ms) | inbox (ms, entries) | /healthz (ms) | planner, all (ms) | replay, all (s) | stats CLI (s) |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for p in found["directives_axis"]:
        lines.append(f"| {p['directives']:,} | {p['events']:,} | {p['record_ms']:.1f} | {p['state_ms']:.1f} | "
                     f"{p['inbox_ms']:.1f} ({p['inbox_entries']:,}) | {p['healthz_ms']:.1f} | {p['planner_ms']:.1f} | "
                     f"{p['replay_s']:.2f} | {p['stats_s']:.2f} |")  # fmt: skip
    lines += ["", "| agencies (one directive) | events | issuance via Prefect (s) | bare flow, same tasks (s) | task runs | record one (ms) | state() cold (ms) | planner (ms) | replay (s) |",
              "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for p in found["agencies_axis"]:
        lines.append(f"| {p['agencies']} | {p['events']:,} | {p.get('issuance_s', float('nan')):.2f} | "
                     f"{p.get('issuance_floor_s', float('nan')):.2f} | {p.get('issuance_tasks', '')} | "
                     f"{p['record_ms']:.1f} | {p['state_ms']:.1f} | {p['planner_ms']:.2f} | {p['replay_s']:.3f} |")  # fmt: skip
    return "\n".join(lines)
