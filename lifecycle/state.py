"""A directive's state, rebuilt from its events: `evolve` applies one, `replay` applies them all.

Both are pure: `evolve` returns a new state and leaves its argument untouched; `replay`
builds its own state and applies events in place, which keeps a long history fast.

The state is what the planner and the faces need, not the history: per cycle and agency the
standing, times and levels; the notices and failure reports still to send; and the action
keys recorded that may still be asked about. When a cycle closes its keys are dropped:
nothing more is done in it but its pending notices, so `recorded(key)` answers for it from
the cycle's status; a notice's key is never kept (it is recorded once it is not pending). (Still growing with the history: `notifications`, one entry per message,
which deliveries are checked against.)
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from definitions.calendar import TIMEZONE
from definitions.resolve import ResolvedDirective
from lifecycle import events as ev
from lifecycle.errors import InvalidEvent
from lifecycle.events import Event

WorkStatus = Literal["assigned", "reported", "accepted", "returned", "withdrawn", "transferred"]
CycleStatus = Literal["open", "consolidation_requested", "consolidated", "closed"]


@dataclass
class Extension:
    requested_at: dt.datetime
    proposed_due: dt.date
    reason: str
    decision: Literal["pending", "granted", "refused"] = "pending"
    decided_at: dt.datetime | None = None
    new_due: dt.date | None = None
    refusal: str | None = None


@dataclass(frozen=True)
class Explanation:
    """An explanation asked of an agency about its late report, and its answer once given."""

    requested_at: dt.datetime
    requested_by: str  # `operator:<id>`, or `system` when the ladder asked
    due: dt.date
    text: str
    level: int | None = None
    given_at: dt.datetime | None = None
    given_by: str | None = None
    answer: str | None = None

    @property
    def answered(self) -> bool:
        return self.given_at is not None


@dataclass
class Work:
    """One agency's reporting duty in one cycle."""

    agency: str
    cycle: str
    due: dt.date
    status: WorkStatus = "assigned"
    reported_at: dt.datetime | None = None
    accepted_at: dt.datetime | None = None
    returned_reason: str | None = None
    report_text: str | None = None
    extensions: list[Extension] = field(default_factory=list)
    reminders: list[str] = field(default_factory=list)
    escalation_level: int = 0
    last_event_at: dt.datetime | None = None
    last_event: str | None = None
    transferred_to: list[str] = field(default_factory=list)
    last_event_version: int | None = None  # the directive's version at `last_event`
    explanations: list[Explanation] = field(default_factory=list)

    @property
    def pending_explanation(self) -> Explanation | None:
        """The explanation asked and not answered yet, if any."""
        return next((x for x in self.explanations if not x.answered), None)

    @property
    def completed_at(self) -> dt.datetime | None:
        """When the report that stands was submitted; None while none stands."""
        return self.reported_at if self.status in ("reported", "accepted") else None

    @property
    def pending_extension(self) -> Extension | None:
        return next((x for x in self.extensions if x.decision == "pending"), None)


@dataclass
class CycleState:
    id: str
    report_due: dt.date
    consolidation_due: dt.date | None
    opened_at: dt.datetime
    status: CycleStatus = "open"
    works: dict[str, Work] = field(default_factory=dict)
    consolidation_requested_at: dt.datetime | None = None
    consolidated_at: dt.datetime | None = None
    consolidated_text: str | None = None
    closed_at: dt.datetime | None = None
    consolidation_reminders: list[str] = field(default_factory=list)
    consolidation_escalation_level: int = 0
    not_tracked: bool = False  # ended before the launch; left out by the catch-up policy


@dataclass
class OverdueReport:
    """A report owed in a cycle left untracked at launch, as its digest tells it."""

    cycle: str
    obligation: Literal["report", "consolidation"]
    due: dt.date


