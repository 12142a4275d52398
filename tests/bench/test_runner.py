"""`python -m bench` runs a benchmark in its own process and writes the table as JSON, with the
machine it ran on. Only that it runs and what it writes are checked: never a speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _bench(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHIDAO_", "PREFECT_API"))}
    return subprocess.run([sys.executable, "-m", "bench", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=240)  # fmt: skip


def test_one_cheap_benchmark_writes_valid_json(tmp_path: Path) -> None:
    out = tmp_path / "result.json"
    done = _bench("--quick", "--only", "planner_bench", "--out", str(out))
    assert done.returncode == 0, done.stderr
    document = json.loads(out.read_text())
    assert document["quick"] is True
    machine = document["machine"]
    assert machine["cores"] >= 1 and machine["python"] == ".".join(map(str, sys.version_info[:3]))
    assert {"cpu", "memory_gib", "os", "host"} <= set(machine)
    assert len(document["load_average"]["start"]) == 3
    (result,) = document["results"]
    assert result["name"] == "planner_bench" and result["status"] == "ok"
    (row,) = result["figures"]
    assert row["unit"] == "ms" and row["value"] > 0 and row["baseline"] > 0
    assert row["ratio"] == row["value"] / row["baseline"]
    assert "planner_bench" in done.stdout and "| benchmark |" in done.stdout


def test_a_failing_benchmark_is_a_failed_row_not_a_crash() -> None:
    from bench.__main__ import run_one, table

    # the child process fails (no such benchmark in the registry it reads) and says how
    result = run_one("no_such_bench", True, dict(os.environ, PYTHONPATH=str(REPO)), 120)
    assert result["status"] == "failed" and "KeyError" in result["error"]
    assert table([result]) == [["no_such_bench", "FAILED", result["error"], "", "", "", ""]]
    bad = _bench("--only", "no_such_bench")
    assert bad.returncode == 2 and "unknown benchmark" in bad.stderr
