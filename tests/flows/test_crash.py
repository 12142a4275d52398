"""Killing the directive flow's process mid-run (SIGKILL) and running it again changes nothing.

Two ledgers get the same directive: one run goes through uninterrupted; the other's process
is killed while a message is in the middle of being sent, then run again. Both end with the
same ledger and the same mails, and the table artifact read back through the Prefect API
equals the ledger's state.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ledger.db import make_engine
from ledger.directives import Directives
from ledger.store import EventStore
from lifecycle.status import agency_rows, current_cycle
from tasks.status import artifact_key, event_name, table_rows
from tests.flows.smtp import Inbox, SmtpServer
from tests.lifecycle.helpers import issued_ledger

pytestmark = [pytest.mark.prefect, pytest.mark.slow, pytest.mark.anyio]

DIRECTIVE = "qn-2810-ubnd-kgvx-2023"
REPO = Path(__file__).resolve().parents[2]
RUN_AT = "2023-06-20T10:00:00+07:00"
FLOW = (
    "import asyncio, datetime as dt\n"
    "from flows.directive import directive\n"
    f"asyncio.run(directive(directive_id={DIRECTIVE!r}, at=dt.datetime.fromisoformat({RUN_AT!r}), schedule_next=False))\n"
)


def _issued_ledger(path: Path) -> str:
    url = f"sqlite:///{path}"
    issued_ledger(url).store.engine.dispose()
    return url


def _start_flow(
    database_url: str, smtp_port: int, api_url: str, home: Path
) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "CHIDAO_HOME": str(home),
        "CHIDAO_DATABASE_URL": database_url,
        "CHIDAO_SMTP_HOST": "127.0.0.1",
        "CHIDAO_SMTP_PORT": str(smtp_port),
        "CHIDAO_SMTP_TIMEOUT_SECONDS": "3",
        "PREFECT_API_URL": api_url,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "DO_NOT_TRACK": "1",
    }
    env.pop("CHIDAO_MAIL_DRY_RUN_DIR", None)
    return subprocess.Popen(
        [sys.executable, "-c", FLOW],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _finish(process: subprocess.Popen[bytes], timeout: float = 120) -> None:
    try:
        out, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, _ = process.communicate()
        pytest.fail(
            f"the flow run did not finish in {timeout} s:\n{out.decode(errors='replace')[-3000:]}"
        )
    assert process.returncode == 0, out.decode(errors="replace")[-3000:]


def _ledger(url: str) -> list[tuple[Any, ...]]:
    engine = make_engine(url)
    try:
        return [
            (
                e.version,
                e.type,
                json.dumps(e.payload, sort_keys=True),
                e.business_time,
                e.idempotency_key,
            )
            for e in EventStore(engine).read(DIRECTIVE)
        ]
    finally:
        engine.dispose()


def _mails(inbox: Inbox) -> list[tuple[str, str, str]]:
    return sorted((str(m["Message-ID"]), str(m["To"]), str(m["Subject"])) for m in inbox.messages)


async def _artifact_rows(api_url: str) -> list[dict[str, Any]]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    async with get_client() as client:
        artifacts = await client.read_latest_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[artifact_key(DIRECTIVE, "status")])
            )
        )
    assert artifacts, "no status artifact was published"
    data = artifacts[0].data
    return json.loads(data) if isinstance(data, str) else data  # type: ignore[no-any-return]


async def test_sigkill_mid_run_then_rerun_equals_an_uninterrupted_run(
    prefect_server: str, tmp_path: Path
) -> None:
    straight_url = _issued_ledger(tmp_path / "straight.db")
    straight_inbox = Inbox()
    with SmtpServer(straight_inbox) as server:
        _finish(_start_flow(straight_url, server.port, prefect_server, tmp_path / "home-a"))

    crashed_url = _issued_ledger(tmp_path / "crashed.db")
    crashed_inbox = Inbox(hold_at=6)
    with SmtpServer(crashed_inbox) as server:
        process = _start_flow(crashed_url, server.port, prefect_server, tmp_path / "home-b")
        try:
            assert crashed_inbox.held.wait(90), "the run never reached its sixth message"
            process.send_signal(signal.SIGKILL)
            process.wait(10)
        finally:
            if process.poll() is None:
                process.kill()
        assert process.returncode == -signal.SIGKILL
        assert len(crashed_inbox.messages) == 5
        crashed_inbox.release.set()
        time.sleep(0.2)
        crashed_inbox.hold_at = None
        _finish(_start_flow(crashed_url, server.port, prefect_server, tmp_path / "home-b"))

    assert _mails(crashed_inbox) == _mails(straight_inbox)
    assert len(straight_inbox.messages) == 16  # one issuance notice per tracked agency
    assert _ledger(crashed_url) == _ledger(straight_url)

    engine = make_engine(crashed_url)
    state = Directives(EventStore(engine)).state(DIRECTIVE)
    engine.dispose()
    cycle = current_cycle(state)
    assert cycle == "2023"

    expected = table_rows(agency_rows(state, cycle, dt.datetime.fromisoformat(RUN_AT)))
    assert await _artifact_rows(prefect_server) == expected


async def _chidao_events(api_url: str, since: dt.datetime, name: str) -> list[dict[str, Any]]:
    import httpx
    from prefect.events.filters import (
        EventFilter,
        EventNameFilter,
        EventOccurredFilter,
        EventResourceFilter,
    )

    query = EventFilter(
        # events occur when they are published (the feed shows recent ones): this test's since
        occurred=EventOccurredFilter(since=since, until=since + dt.timedelta(minutes=10)),
        event=EventNameFilter(name=[name]),
        resource=EventResourceFilter(id=[f"chidao.directive.{DIRECTIVE}"]),
    )
    async with httpx.AsyncClient(base_url=api_url, timeout=10) as client:
        answer = await client.post(
            "/events/filter", json={"filter": query.model_dump(mode="json"), "limit": 50}
        )
        answer.raise_for_status()
        return list(answer.json()["events"])


async def test_lifecycle_events_reach_the_prefect_event_feed(
    prefect_server: str, tmp_path: Path
) -> None:
    """Every kind of event the ledger holds after a run is in the event feed, occurring now
    (not at its business time in 2023, which the feed's recent window would hide)."""
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    issued = dt.datetime(2023, 6, 20, 2, random.randrange(60), random.randrange(60), tzinfo=dt.UTC)
    issued_ledger(url, when=issued).store.engine.dispose()
    started = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    with SmtpServer(Inbox()) as server:
        _finish(_start_flow(url, server.port, prefect_server, tmp_path / "home"))
    engine = make_engine(url)
    kinds = {e.type for e in Directives(EventStore(engine)).events(DIRECTIVE)}
    engine.dispose()
    expected = {event_name(kind) for kind in kinds}
    assert {"chidao.directive.issued", "chidao.cycle.opened", "chidao.notification.sent"} <= expected
    deadline = time.monotonic() + 20
    found: list[dict[str, Any]] = []
    while time.monotonic() < deadline:
        found = [e for name in sorted(expected) for e in await _chidao_events(prefect_server, started, name)]
        if expected <= {e["event"] for e in found}:
            break
        time.sleep(0.5)
    assert expected <= {e["event"] for e in found}
    issued_event = next(e for e in found if e["event"] == "chidao.directive.issued")
    assert dt.datetime.fromisoformat(issued_event["payload"]["at"]) == issued


def test_every_ledger_event_kind_has_a_feed_name() -> None:
    """No kind of ledger event is left out of the feed, now or when a kind is added."""
    import typing

    from lifecycle import events as ledger_events
    from tasks.status import EVENT_NAMES

    kinds = {
        typing.get_args(cls.model_fields["type"].annotation)[0]
        for cls in vars(ledger_events).values()
        if isinstance(cls, type)
        and issubclass(cls, ledger_events.EventBase)
        and "type" in cls.model_fields
        and typing.get_args(cls.model_fields["type"].annotation)
    }
    assert len(kinds) >= 23
    assert kinds <= set(EVENT_NAMES)  # each named on purpose
    assert event_name("CyclesNotTracked") == "chidao.cycles.not-tracked"
    assert event_name("SomethingAddedLater") == "chidao.something.added.later"