@dataclass
class AgencyState:
    """What an agency did on the directive as a whole."""

    id: str
    notified_at: dt.datetime | None = None
    acknowledged_at: dt.datetime | None = None
    items_done: dict[str, dt.datetime] = field(default_factory=dict)
    item_notes: dict[str, str] = field(default_factory=dict)
    withdrawn_at: dt.datetime | None = None
    # set by WorkTransferred: when its work passed on, and to whom / from whom
    ended_at: dt.datetime | None = None
    successors: list[str] = field(default_factory=list)
    predecessors: list[str] = field(default_factory=list)
    # set by OverdueSummarised (launch catch-up `summary`): what it owed in untracked cycles
    overdue_summary: list[OverdueReport] = field(default_factory=list)


@dataclass
class Notification:
    key: str
    kind: str
    recipient: str
    status: Literal["sent", "failed"]
    at: dt.datetime
    detail: str


@dataclass
class PendingNotice:
    """An event that calls for a notice (NOTICE_KINDS) whose notice is not recorded yet."""

    version: int  # the event's version, part of the notice's key
    event_type: str
    agency: str | None
    cycle: str | None
    at: dt.datetime


# Events answered by a message to someone, and the kind of that message (the planner's notices).
NOTICE_KINDS = {
    "ExtensionGranted": "extension_granted",
    "ExtensionRefused": "extension_refused",
    "ReportReturned": "report_returned",
    "ConsolidatedReportSubmitted": "consolidated_ack",
    "OverdueSummarised": "overdue_summary",
    "ExplanationRequested": "explanation_requested",
}


def notice_key(
    directive: str, cycle: str | None, recipient: str | None, kind: str, version: int
) -> str:
    """The planner's key of the notice answering the event at `version`."""
    return f"{directive}:{cycle or '-'}:{recipient or '-'}:notice-{kind}:{version}"


@dataclass
class DirectiveState:
    id: str = ""
    resolved: ResolvedDirective | None = None
    status: Literal["new", "active", "closed"] = "new"
    issued_at: dt.datetime | None = None
    closed_at: dt.datetime | None = None
    version: int = 0
    agencies: dict[str, AgencyState] = field(default_factory=dict)
    cycles: dict[str, CycleState] = field(default_factory=dict)
    # The keys recorded that someone may still ask about: those of a closed cycle are dropped
    # when it closes (see `recorded`), so the state stays bounded however long the history.
    done_keys: set[str] = field(default_factory=set)
    notifications: dict[str, Notification] = field(default_factory=dict)
    last_event_at: dt.datetime | None = None
    closed_reason: str | None = None
    superseded_by: str | None = None
    supersedes: list[str] = field(default_factory=list)
    # notices still to send, by their key (the planner's `notice` actions)
    pending_notices: dict[str, PendingNotice] = field(default_factory=dict)
    # failed deliveries whose failure is not reported yet, by the notification's key
    pending_failures: dict[str, Notification] = field(default_factory=dict)

    @property
    def definition(self) -> ResolvedDirective:
        if self.resolved is None:
            raise ValueError("the directive has not been issued")
        return self.resolved

    def recorded(self, key: str) -> bool:
        """Whether an action with `key` is recorded (or moot: nothing is done in a closed cycle
        any more but its pending notices and failure reports)."""
        if key in self.done_keys:
            return True
        if key in self.pending_notices or key.endswith(FAILURE_SUFFIX):
            return False  # failure reports' keys are kept when their cycle closes
        version = _notice_version(key)
        if version is not None:
            # the notice answering an event already applied, and no longer pending, was sent
            return key.startswith(f"{self.id}:") and version <= self.version
        parts = key.split(":", 2)
        if len(parts) < 3 or parts[0] != self.id:
            return False
        cycle = self.cycles.get(parts[1])
        return cycle is not None and cycle.status == "closed"


# what the planner appends to a failed notification's key for the report of that failure
FAILURE_SUFFIX = ":delivery-failed"


def _notice_version(key: str) -> int | None:
    """The event version a notice's key names (`notice_key`); None for any other key."""
    parts = key.split(":")
    if len(parts) != 5 or not parts[3].startswith("notice-") or not parts[4].isdigit():
        return None
    return int(parts[4])


def _work(state: DirectiveState, cycle: str, agency: str) -> Work:
    return state.cycles[cycle].works[agency]


def _touch(work: Work, event: Event, version: int) -> None:
    work.last_event_at = event.at
    work.last_event = event.type
    work.last_event_version = version


