"""2810 driven through its whole 2023 cycle by commands alone, on a real ledger.

After every step the state rebuilt from the stored events must equal the live state, on
SQLite and on PostgreSQL (the SpiffWorkflow rule: every scenario also runs through
save → restore).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from definitions.calendar import default_calendar
from ledger.db import ensure_schema, make_engine, sqlite_url_for
from ledger.directives import Directives, to_event
from ledger.store import EventStore
from ledger.verify import verify
from lifecycle import DirectiveState, PerformAction, agency_rows, due_actions, next_wakeup, replay
from lifecycle import commands as c
from lifecycle.commands import OPERATOR, SYSTEM
from lifecycle.state import evolve
from tests.lifecycle.helpers import at, resolved
from tests.pg import throwaway_database

DIRECTIVE = "qn-2810-ubnd-kgvx-2023"
DISTRICTS_ON_TIME = [
    "ubnd-tp-quang-ngai",
    "ubnd-tx-duc-pho",
    "ubnd-binh-son",
    "ubnd-son-tinh",
    "ubnd-tu-nghia",
    "ubnd-nghia-hanh",
    "ubnd-mo-duc",
    "ubnd-minh-long",
    "ubnd-son-tay",
    "ubnd-tra-bong",
]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = make_engine(sqlite_url_for(tmp_path))
        ensure_schema(engine)
        yield engine
        engine.dispose()
        return
    with throwaway_database("chidao_lifecycle") as url:
        engine = make_engine(url)
        ensure_schema(engine)
        yield engine
        engine.dispose()


class Scenario:
    """Runs commands and due planner actions, checking replay == live state after each."""

    def __init__(self, engine: Engine) -> None:
        self.directives = Directives(EventStore(engine))
        self.live = DirectiveState()
        self.steps = 0

    def command(self, command: c.AnyCommand, when: dt.datetime) -> None:
        self.steps += 1
        before = self.live
        outcome = self.directives.execute(DIRECTIVE, command, when, key=f"step-{self.steps}")
        self.live = outcome.state
        stored = self.directives.state(DIRECTIVE)
        assert stored == self.live, f"replay differs from the live state after step {self.steps}"
        events = self.directives.events(DIRECTIVE)[before.version :]
        evolved = before
        for event in map(to_event, events):
            evolved = evolve(evolved, event)
        assert evolved == self.live

    def run_until(self, until: dt.datetime) -> list[str]:
        """Perform the planner's actions from wake-up to wake-up up to `until`."""
        performed = []
        now = self.live.last_event_at
        assert now is not None
        while True:
            while due := due_actions(self.live, now, default_calendar()):
                for action in due:
                    self.steps += 1
                    outcome = self.directives.execute(
                        DIRECTIVE, PerformAction(actor=SYSTEM, action=action), now, key=action.key
                    )
                    self.live = outcome.state
                    assert self.directives.state(DIRECTIVE) == self.live
                    performed.append(action.key)
            wake = next_wakeup(self.live, now, default_calendar())
            if wake is None or wake > until:
                return performed
            now = wake


def _keys(performed: list[str], part: str) -> list[str]:
    return [k for k in performed if f":{part}" in k]


