"""How fast `chidao validate` and `chidao status` answer, against the import floor of what they need.

Each command is timed end to end as a fresh process (interpreter start, imports, the work,
exit), interleaved with its baseline in the same run so machine load affects both alike:

- `chidao validate <2810>` against `python -c "import yaml, pydantic, holidays"`;
- `chidao status` (a ledger holding 2810) against `python -c "import sqlalchemy, pydantic"`.

The goal is a ratio within 2× (medians). Run: .venv/bin/python bench/cli_start.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
D2810 = ROOT / "definitions" / "directives" / "qn-2810-ubnd-kgvx-2023.yaml"
GOAL = 2.0


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHIDAO_", "PREFECT_API"))}
    env.update(
        CHIDAO_HOME=str(home),
        CHIDAO_DATABASE_URL=f"sqlite:///{home / 'ledger.db'}",
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        DO_NOT_TRACK="1",
    )
    return env


def _seconds(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def _pair(
    command: list[str], baseline: list[str], env: dict[str, str], runs: int
) -> tuple[float, float]:
    ours: list[float] = []
    floor: list[float] = []
    _seconds(command, env)  # warm the file cache and the bytecode once
    _seconds(baseline, env)
    for _ in range(runs):
        ours.append(_seconds(command, env))
        floor.append(_seconds(baseline, env))
    return statistics.median(ours), statistics.median(floor)


def measure(runs: int = 7) -> dict[str, Any]:
    """Each command's median and its floor's, in seconds, with their ratio and the load."""
    python = sys.executable
    chidao = [python, "-m", "chidao.cli"]
    figures: dict[str, Any] = {"runs": runs, "goal": GOAL}
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        env = _env(home)
        subprocess.run([*chidao, "launch", str(D2810), "--no-run", "--catch-up", "current"],
                       env=env, cwd=ROOT, check=True, stdout=subprocess.DEVNULL)  # fmt: skip
        cases = {
            "validate": (
                [*chidao, "validate", str(D2810)],
                [python, "-c", "import yaml, pydantic, holidays"],
            ),
            "status": ([*chidao, "status"], [python, "-c", "import sqlalchemy, pydantic"]),
        }
        for name, (command, baseline) in cases.items():
            ours, floor = _pair(command, baseline, env, runs)
            figures[name] = {
                "value": ours,
                "baseline": floor,
                "baseline_label": baseline[2],
                "ratio": ours / floor,
                "met": ours / floor <= GOAL,
            }
    figures["load"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    figures = measure(args.runs)
    for name in ("validate", "status"):
        got = figures[name]
        print(
            f"{name:<9} {got['value'] * 1000:7.0f} ms   floor {got['baseline'] * 1000:6.0f} ms   "
            f"ratio {got['ratio']:4.2f}× (goal ≤ {GOAL:g}×)  [-c {got['baseline_label']}]"
        )
    print(f"load average: {figures['load']}")
    return 0 if all(figures[n]["met"] for n in ("validate", "status")) else 1


if __name__ == "__main__":
    raise SystemExit(main())