def _open_cycle(state: DirectiveState, cycle_id: str, at: dt.datetime) -> None:
    resolved = state.definition
    cycle = resolved.cycle(cycle_id)
    if cycle is None:
        raise ValueError(f"cycle {cycle_id} is not in the definition")
    opened = CycleState(
        id=cycle_id,
        report_due=cycle.report_due,
        consolidation_due=cycle.consolidation_due,
        opened_at=at,
    )
    for agency in resolved.tracked:
        agency_state = state.agencies.get(agency.id, AgencyState(agency.id))
        if agency.reports and agency_state.withdrawn_at is None and agency_state.ended_at is None:
            opened.works[agency.id] = Work(agency.id, cycle_id, cycle.report_due)
    state.cycles[cycle_id] = opened


def _apply_amendment(state: DirectiveState, resolved: ResolvedDirective) -> None:
    state.resolved = resolved
    for agency in resolved.tracked:
        state.agencies.setdefault(agency.id, AgencyState(agency.id))
    for cycle_state in state.cycles.values():
        if cycle_state.status == "closed":
            continue
        cycle = resolved.cycle(cycle_state.id)
        if cycle is None:
            continue
        moved = cycle_state.report_due != cycle.report_due
        cycle_state.report_due = cycle.report_due
        cycle_state.consolidation_due = cycle.consolidation_due
        for agency in resolved.tracked:
            if state.agencies[agency.id].ended_at is not None:
                continue  # its work passed to a successor; an amendment does not bring it back
            if agency.reports and agency.id not in cycle_state.works:
                cycle_state.works[agency.id] = Work(agency.id, cycle_state.id, cycle.report_due)
        if moved:
            for work in cycle_state.works.values():
                granted = [x.new_due for x in work.extensions if x.new_due]
                work.due = max([cycle.report_due, *granted])


def _transfer(state: DirectiveState, event: ev.WorkTransferred) -> None:
    """The predecessor's open work in every cycle not closed passes to the successor, with
    its due date (and any extension granted); what it already reported stays its own."""
    before = state.agencies.setdefault(event.agency, AgencyState(event.agency))
    before.ended_at = before.ended_at or event.at
    if event.to not in before.successors:
        before.successors.append(event.to)
    after = state.agencies.setdefault(event.to, AgencyState(event.to))
    if event.agency not in after.predecessors:
        after.predecessors.append(event.agency)
    for cycle_state in state.cycles.values():
        if cycle_state.status == "closed":
            continue
        work = cycle_state.works.get(event.agency)
        if work is None or work.status not in ("assigned", "returned", "transferred"):
            continue
        work.status = "transferred"
        if event.to not in work.transferred_to:
            work.transferred_to.append(event.to)
        _touch(work, event, state.version)
        successor = cycle_state.works.get(event.to)
        if successor is None:
            cycle_state.works[event.to] = Work(event.to, cycle_state.id, work.due)
        elif successor.status in ("assigned", "returned"):
            successor.due = max(successor.due, work.due)


DELIVERY_EVENTS = (ev.NotificationSent, ev.NotificationFailed)


def _definition(event: ev.DirectiveIssued | ev.DefinitionAmended) -> ResolvedDirective:
    """The resolved definition the event names by hash: set beside it by `decide`, or by the
    ledger that read it back (the definition is stored apart from the event)."""
    if event.definition is None:
        raise InvalidEvent(
            f"{event.type} names definition {event.definition_sha256}, which is not at hand"
        )
    return event.definition


def reported_at(state: DirectiveState, event: ev.ReportSubmitted) -> dt.datetime:
    """When a report counts as submitted: its event's time, or for a report an operator entered
    later, the start of the day it was received (never before issuance, never after entry)."""
    if event.received is None:
        return event.at
    start = dt.datetime.combine(event.received.on, dt.time(), tzinfo=TIMEZONE)
    return min(max(start, state.issued_at or start), event.at)


