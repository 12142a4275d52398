"""`chidao simulate` runs the real directive flow on a Prefect test server through a whole cycle.

The ledger it leaves is checked against what the scenario and the definition call for:
issuance notices to every tracked agency, reminders only to agencies that had not reported,
escalations at the right levels on the right working days, the consolidation request to
Sở GD&ĐT after the reports' due date, the consolidated report closing the cycle and the next
cycle opening. Mail goes to a real SMTP server on loopback.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from chidao.cli import main
from definitions.calendar import TIMEZONE, default_calendar
from definitions.loader import DIRECTIVES_DIR
from ledger.db import make_engine
from ledger.directives import Directives
from ledger.store import EventStore
from tests.flows.smtp import Inbox, SmtpServer

pytestmark = [pytest.mark.prefect, pytest.mark.slow]


def _simulate(
    definition: str,
    until: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> tuple[list[dict[str, Any]], Directives, Inbox]:
    database = f"sqlite:///{tmp_path / 'ledger.db'}"
    inbox = Inbox()
    with SmtpServer(inbox) as server:
        monkeypatch.setenv("CHIDAO_HOME", str(tmp_path / "home"))
        monkeypatch.setenv("CHIDAO_DATABASE_URL", database)
        monkeypatch.setenv("CHIDAO_SMTP_HOST", "127.0.0.1")
        monkeypatch.setenv("CHIDAO_SMTP_PORT", str(server.port))
        monkeypatch.delenv("CHIDAO_MAIL_DRY_RUN_DIR", raising=False)
        code = main(
            [
                "simulate",
                str(DIRECTIVES_DIR / definition),
                "--until",
                until,
                "--json",
                "--database",
                database,
                "--smtp",
            ]
        )
        out = capsys.readouterr().out
    assert code == 0
    engine = make_engine(database)
    return json.loads(out), Directives(EventStore(engine)), inbox


def _local_day(moment: dt.datetime) -> dt.date:
    return moment.astimezone(TIMEZONE).date()


def test_2810_through_its_2023_cycle(
    prefect_server: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    timeline, directives, inbox = _simulate(
        "qn-2810-ubnd-kgvx-2023.yaml", "2024-01-05", tmp_path, monkeypatch, capsys
    )
    assert not [e for e in timeline if e["kind"] == "refused"], "a scripted step was refused"
    events = directives.events("qn-2810-ubnd-kgvx-2023")
    by_type: dict[str, list[Any]] = defaultdict(list)
    for event in events:
        by_type[event.type].append(event)

    # every tracked agency got its issuance notice, by mail too
    notified = {e.payload["agency"] for e in by_type["IssuanceNotified"]}
    assert len(notified) == 16
    recipients = {str(m["To"]) for m in inbox.messages}
    assert (
        "so-ldtbxh@quangngai.example" in recipients
        and "ubnd-ly-son@quangngai.example" in recipients
    )
    assert any(
        "Công văn số 2810/UBND-KGVX" in m.get_body(("plain",)).get_content() for m in inbox.messages
    )  # type: ignore[union-attr]

    # reminders only to those who had no report standing when the reminder fell due
    for reminder in by_type["ReminderSent"]:
        if reminder.payload["obligation"] != "report":
            continue
        agency = reminder.payload["agency"]
        before = directives.state("qn-2810-ubnd-kgvx-2023", as_of=reminder.business_time)
        assert before.cycles["2023"].works[agency].completed_at is None, agency
    reminded = {r.payload["agency"] for r in by_type["ReminderSent"]}
    assert "so-gddt" not in {
        r.payload["agency"] for r in by_type["ReminderSent"] if r.payload["obligation"] == "report"
    }
    assert {"ubnd-ly-son", "so-ldtbxh", "ubnd-ba-to"} <= reminded

    # escalations at the right levels on the right working days: 30/11/2023 is a Thursday,
    # level 1 one working day after (01/12), level 2 five working days after (07/12), then every 5
    escalations = [
        (
            e.payload["agency"],
            e.payload["level"],
            e.payload["repeat"],
            _local_day(e.business_time),
            e.payload["to"],
        )
        for e in by_type["EscalationRaised"]
        if e.payload["obligation"] == "report"
    ]
    calendar = default_calendar()
    due = dt.date(2023, 11, 30)
    assert ("ubnd-ly-son", 1, 1, calendar.add_working_days(due, 1), "ubnd-ly-son") in escalations
    assert ("ubnd-ly-son", 2, 1, calendar.add_working_days(due, 5), "ubnd-tinh") in escalations
    assert ("ubnd-ly-son", 2, 2, calendar.add_working_days(due, 10), "ubnd-tinh") in escalations
    assert ("ubnd-ba-to", 1, 1, dt.date(2023, 12, 1), "ubnd-ba-to") in escalations
    assert not [
        x for x in escalations if x[0] == "ubnd-ba-to" and x[1] == 2
    ]  # it reported on 05/12
    assert not [x for x in escalations if x[0] in ("hoi-khuyen-hoc-tinh", "so-ldtbxh", "so-gddt")]

    # the consolidation request went to Sở GD&ĐT after 30/11/2023
    [request] = by_type["ConsolidationRequested"]
    assert request.payload["consolidator"] == "so-gddt"
    assert _local_day(request.business_time) > due

    # its consolidated report closed the cycle, and the 2024 cycle opened
    [consolidated] = by_type["ConsolidatedReportSubmitted"]
    [closed] = [e for e in by_type["CycleClosed"] if e.payload["cycle"] == "2023"]
    assert closed.version > consolidated.version
    assert [e.payload["cycle"] for e in by_type["CycleOpened"]] == ["2023", "2024"]
    state = directives.state("qn-2810-ubnd-kgvx-2023")
    assert state.cycles["2023"].status == "closed" and state.cycles["2024"].status == "open"

    # every message went once: one Message-ID each
    assert len(inbox.ids()) == len(set(inbox.ids()))


def test_5185_with_its_operator_set_date(
    prefect_server: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    timeline, directives, inbox = _simulate(
        "qn-5185-ubnd-kgvx-2021.yaml", "2022-01-05", tmp_path, monkeypatch, capsys
    )
    assert not [e for e in timeline if e["kind"] == "refused"]
    events = directives.events("qn-5185-ubnd-kgvx-2021")
    notified = {e.payload["agency"] for e in events if e.type == "IssuanceNotified"}
    assert len(notified) == 26
    escalated = {e.payload["agency"] for e in events if e.type == "EscalationRaised"}
    front = {
        "ub-mttq-tinh",
        "ldld-tinh",
        "tinh-doan",
        "hoi-lhpn-tinh",
        "hoi-nong-dan-tinh",
        "hoi-ccb-tinh",
    }
    assert not escalated & front  # đề nghị: reminded, never escalated
    assert {"ub-mttq-tinh", "hoi-nong-dan-tinh"} <= {
        e.payload["agency"] for e in events if e.type == "ReminderSent"
    }
    assert "ubnd-ly-son" in escalated and "ubnd-son-tay" in escalated
    [request] = [e for e in events if e.type == "ConsolidationRequested"]
    assert _local_day(request.business_time) > dt.date(2021, 11, 15)  # the operator-set date
    cycles = [e.payload["cycle"] for e in events if e.type == "CycleOpened"]
    assert cycles == ["2021", "2022"]
    assert len(inbox.ids()) == len(set(inbox.ids()))
