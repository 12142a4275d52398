"""Benchmark: an agency's answer → the Prefect status artifact, next to Prefect's own floor.

Runs `chidao up` with its defaults (the embedded mail room, one-second polling) on free ports in
a fresh home, launches 5185 (`--catch-up current`) and waits for its first run; then 20 agencies
each post a signed report to the webhook, one after another, and for each the time from the
POST to the moment the latest `<id>-status` artifact shows that agency's report is measured.

The floor, in the same run and against the same server: a runner of its own (the same
`prefect.runner.Runner`, polling every second, as `flows.serve`) serves an empty flow, and the
time from creating a flow run of that deployment to its completion is measured 20 times. The
goal: the answer's p95 within 1.5× the floor's p95, and within 5 s.

    .venv/bin/python bench/answer_bench.py [--answers 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from prefect import flow

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

DIRECTIVE = "qn-5185-ubnd-kgvx-2021"
DEFINITION = REPO / "definitions" / "directives" / f"{DIRECTIVE}.yaml"
CHIDAO = [sys.executable, "-c", "from chidao.cli import main; raise SystemExit(main())"]


@flow(name="bench-noop", persist_result=False)
async def noop() -> None:
    """The floor: a served flow run that does nothing (async, as the directive flow is)."""
    return None


async def _serve_floor() -> None:
    """The floor's runner: `prefect.runner.Runner` polling every second, as `flows.serve`."""
    from prefect.runner import Runner

    runner = Runner(name="bench-floor", query_seconds=1.0, pause_on_shutdown=False)
    await runner.aadd_deployment(await noop.ato_deployment(name="noop"))
    await runner.start()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _until(what: str, check: Callable[[], Any], timeout: float, every: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(every)
    raise SystemExit(f"{what}: not within {timeout:g} s")


@contextmanager
def _process(argv: list[str], env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        process = subprocess.Popen(
            argv, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            yield process
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGINT)
                try:
                    process.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait(5)


def _chidao(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [*CHIDAO, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        raise SystemExit(f"chidao {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))]


def _latest_table(api_url: str, key: str) -> tuple[str, list[dict[str, Any]]] | None:
    answer = httpx.post(
        f"{api_url}/artifacts/latest/filter",
        json={"artifacts": {"key": {"any_": [key]}}, "limit": 1},
        timeout=10,
    )
    answer.raise_for_status()
    found = answer.json()
    if not found:
        return None
    data = found[0]["data"]
    return str(found[0]["id"]), json.loads(data) if isinstance(data, str) else data


def _reported(rows: list[dict[str, Any]], agency: str) -> bool:
    for row in rows:
        values = [str(v) for v in row.values()]
        if agency in values:
            return any(v.startswith(("completed", "hoàn thành")) for v in values)
    return False


def _shows(api_url: str, key: str, agency: str) -> Callable[[], bool]:
    def check() -> bool:
        table = _latest_table(api_url, key)
        return table is not None and _reported(table[1], agency)

    return check


def _post_report(webhook_url: str, secret: str, agency: str, cycle: str) -> None:
    """The agency's report, signed RFC 9421 under its HMAC secret (as `chidao call` signs)."""
    from chidao.webhook.auth import secret_key_bytes
    from ledger.signatures import sign_headers

    body = json.dumps({"text": f"Báo cáo kết quả năm {cycle}."}, ensure_ascii=False).encode()
    path = f"/v1/directives/{DIRECTIVE}/agencies/{agency}/cycles/{cycle}/report"
    headers = sign_headers(
        "POST",
        path,
        "",
        body,
        keyid=f"{agency}:hmac",
        key=secret_key_bytes(secret),
        alg="hmac-sha256",
        idempotency_key=f"bench_{uuid.uuid4().hex}",
    )
    answer = httpx.post(f"{webhook_url}{path}", content=body, headers=headers, timeout=10)
    if answer.status_code != 201:
        raise SystemExit(f"report of {agency}: {answer.status_code} {answer.text}")


def _floor(api_url: str, runs: int) -> list[float]:
    from prefect.client.orchestration import PrefectClient

    async def measure() -> list[float]:
        async with PrefectClient(api_url) as client:
            deployment = await client.read_deployment_by_name("bench-noop/noop")
            found = []
            for _ in range(runs):
                started = time.monotonic()
                run = await client.create_flow_run_from_deployment(deployment.id)
                while True:
                    state = (await client.read_flow_run(run.id)).state
                    if state is not None and state.is_final():
                        break
                    await asyncio.sleep(0.05)
                found.append(time.monotonic() - started)
            return found

    return asyncio.run(measure())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--answers", type=int, default=20)
    parser.add_argument("--serve-floor", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_floor:
        asyncio.run(_serve_floor())
        return 0
    figures = measure(args.answers)
    print(f"answers: {figures['answers']} (5185, cycle {figures['cycle']}, one agency after another)")
    print(f"floor (empty served flow run, create → completed): p50 {figures['floor_p50']:.2f} s, p95 {figures['floor_p95']:.2f} s")
    print(f"answer → status artifact:                          p50 {figures['answer_p50']:.2f} s, p95 {figures['answer_p95']:.2f} s")
    print(f"ratio p95: {figures['ratio']:.2f} (goal ≤ 1.5), answer p95 {figures['answer_p95']:.2f} s (goal ≤ 5 s)")
    print(f"load average at the end: {figures['load']}")
    print(f"logs: {figures['logs']}")
    return 0 if figures["met"] else 1


def measure(count: int = 20) -> dict[str, Any]:
    """The figures of one run: answer → artifact and the floor, p50 and p95, their ratio."""
    folder = Path(tempfile.mkdtemp(prefix="chidao-answer-bench-"))
    port, webhook_port = _free_port(), _free_port()
    api_url, webhook_url = f"http://127.0.0.1:{port}/api", f"http://127.0.0.1:{webhook_port}"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "CHIDAO_"))},
        "CHIDAO_HOME": str(folder / "home"),
        "PREFECT_HOME": str(folder / "prefect"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
        "PREFECT_LOGGING_LEVEL": "WARNING",
        "CHIDAO_LANG": "en",  # the launch's output is read below (`flow run: …`)
    }
    client_env = {**env, "PREFECT_API_URL": api_url}
    up_argv = [*CHIDAO, "up", "--port", str(port), "--webhook-port", str(webhook_port)]
    with _process(up_argv, env, folder / "up.log"):
        _until("chidao up", lambda: "running;" in (folder / "up.log").read_text(), 180, 0.5)
        floor_argv = [sys.executable, "bench/answer_bench.py", "--serve-floor"]
        with _process(floor_argv, client_env, folder / "floor-runner.log"):
            _until("the floor's deployment", lambda: _deployed(api_url), 60, 0.5)
            launched = _chidao(client_env, "launch", str(DEFINITION), "--catch-up", "current")
            first = next(
                line.split(":", 1)[1].strip()
                for line in launched.splitlines()
                if line.startswith("flow run:")
            )
            _until("the first run", lambda: _final(api_url, first), 300, 0.5)
            status = json.loads(_chidao(client_env, "status", DIRECTIVE, "--json"))
            cycle = status["cycle"]
            agencies = [a["agency"] for a in status["agencies"] if a["role"] != "requested"]
            agencies = agencies[:count]
            secrets = {a: _chidao(client_env, "agencies", "secret", a).strip() for a in agencies}
            key = f"{DIRECTIVE}-status"
            answers = []
            for agency in agencies:
                started = time.monotonic()
                _post_report(webhook_url, secrets[agency], agency, cycle)
                _until(f"{agency}'s report in the artifact", _shows(api_url, key, agency), 60)
                answers.append(time.monotonic() - started)
            floor = _floor(api_url, len(answers))
    floor_p95, answer_p95 = _percentile(floor, 0.95), _percentile(answers, 0.95)
    ratio = answer_p95 / floor_p95
    return {
        "answers": len(answers),
        "cycle": cycle,
        "floor_p50": statistics.median(floor),
        "floor_p95": floor_p95,
        "answer_p50": statistics.median(answers),
        "answer_p95": answer_p95,
        "ratio": ratio,
        "goal": "ratio ≤ 1.5 and answer p95 ≤ 5 s",
        "met": ratio <= 1.5 and answer_p95 <= 5,
        "load": " ".join(f"{x:.2f}" for x in os.getloadavg()),
        "logs": str(folder),
    }


def _deployed(api_url: str) -> bool:
    answer = httpx.get(f"{api_url}/deployments/name/bench-noop/noop", timeout=5)
    return answer.status_code == 200


def _final(api_url: str, run_id: str) -> bool:
    answer = httpx.get(f"{api_url}/flow_runs/{run_id}", timeout=5)
    return answer.status_code == 200 and answer.json()["state"]["type"] in (
        "COMPLETED",
        "FAILED",
        "CRASHED",
        "CANCELLED",
    )


if __name__ == "__main__":
    raise SystemExit(main())
