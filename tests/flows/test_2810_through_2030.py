"""2810 from 2023 to its 2030 cycle, through the reorganisation of 2025, with the reconciler
run in process on the simulated clock (the directive flow's own code, its steps as plain
functions) and its mail sent to a real SMTP server on loopback.

Every cycle opens and closes; every hand-over is a WorkTransferred event, as the directory's
succession (from vietnamadminunits' converter) and the operator's choice say; no message goes
to an agency after its end (each message's recipient and Date read from the inbox); and the
state rebuilt from the ledger equals the state kept live, event by event, after every run.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.utils
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from definitions.calendar import TIMEZONE, start_of_day
from definitions.loader import DIRECTIVES_DIR, load_directory
from flows.directive import IN_PROCESS, Runtime, reconcile
from flows.launch import resolve_file
from flows.simulate import load_scenario, packaged_scenario, simulate, timeline
from ledger.directives import replay_stored, to_event
from lifecycle import DirectiveState, apply
from notifications.mailer import SmtpConfig
from tasks.runtime import directives_for
from tests.flows.smtp import Inbox, SmtpServer
from tests.ledger.golden import state_summary

# about a minute of CPU alone; a shared machine may stretch it several times
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1200)]

D2810 = "qn-2810-ubnd-kgvx-2023"
DISTRICTS = {
    "ubnd-tp-quang-ngai", "ubnd-tx-duc-pho", "ubnd-binh-son", "ubnd-son-tinh", "ubnd-tu-nghia",
    "ubnd-nghia-hanh", "ubnd-mo-duc", "ubnd-ba-to", "ubnd-minh-long", "ubnd-son-ha",
    "ubnd-son-tay", "ubnd-tra-bong", "ubnd-ly-son",
}  # fmt: skip


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    folder = tmp_path_factory.mktemp("2810-2030")
    url = f"sqlite:///{folder / 'ledger.db'}"
    directives = directives_for(url)
    resolved = resolve_file(DIRECTIVES_DIR / f"{D2810}.yaml")
    scenario = load_scenario(packaged_scenario(D2810))
    inbox = Inbox()
    live = DirectiveState()
    seen = 0
    mismatches: list[str] = []
    runs = 0
    with SmtpServer(inbox) as server:
        runtime = Runtime(
            database_url=url,
            smtp=SmtpConfig(host="127.0.0.1", port=server.port),
            answer_url="http://127.0.0.1:9/",
            mail_retry_base_seconds=0.01,
        )

        async def run_flow(directive_id: str, now: dt.datetime) -> Any:
            nonlocal seen, runs
            runs += 1
            result = await reconcile(
                directive_id, now, runtime, schedule_next=False, steps=IN_PROCESS
            )
            stored = directives.events(directive_id)
            for event in stored[seen:]:
                apply(live, to_event(event))
            seen = len(stored)
            if state_summary(replay_stored(stored)) != state_summary(live):
                mismatches.append(now.isoformat())
            return result

        entries = asyncio.run(
            simulate(resolved, scenario, directives, run_flow, until=dt.date(2031, 1, 31))
        )
    result = {
        "directives": directives,
        "entries": entries,
        "inbox": inbox,
        "mismatches": mismatches,
        "runs": runs,
        "state": directives.state(D2810),
        "events": directives.events(D2810),
    }
    return result


def test_every_cycle_opens_and_closes_and_the_directive_closes(run: dict[str, Any]) -> None:
    state = run["state"]
    assert list(state.cycles) == [str(y) for y in range(2023, 2031)]
    assert all(c.status == "closed" for c in state.cycles.values())
    assert state.status == "closed"
    refused = [e for e in run["entries"] if e.kind == "refused"]
    assert refused == [], refused[:3]


def test_replay_equals_the_live_state_after_every_run(run: dict[str, Any]) -> None:
    assert run["runs"] > 50
    assert run["mismatches"] == []


def test_2023_and_2024_ran_with_13_district_committees_and_later_years_with_successors(
    run: dict[str, Any],
) -> None:
    state = run["state"]
    directory = load_directory()
    communes = {a.id for a in directory.agencies if a.kind == "commune_committee"}
    for year in ("2023", "2024"):
        works = set(state.cycles[year].works)
        assert DISTRICTS <= works and not works & communes and "so-ldtbxh" in works
    for year in [str(y) for y in range(2026, 2031)]:
        works = set(state.cycles[year].works)
        assert not works & DISTRICTS and "so-ldtbxh" not in works
        assert communes <= works and "so-noi-vu" in works
        assert len(works) == 56 + 3  # the communes, Sở GD&ĐT, Sở Nội vụ, Hội Khuyến học
        assert "so-y-te" not in works  # the operator chose Sở Nội vụ alone
    # in 2025 the work passed mid-cycle: the districts' open work is marked transferred
    cycle_2025 = state.cycles["2025"]
    assert {cycle_2025.works[d].status for d in DISTRICTS} == {"transferred"}
    assert cycle_2025.works["so-ldtbxh"].status == "transferred"
    assert communes <= set(cycle_2025.works)


def test_every_hand_over_is_an_event_with_basis_and_who_decided(run: dict[str, Any]) -> None:
    directory = load_directory()
    agencies = {a.id: a for a in directory.agencies}
    transfers = [e for e in run["events"] if e.type == "WorkTransferred"]
    pairs = defaultdict(list)
    for event in transfers:
        pairs[event.payload["agency"]].append(event.payload["to"])
        assert event.payload["decided_by"] == "Văn phòng UBND tỉnh (người vận hành chidao)"
        assert event.payload["basis"]
    assert pairs.pop("so-ldtbxh") == ["so-noi-vu"]
    assert set(pairs) == DISTRICTS
    for district, successors in pairs.items():
        succession = agencies[district].succession
        assert succession is not None
        assert successors == list(succession.successor_ids)
    assert sum(map(len, pairs.values())) == 57  # Đông Sơn covers parts of two districts
    at = {e.business_time.astimezone(TIMEZONE).date() for e in transfers}
    assert at == {dt.date(2025, 3, 3), dt.date(2025, 7, 1)}
    shown = [e for e in run["entries"] if e.type == "WorkTransferred"]
    assert len(shown) == len(transfers) and all("→" in e.detail for e in shown)
    amended = [e for e in run["events"] if e.type == "DefinitionAmended"]
    assert [e.payload["author"] for e in amended] == [
        "Văn phòng UBND tỉnh (người vận hành chidao)"
    ] * 2


def test_no_message_goes_to_an_agency_after_its_end(run: dict[str, Any]) -> None:
    directory = load_directory()
    by_address = {a.email: a for a in directory.agencies if a.email}
    ended: dict[str, dt.datetime] = {
        a.id: start_of_day(a.valid_until) for a in directory.agencies if a.valid_until
    }
    for event in run["events"]:  # a hand-over ends an agency's part in the directive too
        if event.type == "WorkTransferred":
            ended[event.payload["agency"]] = min(
                ended.get(event.payload["agency"], event.business_time), event.business_time
            )
    checked = 0
    received: dict[str, list[dt.datetime]] = defaultdict(list)
    for raw in run["inbox"].messages:
        message = email.message_from_bytes(raw) if isinstance(raw, bytes) else raw
        sent = email.utils.parsedate_to_datetime(message["Date"])
        for _name, address in email.utils.getaddresses(message.get_all("To", [])):
            agency = by_address.get(address)
            assert agency is not None, address
            received[agency.id].append(sent)
            checked += 1
            if agency.id in ended:
                assert sent < ended[agency.id], f"{agency.id} got mail on {sent} after its end"
            if agency.valid_from is not None:
                assert sent >= start_of_day(agency.valid_from), f"{agency.id} before it existed"
    assert checked > 150
    # the successors were told: each commune committee and Sở Nội vụ got mail
    assert all(received[a.id] for a in directory.agencies if a.kind == "commune_committee")
    assert max(received["ubnd-ba-to"]) < dt.datetime(2025, 7, 1, tzinfo=TIMEZONE)
    assert min(received["so-noi-vu"]) >= dt.datetime(2025, 3, 3, tzinfo=TIMEZONE)
    assert max(received["so-ldtbxh"]) < dt.datetime(2025, 3, 1, tzinfo=TIMEZONE)


def test_the_timeline_and_the_ledger_agree(run: dict[str, Any]) -> None:
    entries = [e for e in timeline(run["directives"], D2810)]
    assert len(entries) == len(run["events"])
    assert Path(packaged_scenario(D2810)).exists()
