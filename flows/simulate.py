"""Simulated time: the same directive flow, run with a clock that jumps from one wake-up to the next.

A scenario (YAML) scripts what agencies do and when: acknowledge, finish an item, report on
time or late, ask for an extension, never answer. The simulator records issuance, then
repeatedly moves its clock to the earlier of the next scripted step and the planner's next
wake-up, feeds the step to the ledger as the webhook would, and runs the directive flow at
that business time. A year passes in seconds; with a Prefect server attached every run
shows in the UI. On a ledger that already holds the directive, the simulation resumes from
its last event's business time (steps already recorded are not repeated: their keys are).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from definitions.calendar import TIMEZONE, default_calendar
from definitions.errors import DefinitionError, Problem
from definitions.handover import HandoverSpec
from definitions.loader import load_directory
from definitions.resolve import ResolvedDirective
from definitions.yaml_reader import position_of, read_yaml
from flows.clock import SimulatedClock
from ledger.directives import Directives
from lifecycle import NotFound, Refused, next_wakeup
from lifecycle import commands as c
from lifecycle.amendment import amend_command
from lifecycle.commands import OPERATOR
from lifecycle.status import current_cycle

SCENARIOS_DIR = Path(__file__).parent / "scenarios"
DEFAULT_HOUR = 9

StepKind = Literal[
    "acknowledge",
    "complete_item",
    "report",
    "request_extension",
    "grant_extension",
    "refuse_extension",
    "accept",
    "return",
    "consolidate",
    "withdraw",
    "move_deadline",
]


class Step(BaseModel):
    """One scripted action: who does what, when (Asia/Ho_Chi_Minh, 09:00 when only a date)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: dt.datetime | dt.date
    agency: str
    do: StepKind
    cycle: str | None = None
    target: str | None = Field(default=None, description="The agency a review or a grant is about.")
    item: str | None = None
    text: str = "Báo cáo kết quả thực hiện."
    reason: str = "Theo kịch bản mô phỏng."
    proposed_due: dt.date | None = None
    new_due: dt.date | None = None

    @property
    def moment(self) -> dt.datetime:
        if isinstance(self.at, dt.datetime):
            return self.at if self.at.tzinfo else self.at.replace(tzinfo=TIMEZONE)
        return dt.datetime.combine(self.at, dt.time(DEFAULT_HOUR), tzinfo=TIMEZONE)


