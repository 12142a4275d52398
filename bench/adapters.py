"""Adapters: each benchmark script that predates `python -m bench`, as `run(quick) -> dict`.

Each adapter calls the script's own functions (its measuring code stays where it is, with its
command line) and turns what they return into figures (bench/common.py): the value, the
baseline the script measures in the same run, and the goal the script states. The sizes of
the full run are chosen so the whole suite stays under 15 minutes on 2 shared cores; each
script run on its own still takes its larger defaults.
"""

from __future__ import annotations

import copy
import re
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.common import REPO, clean_env, figure

if str(REPO / "bench") not in sys.path:  # the scripts import each other by their bare names
    sys.path.insert(1, str(REPO / "bench"))

MS = "ms"


def cli_start(quick: bool) -> dict[str, Any]:
    from bench import cli_start as cs

    runs = 2 if quick else 5
    python = sys.executable
    chidao = [python, "-m", "chidao.cli"]
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        env = cs._env(Path(tmp))
        subprocess.run([*chidao, "launch", str(cs.D2810), "--no-run",
                        "--catch-up", "current"], env=env, cwd=REPO,
                       check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        cases = {
            "validate": ([*chidao, "validate", str(cs.D2810)],
                         [python, "-c", "import yaml, pydantic, holidays"]),
            "status": ([*chidao, "status"], [python, "-c", "import sqlalchemy, pydantic"]),
        }
        for name, (command, baseline) in cases.items():
            ours, floor = cs._pair(command, baseline, env, runs)
            figures.append(figure(
                f"`chidao {name}`, fresh process (median of {runs})", ours * 1000, MS,
                baseline=floor * 1000, baseline_label=f"`{baseline[2]}`",
                goal=f"≤ {cs.GOAL:g}×", met=ours / floor <= cs.GOAL,
            ))  # fmt: skip
    return {"params": {"runs": runs}, "figures": figures}


def import_bench(quick: bool) -> dict[str, Any]:
    import unicodedata

    from bench.import_bench import _median, synthetic
    from importer.agencies import load_directory_file
    from importer.api import import_text

    runs = 2 if quick else 5
    directory = load_directory_file()
    text = synthetic(20)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "directive.txt"
        path.write_text(text, encoding="utf-8")
        started = time.perf_counter()
        import_text(text, directory=directory)  # the first: builds the caches
        first = time.perf_counter() - started
        base = _median(lambda: unicodedata.normalize("NFC", path.read_text(encoding="utf-8")),
                       runs * 4)  # fmt: skip
        imported = _median(lambda: import_text(path.read_text(encoding="utf-8"), directory=directory),
                           runs)  # fmt: skip
    words = len(text.split())
    return {
        "params": {"runs": runs, "words": words},
        "figures": [
            figure(f"`chidao import` of a 20-page text ({words:,} words), warm", imported * 1000,
                   MS, baseline=base * 1000, baseline_label="read + NFC",
                   goal="< 1 s", met=imported < 1.0),
            figure("the same, first in its process (caches built)", first * 1000, MS,
                   goal="< 1 s", met=first < 1.0),
        ],
    }


def planner_figures(directives: int, agencies: int) -> dict[str, float]:
    """`plan` over `directives` copies of a first cycle of `agencies` agencies; the baseline
    iterates every agency's work; seconds."""
    from bench.planner_bench import at, first_cycle, wide_definition
    from definitions.calendar import WorkingCalendar, load_overrides
    from lifecycle.planner import plan

    one = first_cycle(wide_definition(agencies))
    states = [copy.deepcopy(one) for _ in range(directives)]
    now = at(2023, 12, 8, 12)
    started = time.perf_counter()
    touched = 0
    for state in states:
        for cycle in state.cycles.values():
            for work in cycle.works.values():
                touched += work.due.toordinal() > 0
    baseline = time.perf_counter() - started
    overrides = load_overrides()
    calendar = WorkingCalendar(overrides.days_off, overrides.working_days)
    started = time.perf_counter()
    for state in states:
        plan(state, now, calendar)
    return {"plan": time.perf_counter() - started, "baseline": baseline, "works": touched,
            "events": one.version}  # fmt: skip


def planner_bench(quick: bool) -> dict[str, Any]:
    directives, agencies = (100, 50) if quick else (1000, 50)
    r = planner_figures(directives, agencies)
    return {
        "params": {"directives": directives, "agencies": agencies},
        "figures": [figure(
            f"`plan` over {directives:,} directives × {agencies}", r["plan"] * 1000, MS,
            baseline=r["baseline"] * 1000, baseline_label=f"iterating {r['works']:,} works",
            goal="< 1 s (1,000 × 50)", met=r["plan"] < 1 if not quick else None,
        )],
    }  # fmt: skip


def state_figures(short: int, long: int, repeat: int) -> dict[tuple[str, str], float]:
    """`state_bench`'s cold reads: (stream, kind) → best seconds, kind in state/replay/read."""
    from bench.replay_bench import build_history
    from bench.state_bench import cold, extend, touch, write_stream
    from ledger.db import ensure_schema, make_engine
    from ledger.directives import Directives
    from ledger.store import EventStore

    h = build_history()
    extend(h, long + 10)
    results: dict[tuple[str, str], float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/ledger.db"
        engine = make_engine(url)
        ensure_schema(engine)
        store = EventStore(engine)
        streams = {"short": "qn-2810-ubnd-kgvx-2023-short", "long": "qn-2810-ubnd-kgvx-2023-long"}
        write_stream(store, h, streams["short"], short - 1)
        write_stream(store, h, streams["long"], long - 1)
        directives = Directives.over(engine)
        for round_ in range(repeat):
            for name, stream in streams.items():
                for kind in ("state", "replay", "read"):
                    touch(directives, stream, f"{kind}-{round_}")
                    seconds = cold(str(REPO), url, kind, stream)
                    results[(name, kind)] = min(results.get((name, kind), seconds), seconds)
        for name, stream in streams.items():
            results[(name, "events")] = store.version(stream)
        engine.dispose()
    return results


def state_bench(quick: bool) -> dict[str, Any]:
    short, long, repeat = (300, 30_000, 1) if quick else (300, 30_000, 3)
    r = state_figures(short, long, repeat)
    s, lg = r[("short", "state")] * 1000, r[("long", "state")] * 1000
    return {
        "params": {"short": short, "long": long, "repeat": repeat},
        "figures": [
            figure(f"`state()` cold, {int(r[('short', 'events')]):,} events", s, MS,
                   baseline=r[("short", "read")] * 1000, baseline_label="`EventStore.read` alone"),
            figure(f"`state()` cold, {int(r[('long', 'events')]):,} events", lg, MS,
                   baseline=s, baseline_label=f"at {short} events",
                   goal="≤ 10 ms and ≤ 2×", met=lg <= 10 and lg / s <= 2),
            figure(f"replay from nothing, {int(r[('long', 'events')]):,} events",
                   r[("long", "replay")] * 1000, MS, baseline=r[("long", "read")] * 1000,
                   baseline_label="`EventStore.read` alone"),
        ],
    }  # fmt: skip


def replay_bench(quick: bool) -> dict[str, Any]:
    from bench.replay_bench import _engine, run
    from ledger.db import sqlite_url_for

    events = 20_000 if quick else 100_000
    with tempfile.TemporaryDirectory(prefix="replay-bench-") as home:
        engine = _engine(sqlite_url_for(Path(home)))
        try:
            f = run(engine, events)
        finally:
            engine.dispose()
    figures = [
        figure(f"replay (read + to_event + apply), {f.events:,} events in {f.streams:,} streams",
               f.replay, "ev/s", baseline=f.raw, baseline_label="raw `sqlite3` + `json.loads` fold",
               goal="≥ 0.4×", met=(f.replay / f.raw >= 0.4) if f.raw else None),
        figure("`EventStore.read` alone", f.read, "ev/s", baseline=f.raw,
               baseline_label="raw `sqlite3` fold"),
    ]  # fmt: skip
    return {"params": {"events": events}, "figures": figures}


def ledger_bench(quick: bool) -> dict[str, Any]:
    from bench.ledger_bench import bench_appends, bench_reads, postgres_engine, sqlite_engine

    singles, batches, events = (100, 30, 10_000) if quick else (500, 100, 100_000)
    figures = []
    backends: list[tuple[str, Any]] = [("SQLite", sqlite_engine(None))]
    if not quick:
        backends.append(("PostgreSQL", postgres_engine("postgresql://postgres@127.0.0.1:5432/test")))
    for backend, engine_cm in backends:
        try:
            with engine_cm as engine:
                appends = bench_appends(engine, backend, singles, batches)
                reads, _ = bench_reads(engine, backend, events)
        except Exception as e:
            if backend == "SQLite":
                raise
            figures.append(figure(f"{backend}: skipped ({type(e).__name__})", 0, ""))
            continue
        for r in appends:
            figures.append(figure(f"{backend}: ledger {r.measure.replace(' (ev/s)', '')}", r.ledger,
                                  "ev/s", baseline=r.baseline, baseline_label="bare INSERT"))  # fmt: skip
        for r in reads[1:]:
            figures.append(figure(f"{backend}: {r.measure.replace(' (ev/s)', '')}", r.ledger, "ev/s"))
    return {"params": {"appends": singles, "batches": batches, "events": events}, "figures": figures}


def checkpoint_bench(quick: bool) -> dict[str, Any]:
    from bench.checkpoint_bench import database, measure

    sizes, rounds = ([2_000, 16_000], 2) if quick else ([10_000, 100_000], 3)
    found = {}
    for n in sizes:
        with database(None) as engine:
            found[n] = measure(engine, n, 1000, rounds)
    small, large = sizes
    return {
        "params": {"sizes": sizes, "rounds": rounds, "batch": 1000},
        "figures": [
            figure(f"checkpoint per new event, ledger of {large:,}", found[large][0] * 1e6, "µs",
                   baseline=found[small][0] * 1e6, baseline_label=f"at {small:,}",
                   goal="flat (≤ 2×)", met=found[large][0] / found[small][0] <= 2),
            figure(f"full Merkle pass per new event, ledger of {large:,}", found[large][1] * 1e6,
                   "µs", baseline=found[large][0] * 1e6, baseline_label="the checkpoint"),
        ],
    }  # fmt: skip


def inbox_figures(sizes: list[int], rounds: int) -> dict[int, dict[str, float]]:
    from bench.inbox_bench import measure

    return {size: measure(size, rounds, str(REPO)) for size in sizes}


def inbox_bench(quick: bool) -> dict[str, Any]:
    sizes, rounds = ([10, 100], 3) if quick else ([10, 500], 7)
    r = inbox_figures(sizes, rounds)
    small, large = sizes
    figures = [
        figure(f"inbox GET over {size} directives ({int(r[size]['entries']):,} entries)",
               r[size]["inbox"] * 1000, MS, baseline=r[size]["healthz"] * 1000,
               baseline_label="`/healthz`", goal="≤ 5×" if size == large else "",
               met=r[size]["inbox"] / r[size]["healthz"] <= 5 if size == large else None)
        for size in sizes
    ]  # fmt: skip
    figures.append(figure(f"inbox over {large} / over {small}", r[large]["inbox"] * 1000, MS,
                          baseline=r[small]["inbox"] * 1000, baseline_label=f"over {small}",
                          goal="≤ 2×", met=r[large]["inbox"] / r[small]["inbox"] <= 2))  # fmt: skip
    return {"params": {"sizes": sizes, "rounds": rounds}, "figures": figures}


def webhook_bench(quick: bool) -> dict[str, Any]:
    from bench.webhook_bench import postgres_database, run_backend

    directives, clients = (5, 32) if quick else (20, 32)
    figures = []
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        backends = [("SQLite", f"sqlite:///{tmp}/bench.db")]
        pg = None if quick else postgres_database(stack)
        if pg:
            backends.append(("PostgreSQL", pg))
        for name, url in backends:
            r = run_backend(name, url, directives, clients)
            w, b = r["webhook"], r["bare"]
            figures += [
                figure(f"{name}: accepted reports/s at {clients} clients", w["per_second"], "req/s",
                       baseline=b["per_second"], baseline_label="bare FastAPI INSERT"),
                figure(f"{name}: p50 latency", w["p50_ms"], MS, baseline=b["p50_ms"],
                       baseline_label="bare FastAPI INSERT"),
                figure(f"{name}: p99 latency", w["p99_ms"], MS, baseline=b["p99_ms"],
                       baseline_label="bare FastAPI INSERT"),
            ]  # fmt: skip
    return {"params": {"directives": directives, "reports": directives * 16, "clients": clients},
            "figures": figures}  # fmt: skip


def answer_bench(quick: bool) -> dict[str, Any]:
    """Runs bench/answer_bench.py (it starts `chidao up`) and reads the figures it prints."""
    answers = 3 if quick else 8
    done = subprocess.run(
        [sys.executable, str(REPO / "bench" / "answer_bench.py"), "--answers", str(answers)],
        cwd=REPO, env=clean_env(PYTHONPATH=str(REPO)), capture_output=True, text=True,
        timeout=1200,
    )  # fmt: skip
    out = done.stdout
    floor = re.search(r"floor .*?p50 ([\d.]+) s, p95 ([\d.]+) s", out)
    answer = re.search(r"answer → status artifact:\s*p50 ([\d.]+) s, p95 ([\d.]+) s", out)
    if not floor or not answer:
        raise RuntimeError(f"answer_bench printed no figures (exit {done.returncode}): "
                           f"{(done.stderr or out)[-1500:]}")  # fmt: skip
    f50, f95 = map(float, floor.groups())
    a50, a95 = map(float, answer.groups())
    return {
        "params": {"answers": answers},
        "figures": [
            figure("answer → status artifact, p95", a95, "s", baseline=f95,
                   baseline_label="empty served flow run, p95", goal="≤ 1.5× and ≤ 5 s",
                   met=a95 / f95 <= 1.5 and a95 <= 5),
            figure("answer → status artifact, p50", a50, "s", baseline=f50,
                   baseline_label="empty served flow run, p50"),
        ],
    }  # fmt: skip


def median(values: list[float]) -> float:
    return statistics.median(values)