def test_a_whole_2023_cycle_from_commands(engine: Engine) -> None:
    s = Scenario(engine)
    s.command(c.Issue(actor=OPERATOR, resolved=resolved().model_dump(mode="json")), at(2023, 6, 20))
    performed = s.run_until(at(2023, 11, 1))
    assert len(_keys(performed, "issue_notice")) == 16

    s.command(c.Acknowledge(actor="so-gddt", agency="so-gddt"), at(2023, 6, 21))
    s.command(
        c.CompleteItem(actor="so-gddt", agency="so-gddt", item="1a", note="đã triển khai"),
        at(2023, 9, 5),
    )
    s.command(
        c.SubmitReport(actor="so-gddt", agency="so-gddt", cycle="2023", text="Báo cáo của Sở"),
        at(2023, 11, 10),
    )
    for district in DISTRICTS_ON_TIME:
        s.command(
            c.SubmitReport(actor=district, agency=district, cycle="2023", text="Báo cáo"),
            at(2023, 11, 20),
        )

    performed = s.run_until(at(2023, 11, 24))
    reminded = {k.split(":")[2] for k in _keys(performed, "remind@")}
    assert "so-gddt" not in reminded and "ubnd-tp-quang-ngai" not in reminded
    assert {"so-ldtbxh", "ubnd-ly-son", "ubnd-ba-to", "hoi-khuyen-hoc-tinh"} <= reminded

    s.command(
        c.RequestExtension(
            actor="hoi-khuyen-hoc-tinh",
            agency="hoi-khuyen-hoc-tinh",
            cycle="2023",
            reason="Chờ số liệu từ cơ sở",
            proposed_due=dt.date(2023, 12, 8),
        ),
        at(2023, 11, 24),
    )
    s.command(
        c.GrantExtension(actor="ubnd-tinh", agency="hoi-khuyen-hoc-tinh", cycle="2023"),
        at(2023, 11, 27),
    )
    s.command(
        c.SubmitReport(actor="ubnd-son-ha", agency="ubnd-son-ha", cycle="2023", text="Sơ sài"),
        at(2023, 11, 28),
    )
    s.command(
        c.ReturnReport(actor="so-gddt", agency="ubnd-son-ha", cycle="2023", reason="Thiếu số liệu"),
        at(2023, 11, 29),
    )
    s.command(
        c.SubmitReport(actor="so-ldtbxh", agency="so-ldtbxh", cycle="2023", text="Báo cáo"),
        at(2023, 11, 30, 16),
    )
    s.command(c.AcceptReport(actor="so-gddt", agency="so-ldtbxh", cycle="2023"), at(2023, 12, 1))

    performed = s.run_until(at(2023, 12, 4, 8))
    assert _keys(performed, "request_consolidation")  # after 30/11, to Sở GD&ĐT
    assert all(k.split(":")[2] == "so-gddt" for k in _keys(performed, "request_consolidation"))
    notices = _keys(performed, "notice-")
    assert any("extension_granted" in k for k in notices) and any(
        "report_returned" in k for k in notices
    )

    s.command(
        c.SubmitReport(actor="ubnd-son-ha", agency="ubnd-son-ha", cycle="2023", text="Bổ sung"),
        at(2023, 12, 4),
    )
    s.command(
        c.SubmitReport(actor="ubnd-ba-to", agency="ubnd-ba-to", cycle="2023", text="Muộn"),
        at(2023, 12, 5),
    )
    s.command(
        c.SubmitReport(
            actor="hoi-khuyen-hoc-tinh", agency="hoi-khuyen-hoc-tinh", cycle="2023", text="Báo cáo"
        ),
        at(2023, 12, 7),
    )
    performed = s.run_until(at(2023, 12, 12))
    escalations = [k for k in s.live.done_keys if ":escalate@" in k]
    by_agency: dict[str, list[str]] = {}
    for key in escalations:
        by_agency.setdefault(key.split(":")[2], []).append(key.rsplit(":", 1)[1])
    # 30/11 is a Thursday: level 1 on the next working day (01/12), level 2 five working days on (07/12)
    assert sorted(by_agency["ubnd-ly-son"]) == ["1.1", "2.1"]
    assert sorted(by_agency["ubnd-ba-to"]) == ["1.1"]  # reported 05/12, before level 2 fell due
    assert "so-ldtbxh" not in by_agency and "hoi-khuyen-hoc-tinh" not in by_agency
    level2 = [
        e
        for e in s.directives.events(DIRECTIVE)
        if e.type == "EscalationRaised" and e.payload["level"] == 2
    ]
    assert [(e.payload["agency"], e.payload["to"]) for e in level2] == [
        ("ubnd-ly-son", "ubnd-tinh")
    ]
    assert level2[0].business_time.astimezone(at(2023, 1, 1).tzinfo).date() == dt.date(2023, 12, 7)

    rows = {r.agency: r.status for r in agency_rows(s.live, "2023", at(2023, 12, 13))}
    assert rows["so-gddt"] == "completed_on_time"
    assert rows["so-ldtbxh"] == "completed_on_time"
    assert rows["hoi-khuyen-hoc-tinh"] == "completed_on_time"
    assert rows["ubnd-ba-to"] == "completed_late"
    assert (
        rows["ubnd-son-ha"] == "completed_late"
    )  # its report was returned and came back after 30/11
    assert rows["ubnd-ly-son"] == "overdue"
    assert list(rows.values()).count("completed_on_time") == 13

    # as of 29/11 the silent district was still within its deadline
    as_of = replay(map(to_event, s.directives.events(DIRECTIVE, as_of=at(2023, 11, 29, 12))))
    assert {r.agency: r.status for r in agency_rows(as_of, "2023", at(2023, 11, 29, 12))}[
        "ubnd-ly-son"
    ] == "in_progress"

    s.command(
        c.SubmitConsolidatedReport(actor="so-gddt", cycle="2023", text="Báo cáo tổng hợp"),
        at(2023, 12, 14),
    )
    performed = s.run_until(at(2023, 12, 20))
    assert _keys(performed, "close_cycle")
    assert s.live.cycles["2023"].status == "closed"
    assert "2024" in s.live.cycles and s.live.cycles["2024"].status == "open"
    assert s.live.cycles["2024"].works["ubnd-ly-son"].due == dt.date(
        2024, 12, 2
    )  # 30/11/2024 is a Saturday
    assert verify(engine) == []


def test_every_step_is_recorded_once(engine: Engine) -> None:
    s = Scenario(engine)
    s.command(c.Issue(actor=OPERATOR, resolved=resolved().model_dump(mode="json")), at(2023, 6, 20))
    first = s.run_until(at(2023, 6, 21))
    version = s.live.version
    # the same actions again, by key, record nothing
    for key in first:
        recorded = s.directives.store.find(key)
        assert recorded is not None
    again = s.run_until(at(2023, 6, 21))
    assert again == [] and s.live.version == version
