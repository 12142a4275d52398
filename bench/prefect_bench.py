"""Benchmarks through Prefect: issuance, a simulated year of 2810, and 2810 through 2030 (#13),
each against the Prefect floor of the same number of flow and task runs, in the same run.

Issuance: directive 2810 (copies under their own ids) recorded as issued and its first
directive flow run (the issuance notices, their delivery into a dry-run mail folder, the
status artifact), timed in one warm process; the floor, in the same process against the same
server: a bare async flow with the same number of no-op tasks (counted on the server).

Simulation: `chidao simulate 2810 --until DATE` as a fresh process through the Prefect
server, timed end to end; then its flow runs and their task runs are counted on the server
(by the run's tag), and the floor is a fresh process that runs the same number of bare async
flows sequentially, each with as many no-op tasks as its counterpart had. Goal: ≤ 1.3×.

    .venv/bin/python -m bench.prefect_bench issuance [--quick]
    .venv/bin/python -m bench.prefect_bench simulate --until 2031-01-31
    .venv/bin/python -m bench.prefect_bench floor '[3, 5, 5]'     # the floor alone
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from bench.common import REPO, clean_env, figure, prefect_server

DEFINITION = REPO / "definitions" / "directives" / "qn-2810-ubnd-kgvx-2023.yaml"
GOAL = 1.3


# --- the floor: bare flows of no-op tasks -------------------------------------------------


def _floor_flows() -> tuple[Any, Any]:
    from prefect import flow, task

    @task(persist_result=False)
    def noop(i: int) -> int:
        return i

    @flow(name="bench-floor", persist_result=False)
    async def bare(tasks: int) -> int:
        for i in range(tasks):
            noop(i)
        return tasks

    return bare, noop


async def floor_runs(counts: list[int]) -> float:
    """Run one bare flow per entry of `counts`, sequentially, each with that many no-op
    tasks; seconds."""
    bare, _ = _floor_flows()
    started = time.perf_counter()
    for count in counts:
        await bare(count)
    return time.perf_counter() - started


# --- counting runs on the server ----------------------------------------------------------


def _post(api: str, path: str, body: dict[str, Any]) -> Any:
    response = httpx.post(f"{api}{path}", json=body, timeout=60)
    response.raise_for_status()
    return response.json()


def task_counts(api: str, flow_run_ids: list[str]) -> list[int]:
    """Task runs per flow run, read until the server's count stops moving (task runs reach
    the server as events, a moment after the flow ends)."""
    previous: list[int] | None = None
    deadline = time.monotonic() + 60
    while True:
        counts = [
            int(_post(api, "/task_runs/count", {"flow_runs": {"id": {"any_": [run]}}}))
            for run in flow_run_ids
        ]
        if counts == previous or time.monotonic() > deadline:
            return counts
        previous = counts
        time.sleep(2)


def tagged_flow_runs(api: str, tag: str) -> list[str]:
    found: list[str] = []
    while True:
        page = _post(api, "/flow_runs/filter", {
            "flow_runs": {"tags": {"all_": [tag]}}, "sort": "EXPECTED_START_TIME_ASC",
            "limit": 200, "offset": len(found),
        })  # fmt: skip
        found += [run["id"] for run in page]
        if len(page) < 200:
            return found


# --- issuance -----------------------------------------------------------------------------


async def _issuance(
    api: str, repeats: int, folder: Path, resolved: Any = None
) -> dict[str, Any]:
    os.environ.update(
        PREFECT_API_URL=api,
        CHIDAO_HOME=str(folder),
        CHIDAO_DATABASE_URL=f"sqlite:///{folder / 'ledger.db'}",
        CHIDAO_MAIL_DRY_RUN_DIR=str(folder / "mail"),
    )
    from definitions.loader import load_definition, load_directory
    from definitions.resolve import resolve
    from flows.directive import directive
    from ledger.db import ensure_schema, make_engine
    from ledger.directives import Directives
    from lifecycle import commands as c
    from lifecycle.commands import OPERATOR

    if resolved is None:
        directory = load_directory()
        resolved = resolve(load_definition(DEFINITION, directory), directory)
    engine = make_engine(os.environ["CHIDAO_DATABASE_URL"])
    ensure_schema(engine)
    directives = Directives.over(engine)
    at = dt.datetime.combine(resolved.definition.issued_on, dt.time(9), tzinfo=dt.UTC)
    bare, _ = _floor_flows()

    async def issue(n: int) -> tuple[float, str]:
        ident = f"bench-issue-{uuid.uuid4().hex[:8]}-{n}"
        copy = resolved.model_copy(
            update={"definition": resolved.definition.model_copy(update={"id": ident})}
        )
        started = time.perf_counter()
        directives.execute(ident, c.Issue(actor=OPERATOR, resolved=copy.model_dump(mode="json")),
                           at, key=f"issue:{ident}")  # fmt: skip
        state = await directive(directive_id=ident, at=at, schedule_next=False, return_state=True)
        seconds = time.perf_counter() - started
        if not state.is_completed():
            raise RuntimeError(f"the issuance run of {ident} ended {state.type}")
        return seconds, str(state.state_details.flow_run_id)

    await issue(0)  # warm: imports, the calendar, the server's first flow
    await bare(1)
    ours: list[float] = []
    runs: list[str] = []
    for n in range(1, repeats + 1):
        seconds, run = await issue(n)
        ours.append(seconds)
        runs.append(run)
    counts = task_counts(api, runs)
    tasks = max(counts)
    floors = []
    for _ in range(repeats):
        started = time.perf_counter()
        await bare(tasks)
        floors.append(time.perf_counter() - started)
    engine.dispose()
    agencies = len(resolved.tracked)
    return {"ours": ours, "floor": floors, "tasks": counts, "agencies": agencies}


def issuance(quick: bool) -> dict[str, Any]:
    repeats = 2 if quick else 5
    with prefect_server() as api, tempfile.TemporaryDirectory(prefix="chidao-issue-") as tmp:
        r = asyncio.run(_issuance(api, repeats, Path(tmp)))
    import statistics

    ours, floor = statistics.median(r["ours"]), statistics.median(r["floor"])
    return {
        "params": {"repeats": repeats, "task_runs": r["tasks"], "agencies": r["agencies"]},
        "figures": [figure(
            f"issuance of 2810 ({r['agencies']} agencies): Issue + first flow run, "
            f"{max(r['tasks'])} task runs (median of {repeats})", ours, "s", baseline=floor,
            baseline_label="bare flow, same no-op tasks", goal=f"≤ {GOAL}×",
            met=ours / floor <= GOAL,
        )],
    }  # fmt: skip


# --- simulation ---------------------------------------------------------------------------


def simulate_against_floor(api: str, until: dt.date) -> dict[str, Any]:
    """`chidao simulate 2810 --until` timed as a fresh process, its runs counted, the floor run."""
    ident = f"bench-sim-{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="chidao-simulate-") as tmp:
        env = clean_env(PREFECT_API_URL=api, CHIDAO_HOME=tmp, PYTHONPATH=str(REPO))
        argv = [sys.executable, "-m", "chidao.cli", "simulate", str(DEFINITION), "--until",
                until.isoformat(), "--json", "--database", f"sqlite:///{tmp}/ledger.db",
                "--mail-dir", f"{tmp}/mail", "--directive-id", ident]  # fmt: skip
        started = time.perf_counter()
        done = subprocess.run(argv, env=env, cwd=REPO, capture_output=True, text=True)
        ours = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"chidao simulate failed ({done.returncode}): {done.stderr[-1500:]}")
        timeline = json.loads(done.stdout)
        runs = tagged_flow_runs(api, f"directive:{ident}")
        counts = task_counts(api, runs)
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "bench.prefect_bench", "floor", json.dumps(counts)],
                       env=env, cwd=REPO, check=True, capture_output=True)  # fmt: skip
        floor = time.perf_counter() - started
    events = sum(1 for e in timeline if e["kind"] == "event")
    return {"ours": ours, "floor": floor, "flow_runs": len(runs), "task_runs": sum(counts),
            "events": events}  # fmt: skip


def _simulate_figure(until: dt.date, what: str) -> dict[str, Any]:
    with prefect_server() as api:
        r = simulate_against_floor(api, until)
    return {
        "params": {"until": until.isoformat(), **{k: r[k] for k in ("flow_runs", "task_runs", "events")}},
        "figures": [figure(
            f"`chidao simulate` {what}: {r['flow_runs']} flow runs, {r['task_runs']:,} task runs, "
            f"{r['events']:,} events", r["ours"], "s", baseline=r["floor"],
            baseline_label="Prefect floor, same runs", goal=f"≤ {GOAL}×",
            met=r["ours"] / r["floor"] <= GOAL,
        )],
    }  # fmt: skip


def simulate_year(quick: bool) -> dict[str, Any]:
    # a year from issuance (20/6/2023): the 2023 cycle issued, reported, consolidated, closed
    until = dt.date(2023, 12, 31) if quick else dt.date(2024, 6, 19)
    return _simulate_figure(until, f"2810 through {until.isoformat()}")


def simulate_2030(quick: bool) -> dict[str, Any]:
    until = dt.date(2025, 12, 31) if quick else dt.date(2031, 1, 31)
    return _simulate_figure(until, f"2810 through {until.isoformat()}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("what", choices=["issuance", "simulate", "floor"])
    parser.add_argument("counts", nargs="?", help="floor: a JSON list of task counts")
    parser.add_argument("--until", type=dt.date.fromisoformat, default=dt.date(2031, 1, 31))
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    if args.what == "floor":
        seconds = asyncio.run(floor_runs(json.loads(args.counts or "[]")))
        print(json.dumps({"seconds": seconds}))
        return 0
    result = issuance(args.quick) if args.what == "issuance" else _simulate_figure(args.until, "2810")
    print(json.dumps(result, ensure_ascii=False, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
