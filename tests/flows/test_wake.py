"""An agency's signed report to the webhook wakes its directive: reconciled within seconds.

With `chidao up` running, 2810 is launched and its first run finishes; Sở LĐ-TB&XH then posts
its report to the webhook. A run of the directive deployment created by the wake (its
idempotency key `<directive>-wake-<second>`, expected to start within a couple of seconds
of the call, not a scheduled wake-up) reconciles the directive, and the status table it
publishes, read back through the Prefect API, shows the agency's row as the ledger has it.
With Prefect stopped, the webhook still records a report and answers 2xx.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from chidao.webhook.auth import secret_key_bytes
from ledger.signatures import sign_headers
from lifecycle.status import standing_label
from tests.flows.test_up import REPO, ChidaoUp, free_port

pytestmark = [pytest.mark.prefect, pytest.mark.slow]

DIRECTIVE = "qn-2810-ubnd-kgvx-2023"
DEFINITION = REPO / "definitions" / "directives" / f"{DIRECTIVE}.yaml"
AGENCY = "so-ldtbxh"
OTHER_AGENCY = "hoi-khuyen-hoc-tinh"
CHIDAO = [sys.executable, "-c", "from chidao.cli import main; raise SystemExit(main())"]


def chidao(env: dict[str, str], *args: str, timeout: float = 60) -> str:
    done = subprocess.run(
        [*CHIDAO, *args], env=env, cwd=REPO, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"chidao {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def status(env: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(chidao(env, "status", DIRECTIVE, "--json"))
    return data


def post_report(webhook_url: str, secret: str, agency: str, cycle: str) -> httpx.Response:
    body = json.dumps({"text": f"Báo cáo kết quả năm {cycle} của {agency}."}, ensure_ascii=False)
    path = f"/v1/directives/{DIRECTIVE}/agencies/{agency}/cycles/{cycle}/report"
    headers = sign_headers(
        "POST",
        path,
        "",
        body.encode("utf-8"),
        keyid=f"{agency}:hmac",
        key=secret_key_bytes(secret),
        alg="hmac-sha256",
    )
    return httpx.post(
        f"{webhook_url}{path}", content=body.encode("utf-8"), headers=headers, timeout=10
    )


def wait_until(what: str, check: Any, timeout: float, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"{what}: not within {timeout:g} s")


class Prefect:
    """The few reads the test makes through the Prefect API."""

    def __init__(self, api_url: str) -> None:
        self.api_url = api_url

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run(coroutine)

    def flow_run(self, run_id: str) -> Any:
        from prefect.client.orchestration import PrefectClient

        async def read() -> Any:
            async with PrefectClient(self.api_url) as client:
                return await client.read_flow_run(uuid.UUID(run_id))

        return self._run(read())

    def directive_runs(self) -> list[Any]:
        from prefect.client.orchestration import PrefectClient
        from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags

        async def read() -> list[Any]:
            async with PrefectClient(self.api_url) as client:
                return list(
                    await client.read_flow_runs(
                        flow_run_filter=FlowRunFilter(
                            tags=FlowRunFilterTags(all_=[f"directive:{DIRECTIVE}"])
                        )
                    )
                )

        return self._run(read())

    def latest_artifact(self, key: str) -> Any:
        from prefect.client.orchestration import PrefectClient
        from prefect.client.schemas.filters import (
            ArtifactCollectionFilter,
            ArtifactCollectionFilterKey,
        )

        async def read() -> Any:
            async with PrefectClient(self.api_url) as client:
                found = await client.read_latest_artifacts(
                    artifact_filter=ArtifactCollectionFilter(
                        key=ArtifactCollectionFilterKey(any_=[key])
                    )
                )
                return found[0] if found else None

        return self._run(read())


def table(artifact: Any) -> list[dict[str, Any]]:
    data = artifact.data
    rows: list[dict[str, Any]] = json.loads(data) if isinstance(data, str) else data
    return rows


def test_a_signed_report_wakes_the_directive_within_seconds(tmp_path: Path) -> None:
    with ChidaoUp(tmp_path) as up:
        env = {**up.client_env(), "CHIDAO_LANG": "en"}  # its output is parsed below
        prefect = Prefect(up.api_url)

        t0 = time.monotonic()
        launched = chidao(env, "launch", str(DEFINITION), "--catch-up", "full")
        print(f"\nlaunch took {time.monotonic() - t0:.1f} s")
        first_run = next(
            line.split(":", 1)[1].strip()
            for line in launched.splitlines()
            if line.startswith("flow run:")
        )
        wait_until(
            "the first run completed",
            lambda: prefect.flow_run(first_run).state.is_completed(),
            120,  # it catches up on every reminder since 2023: about 30 s
            every=0.5,
        )
        print(f"first run done {time.monotonic() - t0:.1f} s after the launch began")
        first_artifact = prefect.latest_artifact(f"{DIRECTIVE}-status")
        assert first_artifact is not None and str(first_artifact.flow_run_id) == first_run

        secret = chidao(env, "agencies", "secret", AGENCY).strip()
        before = status(env)
        cycle = before["cycle"]
        row_before = next(r for r in before["agencies"] if r["agency"] == AGENCY)
        runs_before = {r.id for r in prefect.directive_runs()}

        posted_at = dt.datetime.now(dt.UTC)
        started = time.monotonic()
        response = post_report(up.webhook_url, secret, AGENCY, cycle)
        assert response.status_code in (200, 201), response.text

        def woken_and_published() -> Any:
            artifact = prefect.latest_artifact(f"{DIRECTIVE}-status")
            if artifact is None or artifact.latest_id == first_artifact.latest_id:
                return None
            return artifact

        artifact = wait_until("the status table updated", woken_and_published, 15, every=0.05)
        latency = time.monotonic() - started

        new_runs = [r for r in prefect.directive_runs() if r.id not in runs_before]
        woken = next(r for r in new_runs if r.id == artifact.flow_run_id)
        assert woken.idempotency_key.startswith(f"{DIRECTIVE}-wake-"), woken.idempotency_key
        assert woken.deployment_id is not None
        lag = (woken.expected_start_time - posted_at).total_seconds()
        began = (woken.start_time - posted_at).total_seconds() if woken.start_time else None
        assert -0.5 < lag < 2.5, f"expected to start {lag:.2f} s after the call"

        after = status(env)
        ledger_row = next(r for r in after["agencies"] if r["agency"] == AGENCY)
        # the table is for people: Vietnamese headers and values (CHIDAO_LANG unset)
        artifact_row = next(r for r in table(artifact) if r["Mã cơ quan"] == AGENCY)
        assert ledger_row["status"] != row_before["status"]
        assert ledger_row["status"] in ("completed_on_time", "completed_late")
        assert artifact_row["Tình trạng"] == standing_label(ledger_row["status"], "vi")
        print(
            f"\nPOST → status table of run {woken.name!r} updated in {latency:.2f} s "
            f"(expected start {lag:+.2f} s, started {began:+.2f} s after the call; {AGENCY}: "
            f"{row_before['status']} → {artifact_row['Tình trạng']}; runs created: {len(new_runs)})"
        )

    # Prefect is gone now (`up` stopped it): the webhook alone still records a report.
    other_secret = chidao(env, "agencies", "secret", OTHER_AGENCY).strip()
    port = free_port()
    webhook = subprocess.Popen(
        [*CHIDAO, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,  # PREFECT_API_URL still names the stopped server
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"

        def healthy() -> bool:
            try:
                return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until("the webhook alone", healthy, 30, every=0.2)
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"{up.api_url}/health", timeout=1)
        started = time.monotonic()
        response = post_report(url, other_secret, OTHER_AGENCY, cycle)
        assert response.status_code in (200, 201), response.text
        assert time.monotonic() - started < 5
        row = next(r for r in status(env)["agencies"] if r["agency"] == OTHER_AGENCY)
        assert row["last_event"] == "ReportSubmitted", row
    finally:
        os.killpg(webhook.pid, signal.SIGTERM)
        try:
            webhook.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(webhook.pid, signal.SIGKILL)
            webhook.wait(5)