class AmendmentStep(BaseModel):
    """An operator's amendment at `at`: the same definition (or `definition`, a file beside
    the scenario), with the hand-overs it chooses taking effect `on` (default: that day)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: dt.datetime | dt.date
    author: str
    reason: str
    on: dt.date | None = None
    handovers: tuple[HandoverSpec, ...] = ()

    @property
    def moment(self) -> dt.datetime:
        return Step(at=self.at, agency=OPERATOR, do="acknowledge").moment

    @property
    def day(self) -> dt.date:
        return self.on or self.moment.astimezone(TIMEZONE).date()


class Scenario(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    directive: str
    description: str = ""
    launch_at: dt.datetime | dt.date | None = None
    until: dt.date | None = None
    silent: tuple[str, ...] = Field(default=(), description="Agencies that never answer.")
    steps: tuple[Step, ...] = ()
    amendments: tuple[AmendmentStep, ...] = ()


class TimelineEntry(BaseModel):
    at: dt.datetime
    kind: Literal["event", "refused", "run"]
    type: str
    agency: str | None = None
    cycle: str | None = None
    detail: str = ""


def load_scenario(path: Path) -> Scenario:
    """A scenario file, read as strictly as a definition and with the same kind of errors."""
    data, positions = read_yaml(path)
    try:
        return Scenario.model_validate(data)
    except ValidationError as e:
        problems = []
        for error in e.errors():
            loc = tuple(
                p for p in error["loc"] if not (isinstance(p, str) and p in ("datetime", "date"))
            )
            line, column = position_of(positions, loc)
            problems.append(Problem(str(path), line, column, ".".join(map(str, loc)), error["msg"]))
        raise DefinitionError(problems) from e


def _command(step: Step, cycle: str) -> c.AnyCommand:
    who, target = step.agency, step.target or step.agency
    match step.do:
        case "acknowledge":
            return c.Acknowledge(actor=who, agency=who)
        case "complete_item":
            return c.CompleteItem(actor=who, agency=who, item=step.item or "", note=step.text)
        case "report":
            return c.SubmitReport(actor=who, agency=who, cycle=cycle, text=step.text)
        case "request_extension":
            if step.proposed_due is None:
                raise NotFound("a request_extension step needs proposed_due")
            return c.RequestExtension(
                actor=who,
                agency=who,
                cycle=cycle,
                reason=step.reason,
                proposed_due=step.proposed_due,
            )
        case "grant_extension":
            return c.GrantExtension(actor=who, agency=target, cycle=cycle, new_due=step.new_due)
        case "refuse_extension":
            return c.RefuseExtension(actor=who, agency=target, cycle=cycle, reason=step.reason)
        case "accept":
            return c.AcceptReport(actor=who, agency=target, cycle=cycle)
        case "return":
            return c.ReturnReport(actor=who, agency=target, cycle=cycle, reason=step.reason)
        case "consolidate":
            return c.SubmitConsolidatedReport(actor=who, cycle=cycle, text=step.text)
        case "withdraw":
            return c.WithdrawTask(actor=who, agency=target, reason=step.reason)
        case "move_deadline":
            if step.new_due is None:
                raise NotFound("a move_deadline step needs new_due")
            return c.MoveDeadline(
                actor=who, cycle=cycle, agency=step.target, new_due=step.new_due, reason=step.reason
            )
    raise NotFound(f"unknown step {step.do}")


RunFlow = Callable[[str, dt.datetime], Awaitable[Any]]


async def simulate(
    resolved: ResolvedDirective,
    scenario: Scenario,
    directives: Directives,
    run_flow: RunFlow,
    *,
    until: dt.date | None = None,
    on_tick: Callable[[dt.datetime], None] | None = None,
) -> list[TimelineEntry]:
    """Run the directive from issuance to `until`, feeding the scenario; the timeline it leaves."""
    directive_id = resolved.definition.id
    if scenario.directive != directive_id:
        raise NotFound(f"the scenario is for {scenario.directive}, not {directive_id}")
    launch = scenario.launch_at or resolved.definition.issued_on
    start = Step(at=launch, agency=OPERATOR, do="acknowledge").moment
    if directives.exists(directive_id):
        # A ledger that already holds the directive goes on from its last event: business
        # time never goes back, and what is recorded is not done again.
        start = max(start, directives.events(directive_id)[-1].business_time)
    last_day = (
        until
        or scenario.until
        or resolved.cycles[0].consolidation_due
        or resolved.cycles[0].report_due
    )
    end = dt.datetime.combine(last_day + dt.timedelta(days=1), dt.time(), tzinfo=TIMEZONE)
    clock = SimulatedClock(start)
    refused: list[TimelineEntry] = []
    directives.execute(
        directive_id,
        c.Issue(actor=OPERATOR, resolved=resolved.model_dump(mode="json")),
        start,
        key=f"issue:{directive_id}",
    )
    await run_flow(directive_id, clock.now())
    steps = sorted(scenario.steps, key=lambda s: s.moment)
    amendments = sorted(scenario.amendments, key=lambda a: a.moment)
    index = done_amendments = 0
    while True:
        state = directives.state(directive_id)
        wake = next_wakeup(state, clock.now(), default_calendar())
        scripted = [
            steps[index].moment if index < len(steps) else None,
            amendments[done_amendments].moment if done_amendments < len(amendments) else None,
        ]
        candidates = [t for t in (wake, *scripted) if t]
        if not candidates or min(candidates) >= end or state.status == "closed":
            break
        clock.advance_to(min(candidates))
        if on_tick:
            on_tick(clock.now())
        while (
            done_amendments < len(amendments)
            and amendments[done_amendments].moment <= clock.now()
        ):
            amendment = amendments[done_amendments]
            done_amendments += 1
            _amend(directives, resolved, amendment, clock.now(), done_amendments)
        while index < len(steps) and steps[index].moment <= clock.now():
            step = steps[index]
            index += 1
            state = directives.state(directive_id)
            cycle = step.cycle or current_cycle(state) or ""
            for number, who in enumerate(_actors(step, state, cycle, scenario.silent)):
                try:
                    directives.execute(
                        directive_id,
                        _command(step.model_copy(update={"agency": who}), cycle),
                        clock.now(),
                        key=f"scenario:{directive_id}:{index}"
                        + (f":{number}" if step.agency == EVERYONE else ""),
                    )
                except Refused as e:
                    refused.append(
                        TimelineEntry(
                            at=clock.now(),
                            kind="refused",
                            type=step.do,
                            agency=who,
                            cycle=cycle,
                            detail=str(e),
                        )
                    )
        await run_flow(directive_id, clock.now())
    return timeline(directives, directive_id) + refused


# `agency: "*"` in a step: every agency that still owes the cycle's report, less the silent.
EVERYONE = "*"


def _actors(step: Step, state: Any, cycle: str, silent: tuple[str, ...]) -> list[str]:
    if step.agency != EVERYONE:
        return [step.agency]
    cycle_state = state.cycles.get(cycle)
    if cycle_state is None:
        return []
    return [
        work.agency
        for work in cycle_state.works.values()
        if work.status in ("assigned", "returned") and work.agency not in silent
    ]


def _amend(
    directives: Directives,
    resolved: ResolvedDirective,
    amendment: AmendmentStep,
    now: dt.datetime,
    number: int,
) -> None:
    """Record the scenario's amendment as the operator would with `chidao amend`."""
    directive_id = resolved.definition.id
    state = directives.state(directive_id)
    command = amend_command(
        state,
        resolved.definition,
        load_directory(),
        amendment.handovers,
        amendment.day,
        amendment.reason,
        amendment.author,
    )
    directives.execute(directive_id, command, now, key=f"scenario:{directive_id}:amend:{number}")


