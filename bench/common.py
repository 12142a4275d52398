"""What the benchmark runner and its adapters share: one figure's shape, a Prefect server.

A figure is one row of the table `python -m bench` prints: what was measured, its value and
unit, the baseline measured in the same run (and what it is), their ratio, the goal and
whether it was met. `met` is None where a figure has no goal of its own.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent


def figure(
    name: str,
    value: float,
    unit: str,
    *,
    baseline: float | None = None,
    baseline_label: str = "",
    ratio: float | None = None,
    goal: str = "",
    met: bool | None = None,
    note: str = "",
) -> dict[str, Any]:
    if ratio is None and baseline:
        ratio = value / baseline
    return {
        "figure": name,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "baseline_label": baseline_label,
        "ratio": ratio,
        "goal": goal,
        "met": met,
        "note": note,
    }


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment less chidao's and Prefect's settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHIDAO_", "PREFECT_"))}
    env.update(PREFECT_SERVER_ANALYTICS_ENABLED="false", DO_NOT_TRACK="1")
    env.update(PREFECT_LOGGING_LEVEL="WARNING")
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _answers(url: str) -> bool:
    import httpx

    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def prefect_server(timeout: float = 180) -> Iterator[str]:
    """The API URL of a Prefect server: PREFECT_API_URL if it is set and answers (the runner
    shares one among the benchmarks), else one started here on a free port, in a temp home."""
    given = os.environ.get("PREFECT_API_URL")
    if given and _answers(f"{given}/health"):
        yield given
        return
    port = free_port()
    api = f"http://127.0.0.1:{port}/api"
    with tempfile.TemporaryDirectory(prefix="chidao-bench-prefect-") as home:
        env = clean_env(PREFECT_HOME=home, PREFECT_SERVER_API_HOST="127.0.0.1")
        env["PREFECT_SERVER_API_PORT"] = str(port)
        log = open(Path(home) / "server.log", "wb")
        server = subprocess.Popen(
            [sys.executable, "-m", "prefect", "server", "start", "--host", "127.0.0.1",
             "--port", str(port)],
            env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + timeout
            while not _answers(f"{api}/health"):
                if server.poll() is not None or time.monotonic() > deadline:
                    log.flush()
                    tail = (Path(home) / "server.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"the Prefect server did not start:\n{tail}")
                time.sleep(0.5)
            yield api
        finally:
            server.terminate()
            try:
                server.wait(30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            log.close()
