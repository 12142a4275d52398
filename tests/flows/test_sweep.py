"""Nothing stalls: a run that fails schedules its retry, and the sweeper reconciles what is overdue.

On the real Prefect test server, with a real ledger (SQLite) and mail to aiosmtpd: a directive
(2810 re-dated to today, its first cycle next year) is issued two hours ago and its first run
fails (the ledger is unreachable for it). That run leaves a `retry` wake-up behind. The sweeper
then finds the directive's issuance notices overdue, reconciles it (notices recorded and
mailed), leaves one wake-up at the planned time and cancels the retry and a stale wake-up made
obsolete by the new plan. A second sweep does nothing; a lost wake-up is scheduled again; a
run left Running by a dead worker is marked Crashed once stale, and replaced. The
deployments `chidao up` serves include the sweeper on a 5-minute schedule.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import yaml

from definitions.calendar import TIMEZONE, default_calendar
from definitions.loader import DIRECTIVES_DIR
from ledger.directives import Directives
from lifecycle import commands as c
from lifecycle import next_wakeup
from tasks.runtime import directives_for, dispose_all
from tasks.schedule import RETRY_TAG, WakeupInput, create_wakeup, open_runs
from tests.flows.smtp import Inbox, SmtpServer

pytestmark = [pytest.mark.prefect, pytest.mark.slow, pytest.mark.anyio]

D = "qn-2810-ubnd-kgvx-2023"


def _definition_for_today(folder: Path, today: dt.date) -> Path:
    data = yaml.safe_load((DIRECTIVES_DIR / f"{D}.yaml").read_text(encoding="utf-8"))
    data["issued_on"] = today.isoformat()
    data["reporting"]["first_cycle"] = today.year + 1
    data["reporting"]["last_cycle"] = today.year + 1
    path = folder / f"{D}.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


async def _state_of(run_id: str) -> str:
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        run = await client.read_flow_run(run_id)  # type: ignore[arg-type]
    assert run.state is not None
    return str(run.state.type.value)


def _scheduled(runs: list[Any]) -> list[Any]:
    return [r for r in runs if r.state is not None and r.state.is_scheduled()]


async def test_a_failed_run_is_retried_and_the_sweeper_reconciles_it(
    prefect_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flows.directive import RETRY_AFTER, directive
    from flows.launch import resolve_file
    from flows.sweep import sweep

    good_url = f"sqlite:///{tmp_path / 'ledger.db'}"
    broken_url = f"sqlite:///{tmp_path / 'not-a-dir'}/ledger.db"
    (tmp_path / "not-a-dir").write_text("a file where the ledger's folder should be")
    await (await directive.ato_deployment(name="directive")).apply()

    now = dt.datetime.now(dt.UTC)
    resolved = resolve_file(_definition_for_today(tmp_path, now.astimezone(TIMEZONE).date()))
    dispose_all()
    directives: Directives = directives_for(good_url)
    issued = now - dt.timedelta(hours=2)
    directives.execute(
        D, c.Issue(actor=c.operator("test"), resolved=resolved.model_dump(mode="json")), issued,
        key="issue",
    )
    inbox = Inbox()
    with SmtpServer(inbox) as server:
        monkeypatch.setenv("CHIDAO_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("CHIDAO_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("CHIDAO_SMTP_PORT", str(server.port))
        monkeypatch.delenv("CHIDAO_MAIL_DRY_RUN_DIR", raising=False)

        # the run fails: its ledger is unreachable
        monkeypatch.setenv("CHIDAO_DATABASE_URL", broken_url)
        with pytest.raises(Exception, match=r"ledger|directory|database"):
            await directive(directive_id=D, label="2810 · first run")
        [retry] = [r for r in _scheduled(await open_runs(D)) if RETRY_TAG in r.tags]
        assert retry.expected_start_time is not None
        lag = retry.expected_start_time.timestamp() - now.timestamp()
        assert RETRY_AFTER.total_seconds() - 5 < lag < RETRY_AFTER.total_seconds() + 60
        assert len(directives.events(D)) == 2  # nothing was done

        # a wake-up an older plan left, three days out
        stale = await create_wakeup(
            WakeupInput(directive=D, at=now + dt.timedelta(days=3), label="stale")
        )

        monkeypatch.setenv("CHIDAO_DATABASE_URL", good_url)
        done = await sweep(grace_seconds=60)
        assert done["reconciled"] == [D]

        events = directives.events(D)
        notified = [e for e in events if e.type == "IssuanceNotified"]
        assert len(notified) == 16
        assert len([e for e in events if e.type == "NotificationSent"]) == 16
        assert len(inbox.messages) == 16
        state = directives.state(D)
        wake = next_wakeup(state, dt.datetime.now(dt.UTC), default_calendar())
        assert wake is not None and wake.year == now.astimezone(TIMEZONE).year + 1
        scheduled = _scheduled(await open_runs(D))
        assert len(scheduled) == 1
        assert scheduled[0].expected_start_time.timestamp() == wake.timestamp()
        assert await _state_of(str(retry.id)) == "CANCELLED"
        assert await _state_of(stale) == "CANCELLED"

        # nothing overdue, nothing missing: a second sweep does nothing
        assert await sweep(grace_seconds=60) == {
            "reconciled": [], "scheduled": [], "cancelled": [], "failed": [], "crashed": []
        }

        # the planned wake-up is lost (cancelled by hand): the sweeper schedules it again
        from prefect.client.orchestration import get_client
        from prefect.states import Cancelled

        async with get_client() as client:
            await client.set_flow_run_state(scheduled[0].id, Cancelled(), force=True)
        assert (await sweep(grace_seconds=60))["scheduled"] == [D]
        [again] = _scheduled(await open_runs(D))
        assert again.id != scheduled[0].id
        assert again.expected_start_time.timestamp() == wake.timestamp()

        # its worker died while it ran (it stays Running for ever): within stale_seconds it
        # counts as someone on the directive; after, it is marked Crashed and replaced
        from prefect.states import Running

        async with get_client() as client:
            await client.set_flow_run_state(again.id, Running(), force=True)
        kept = await sweep(grace_seconds=60)  # a running run is no wake-up: one is made
        assert kept["crashed"] == [] and kept["scheduled"] == [D]
        assert await _state_of(str(again.id)) == "RUNNING"
        taken = await sweep(grace_seconds=60, stale_seconds=0)
        assert taken["crashed"] == [str(again.id)] and taken["scheduled"] == []
        assert await _state_of(str(again.id)) == "CRASHED"
        [third] = _scheduled(await open_runs(D))
        assert third.expected_start_time.timestamp() == wake.timestamp()
    assert len(directives.events(D)) == len(events)
    dispose_all()


async def test_chidao_up_serves_the_sweeper_on_a_schedule() -> None:
    from flows.serve import build_deployments

    deployments = {d.name: d for d in await build_deployments()}
    assert set(deployments) == {"directive", "launch", "sweep"}
    [schedule] = deployments["sweep"].schedules
    assert schedule.schedule.interval == dt.timedelta(minutes=5)
    assert not deployments["directive"].schedules
