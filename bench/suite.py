"""The registry of benchmarks `python -m bench` runs, and the child that runs one of them.

Each entry names an adapter: a function `run(quick: bool) -> dict` returning
`{"params": {...}, "figures": [figure(...), ...]}` (bench/common.py). Adapters for the
benchmark scripts that predate the runner live in bench/adapters.py and call those scripts'
own functions, so the scripts keep their command lines; new benchmarks carry their `run` in
their own module. The runner starts each in a subprocess (`python -m bench --child NAME`), so
one that fails is reported as failed and the rest go on.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Benchmark:
    name: str
    target: str  # "module:function"
    what: str
    prefect: bool = False  # uses the Prefect server the runner shares


SUITE: tuple[Benchmark, ...] = (
    Benchmark("cli_start", "bench.adapters:cli_start", "CLI start vs the import floor"),
    Benchmark("import_bench", "bench.adapters:import_bench", "import of a 20-page text"),
    Benchmark("planner_bench", "bench.adapters:planner_bench", "the planner over 1,000 × 50"),
    Benchmark("state_bench", "bench.adapters:state_bench", "state() at 300 and 30,000 events"),
    Benchmark("replay_bench", "bench.adapters:replay_bench", "replay vs a raw sqlite3 fold"),
    Benchmark("ledger_bench", "bench.adapters:ledger_bench", "ledger appends vs a bare INSERT"),
    Benchmark("checkpoint_bench", "bench.adapters:checkpoint_bench", "checkpoint cost per event"),
    Benchmark("inbox_bench", "bench.adapters:inbox_bench", "the inbox over 10 and 500 vs /healthz"),
    Benchmark("webhook_bench", "bench.adapters:webhook_bench", "webhook at 32 clients vs FastAPI"),
    Benchmark("issuance_bench", "bench.prefect_bench:issuance", "issuance vs a bare Prefect flow",
              prefect=True),
    Benchmark("simulate_year", "bench.prefect_bench:simulate_year",
              "a simulated year of 2810 vs the Prefect floor", prefect=True),
    Benchmark("simulate_2030", "bench.prefect_bench:simulate_2030",
              "simulate --until 2031-01-31 vs the Prefect floor (#13)", prefect=True),
    Benchmark("answer_bench", "bench.adapters:answer_bench", "answer → status artifact"),
)
BY_NAME = {b.name: b for b in SUITE}


def call(target: str, **kwargs: Any) -> dict[str, Any]:
    module, function = target.split(":")
    result: dict[str, Any] = getattr(importlib.import_module(module), function)(**kwargs)
    return result


def child(name: str, quick: bool, out: Path) -> int:
    """Run one benchmark in this process and write what it found (or how it failed) to `out`."""
    started = time.perf_counter()
    try:
        result = call(BY_NAME[name].target, quick=quick)
        status = "ok"
    except BaseException as e:  # a benchmark that fails is a row of the table, not a crash
        result = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()}
        status = "failed"
    result.update(name=name, status=status, seconds=round(time.perf_counter() - started, 2))
    out.write_text(json.dumps(result, ensure_ascii=False, indent=1, default=str))
    if status == "failed":
        print(result["traceback"], file=sys.stderr)
    return 0 if status == "ok" else 1