def apply(state: DirectiveState, event: Event) -> None:
    """Apply one event to `state` in place. Use `evolve` or `replay` from outside."""
    state.version += 1
    state.last_event_at = event.at
    # an event model's fields live in its __dict__; `getattr` of a field the type lacks goes
    # through pydantic's __getattr__ and an AttributeError, a fifth of a replay's time
    fields = event.__dict__
    key = fields.get("key")
    if key and not isinstance(event, DELIVERY_EVENTS):
        # A delivery names the action whose message it carried; it does not do the action.
        if state.pending_notices.pop(key, None) is None and _notice_version(key) is None:
            state.done_keys.add(key)  # a notice's key is answered by `pending_notices` alone
        if key.endswith(FAILURE_SUFFIX):
            state.pending_failures.pop(key[: -len(FAILURE_SUFFIX)], None)
    notice_kind = NOTICE_KINDS.get(event.type)
    if notice_kind is not None and state.resolved is not None:
        agency_of = fields.get("agency")
        cycle_of = fields.get("cycle")
        recipient = agency_of or state.resolved.consolidator
        state.pending_notices[
            notice_key(state.id, cycle_of, recipient, notice_kind, state.version)
        ] = PendingNotice(state.version, event.type, agency_of, cycle_of, event.at)
    match event:
        case ev.DirectiveIssued():
            state.id = event.directive_id
            state.resolved = _definition(event)
            state.status = "active"
            state.issued_at = event.at
            state.agencies = {a.id: AgencyState(a.id) for a in state.resolved.tracked}
        case ev.DefinitionAmended():
            _apply_amendment(state, _definition(event))
        case ev.CycleOpened():
            _open_cycle(state, event.cycle, event.at)
        case ev.Acknowledged():
            state.agencies[event.agency].acknowledged_at = event.at
        case ev.ItemCompleted():
            agency = state.agencies[event.agency]
            agency.items_done[event.item] = event.at
            if event.note:
                agency.item_notes[event.item] = event.note
        case ev.ReportSubmitted():
            work = _work(state, event.cycle, event.agency)
            work.status = "reported"
            work.reported_at = reported_at(state, event)
            work.report_text = event.text
            work.returned_reason = None
            _touch(work, event, state.version)
            for item, item_status in event.items.items():
                if item_status == "done":
                    state.agencies[event.agency].items_done.setdefault(item, event.at)
        case ev.ReportAccepted():
            work = _work(state, event.cycle, event.agency)
            work.status = "accepted"
            work.accepted_at = event.at
            _touch(work, event, state.version)
        case ev.ReportReturned():
            work = _work(state, event.cycle, event.agency)
            work.status = "returned"
            work.returned_reason = event.reason
            _touch(work, event, state.version)
        case ev.ExtensionRequested():
            work = _work(state, event.cycle, event.agency)
            work.extensions.append(Extension(event.at, event.proposed_due, event.reason))
            _touch(work, event, state.version)
        case ev.ExtensionGranted():
            work = _work(state, event.cycle, event.agency)
            pending = work.pending_extension
            if pending is not None:
                pending.decision, pending.decided_at, pending.new_due = (
                    "granted",
                    event.at,
                    event.new_due,
                )
            work.due = event.new_due
            _touch(work, event, state.version)
        case ev.ExtensionRefused():
            work = _work(state, event.cycle, event.agency)
            pending = work.pending_extension
            if pending is not None:
                pending.decision, pending.decided_at, pending.refusal = (
                    "refused",
                    event.at,
                    event.reason,
                )
            _touch(work, event, state.version)
        case ev.DeadlineMoved():
            cycle_state = state.cycles[event.cycle]
            if event.agency is None:
                cycle_state.report_due = event.new_due
                for work in cycle_state.works.values():
                    work.due = event.new_due
            else:
                cycle_state.works[event.agency].due = event.new_due
        case ev.TaskWithdrawn():
            state.agencies[event.agency].withdrawn_at = event.at
            for cycle_state in state.cycles.values():
                work_or_none = cycle_state.works.get(event.agency)
                if work_or_none is not None and cycle_state.status != "closed":
                    work_or_none.status = "withdrawn"
                    _touch(work_or_none, event, state.version)
        case ev.WorkTransferred():
            _transfer(state, event)
        case ev.IssuanceNotified():
            state.agencies[event.agency].notified_at = event.at
        case ev.ReminderSent():
            if event.obligation == "report":
                work = _work(state, event.cycle, event.agency)
                work.reminders.append(event.key)
            else:
                state.cycles[event.cycle].consolidation_reminders.append(event.key)
        case ev.EscalationRaised():
            if event.obligation == "report":
                work = _work(state, event.cycle, event.agency)
                work.escalation_level = max(work.escalation_level, event.level)
            else:
                cycle_state = state.cycles[event.cycle]
                cycle_state.consolidation_escalation_level = max(
                    cycle_state.consolidation_escalation_level, event.level
                )
        case ev.NotificationSent():
            state.notifications[event.key] = Notification(
                event.key, event.kind, event.recipient, "sent", event.at, event.message_id
            )
            state.pending_failures.pop(event.key, None)
        case ev.NotificationFailed():
            failure = Notification(
                event.key, event.kind, event.recipient, "failed", event.at, event.error
            )
            state.notifications[event.key] = failure
            if f"{event.key}{FAILURE_SUFFIX}" not in state.done_keys:
                state.pending_failures[event.key] = failure
        case ev.NoticeSent():
            pass
        case ev.ConsolidationRequested():
            cycle_state = state.cycles[event.cycle]
            cycle_state.consolidation_requested_at = event.at
            if cycle_state.status == "open":
                cycle_state.status = "consolidation_requested"
        case ev.ConsolidatedReportSubmitted():
            cycle_state = state.cycles[event.cycle]
            cycle_state.status = "consolidated"
            cycle_state.consolidated_at = event.at
            cycle_state.consolidated_text = event.text
        case ev.CycleClosed():
            cycle_state = state.cycles[event.cycle]
            cycle_state.status = "closed"
            cycle_state.closed_at = event.at
            # its keys are answered by `recorded` from now on
            prefix = f"{state.id}:{event.cycle}:"
            state.done_keys = {
                k
                for k in state.done_keys
                if not k.startswith(prefix) or k.endswith(FAILURE_SUFFIX)
            }
        case ev.CyclesNotTracked():
            for cycle_id in event.cycles:
                if cycle_id not in state.cycles:
                    _open_cycle(state, cycle_id, event.at)
                untracked = state.cycles[cycle_id]
                untracked.works = {}  # nothing owed, nothing to remind of or escalate
                untracked.status = "closed"
                untracked.not_tracked = True
                untracked.closed_at = event.at
        case ev.OverdueSummarised():
            summarised = state.agencies.setdefault(event.agency, AgencyState(event.agency))
            summarised.overdue_summary = [
                OverdueReport(o.cycle, o.obligation, o.due) for o in event.overdue
            ]
        case ev.ExplanationRequested():
            work = _work(state, event.cycle, event.agency)
            work.explanations.append(
                Explanation(event.at, event.actor, event.due, event.text, event.level)
            )
            _touch(work, event, state.version)
        case ev.ExplanationGiven():
            work = _work(state, event.cycle, event.agency)
            for n, asked in enumerate(work.explanations):
                if not asked.answered:
                    work.explanations[n] = dataclasses.replace(
                        asked, given_at=event.at, given_by=event.actor, answer=event.text
                    )
                    break
            _touch(work, event, state.version)
        case ev.DirectiveClosed():
            state.status = "closed"
            state.closed_at = event.at
            state.closed_reason = event.reason
            state.superseded_by = event.superseded_by
        case ev.SupersedesDirective():
            if event.previous not in state.supersedes:
                state.supersedes.append(event.previous)


def copy_state(state: DirectiveState) -> DirectiveState:
    """A deep copy of `state` sharing its definition (frozen, never changed in place)."""
    memo: dict[int, object] = {}
    if state.resolved is not None:
        memo[id(state.resolved)] = state.resolved
    return copy.deepcopy(state, memo)


def evolve(state: DirectiveState, event: Event) -> DirectiveState:
    """The state after `event`; `state` itself is left as it was."""
    new_state = copy_state(state)
    apply(new_state, event)
    return new_state


def replay(events: Iterable[Event]) -> DirectiveState:
    """The state a sequence of events leads to, from nothing."""
    state = DirectiveState()
    for event in events:
        apply(state, event)
    return state