def timeline(directives: Directives, directive_id: str) -> list[TimelineEntry]:
    entries = []
    for event in directives.events(directive_id):
        payload = event.payload
        detail = ""
        if event.type == "EscalationRaised":
            detail = f"level {payload['level']}.{payload['repeat']} → {payload['to']}"
        elif event.type in ("ReminderSent",):
            detail = f"due {payload['due']}"
        elif event.type in ("ExtensionGranted",):
            detail = f"new due {payload['new_due']}"
        elif event.type in ("NotificationSent", "NotificationFailed"):
            detail = f"{payload['kind']} → {payload['recipient']}"
        elif event.type == "WorkTransferred":
            detail = f"→ {payload['to']} ({payload['basis']}; {payload['decided_by']})"
        elif event.type == "DefinitionAmended":
            detail = f"{payload['reason']} ({payload.get('author') or event.actor})"
        entries.append(
            TimelineEntry(
                at=event.business_time,
                kind="event",
                type=event.type,
                agency=payload.get("agency"),
                cycle=payload.get("cycle"),
                detail=detail,
            )
        )
    return entries


@asynccontextmanager
async def shared_prefect_clients() -> AsyncIterator[None]:
    """One Prefect API client (sync and async) for every flow and task run of a simulation.

    Without it each sync task run opens a client of its own (an httpx client, its TLS context
    loaded from the CA bundle: most of a no-op task's cost); a simulation runs hundreds of
    flow runs in one process, one after another, so they can share one. For the Prefect
    face only (`chidao simulate`): the in-process reconciler has no server to talk to.
    """
    from prefect.context import AsyncClientContext, SyncClientContext

    with SyncClientContext.get_or_create():
        async with AsyncClientContext.get_or_create():
            yield


def packaged_scenario(directive_id: str) -> Path:
    return SCENARIOS_DIR / f"{directive_id}.yaml"
