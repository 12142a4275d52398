"""`python -m bench`: every benchmark of the project, one table, one JSON file.

    python -m bench                  # the full run (under 15 minutes on 2 cores)
    python -m bench --quick          # smaller sizes, fewer repetitions (under 2 minutes)
    python -m bench --only planner_bench --only state_bench
    python -m bench --list
    python -m bench --growth [--directives 10 100 1000] [--agencies 16 60 300]

Each benchmark runs in its own subprocess (a failing one is a `failed` row, the rest go on);
the Prefect-based ones share one Prefect server the runner starts. The table (figure, value,
the baseline measured in the same run, ratio, goal, met?) is printed and written with the
machine's description and the load average at start and end to
bench/results/<date>-<host>[-quick|-growth].json. Never part of the test suite's pass/fail.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from bench.common import REPO, clean_env, prefect_server
from bench.machine import describe, load_average, summary
from bench.suite import BY_NAME, SUITE, child

RESULTS = Path(__file__).resolve().parent / "results"


def _number(value: Any, unit: str = "") -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}" if abs(value) < 1 else f"{value:.1f}"
    else:
        text = f"{value:,}"
    return f"{text} {unit}".strip()


def table(results: list[dict[str, Any]]) -> list[list[str]]:
    rows = []
    for result in results:
        if result.get("status") != "ok":
            error = (result.get("error") or "failed").splitlines()[0][:90]
            rows.append([result["name"], "FAILED", error, "", "", "", ""])
            continue
        for f in result.get("figures", []):
            met = {True: "yes", False: "NO", None: ""}[f.get("met")]
            baseline = _number(f.get("baseline"), f.get("unit", ""))
            if f.get("baseline_label"):
                baseline = f"{f['baseline_label']}: {baseline}" if baseline else f["baseline_label"]
            ratio = f"{f['ratio']:.2f}×" if f.get("ratio") is not None else ""
            rows.append([result["name"], f["figure"], _number(f["value"], f["unit"]), baseline,
                         ratio, f.get("goal", ""), met])  # fmt: skip
    return rows


def markdown(rows: list[list[str]]) -> str:
    head = ["benchmark", "figure", "value", "baseline (same run)", "ratio", "goal", "met"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def run_one(name: str, quick: bool, env: dict[str, str], timeout: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"chidao-bench-{name}-") as tmp:
        out = Path(tmp) / "result.json"
        argv = [sys.executable, "-m", "bench", "--child", name, "--out", str(out)]
        started = time.perf_counter()
        try:
            done = subprocess.run(argv + (["--quick"] if quick else []), env=env, cwd=REPO,
                                  capture_output=True, text=True, timeout=timeout)  # fmt: skip
        except subprocess.TimeoutExpired:
            return {"name": name, "status": "failed", "error": f"timed out after {timeout:.0f} s",
                    "seconds": round(time.perf_counter() - started, 1)}  # fmt: skip
        if out.exists():
            result: dict[str, Any] = json.loads(out.read_text())
        else:
            tail = (done.stderr or done.stdout or "").strip().splitlines()[-1:] or ["no output"]
            result = {"name": name, "status": "failed",
                      "error": f"exit {done.returncode}: {tail[0]}"}  # fmt: skip
        result["seconds"] = round(time.perf_counter() - started, 1)
        if result.get("status") != "ok":
            result["stderr_tail"] = (done.stderr or "")[-3000:]
        return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer repetitions")
    parser.add_argument("--only", action="append", metavar="NAME", help="run this one (repeatable)")
    parser.add_argument("--list", action="store_true", help="name the benchmarks and stop")
    parser.add_argument("--out", type=Path, help="write the JSON here (default bench/results/)")
    parser.add_argument("--timeout", type=float, help="seconds per benchmark (default 300 quick, 900 full)")
    parser.add_argument("--growth", action="store_true", help="the growth tables instead (bench/growth.py)")
    parser.add_argument("--directives", type=int, nargs="*", default=[10, 100, 1000],
                        help="--growth: directive counts (60 agencies each)")  # fmt: skip
    parser.add_argument("--agencies", type=int, nargs="*", default=[16, 60, 300],
                        help="--growth: agencies of the one directive")  # fmt: skip
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.child, args.quick, args.out)
    if args.list:
        for b in SUITE:
            print(f"{b.name:18} {b.what}")
        return 0
    unknown = [n for n in args.only or [] if n not in BY_NAME]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BY_NAME)}", file=sys.stderr)
        return 2
    machine = describe()
    started_at = dt.datetime.now(dt.UTC)
    load_start = load_average()
    suffix = "-growth" if args.growth else "-quick" if args.quick else ""
    out = args.out or RESULTS / f"{started_at:%Y-%m-%d}-{machine['host']}{suffix}.json"
    print(f"machine: {summary(machine)}; load average at start {load_start}", flush=True)
    if args.growth:
        from bench.growth import run_growth

        body: dict[str, Any] = {"growth": run_growth(args.directives, args.agencies, quick=args.quick)}
    else:
        selected = [BY_NAME[n] for n in args.only] if args.only else list(SUITE)
        timeout = args.timeout or (300 if args.quick else 900)
        results = []
        with ExitStack() as stack:
            env = clean_env(PYTHONPATH=str(REPO))
            for bench in selected:
                if bench.prefect and "PREFECT_API_URL" not in env:
                    env["PREFECT_API_URL"] = stack.enter_context(prefect_server())
                print(f"… {bench.name}: {bench.what}", flush=True)
                result = run_one(bench.name, args.quick, env, timeout)
                print(f"  {result['status']} in {result['seconds']} s", flush=True)
                results.append(result)
                # written after each benchmark too: a run cut short keeps what it measured
                partial = {"partial": True, "machine": machine, "results": results}
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_text(json.dumps(partial, ensure_ascii=False, indent=1, default=str))
        body = {"results": results, "table": table(results)}
        print()
        print(markdown(body["table"]))
    load_end = load_average()
    document = {
        "started": started_at.isoformat(timespec="seconds"),
        "finished": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "quick": args.quick,
        "machine": machine,
        "load_average": {"start": load_start, "end": load_end},
        "command": " ".join(["python -m bench", *(argv if argv is not None else sys.argv[1:])]),
        **body,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(document, ensure_ascii=False, indent=1, default=str) + "\n")
    print(f"\nload average at end {load_end}; written to {os.path.relpath(out, Path.cwd())}")
    failed = [r["name"] for r in body.get("results", []) if r.get("status") != "ok"]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
