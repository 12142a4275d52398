"""`decide(state, command, at)`: the events a command causes, or a typed refusal saying why not.

Pure: nothing is read or written, and `at` is the business time the command happens at.
"""

from __future__ import annotations

import datetime as dt

from definitions.calendar import TIMEZONE
from definitions.resolve import ResolvedDirective
from i18n.times import person_date
from lifecycle import commands as cmd
from lifecycle import events as ev
from lifecycle.errors import Forbidden, InvalidTransition, NotFound, OutOfOrder
from lifecycle.events import Event
from lifecycle.state import CycleState, DirectiveState, Work


def _resolved(state: DirectiveState) -> ResolvedDirective:
    if state.resolved is None:
        raise NotFound("the directive has not been issued")
    return state.resolved


def _require_agency(state: DirectiveState, agency: str) -> None:
    if agency not in state.agencies:
        raise NotFound(f"agency {agency} has no work on directive {state.id}")


def _require_self(command: cmd.CommandBase, agency: str) -> None:
    if command.actor != agency and not cmd.is_operator(command.actor):
        raise Forbidden(f"{command.actor} cannot act for {agency}")


def _local(moment: dt.datetime) -> str:
    return moment.astimezone(TIMEZONE).strftime("%d/%m/%Y %H:%M")


def _received(
    state: DirectiveState, command: cmd.SubmitReport, at: dt.datetime
) -> ev.Received | None:
    """An operator's record of a report received earlier: checked, with its author."""
    if command.received_on is None:
        if command.received_reason is not None:
            raise InvalidTransition("received_reason is given without received_on")
        return None
    if not cmd.is_operator(command.actor):
        raise Forbidden("only an operator records a report received earlier (received_on)")
    if not command.received_reason:
        raise InvalidTransition(
            "a report received earlier needs received_reason: why it is entered only now"
        )
    issued = state.issued_at.astimezone(TIMEZONE).date() if state.issued_at else None
    entered = at.astimezone(TIMEZONE).date()
    if issued is not None and command.received_on < issued:
        raise OutOfOrder(
            f"received_on {command.received_on:%d/%m/%Y} is before the directive was issued "
            f"({issued:%d/%m/%Y})"
        )
    if command.received_on > entered:
        raise OutOfOrder(
            f"received_on {command.received_on:%d/%m/%Y} is after the day it is entered "
            f"({entered:%d/%m/%Y})"
        )
    return ev.Received(on=command.received_on, reason=command.received_reason, by=command.actor)


def _open_cycle(state: DirectiveState, cycle: str) -> CycleState:
    found = state.cycles.get(cycle)
    if found is None:
        known = _resolved(state).cycle(cycle)
        if known is None:
            raise NotFound(f"directive {state.id} has no reporting cycle {cycle}")
        raise InvalidTransition(f"cycle {cycle} of directive {state.id} is not open yet")
    if found.status == "closed":
        raise InvalidTransition(f"cycle {cycle} of directive {state.id} is closed")
    return found


def _work(state: DirectiveState, agency: str, cycle: str) -> Work:
    _require_agency(state, agency)
    cycle_state = _open_cycle(state, cycle)
    work = cycle_state.works.get(agency)
    if work is None:
        raise NotFound(f"{agency} owes no report in cycle {cycle} of directive {state.id}")
    if work.status == "withdrawn":
        raise InvalidTransition(f"the task of {agency} on directive {state.id} was withdrawn")
    return work


def _require_consolidator(state: DirectiveState, command: cmd.CommandBase) -> None:
    resolved = _resolved(state)
    allowed = {resolved.reporting_to}
    if resolved.consolidator:
        allowed.add(resolved.consolidator)
    if command.actor not in allowed and not cmd.is_operator(command.actor):
        raise Forbidden(
            f"only {resolved.consolidator or resolved.reporting_to} reviews reports of {state.id}"
        )


def _require_issuer(state: DirectiveState, command: cmd.CommandBase) -> None:
    issuer = _resolved(state).issuer.id
    if command.actor != issuer and not cmd.is_operator(command.actor):
        raise Forbidden(f"only the issuer ({issuer}) or an operator may do that on {state.id}")


def _issue(state: DirectiveState, command: cmd.Issue, at: dt.datetime) -> list[Event]:
    if state.status != "new":
        raise InvalidTransition(
            f"directive {state.id} was already issued on {person_date(state.issued_at)}"
        )
    resolved = ResolvedDirective.model_validate(command.resolved)
    if not resolved.cycles:
        raise InvalidTransition(f"directive {resolved.definition.id} has no reporting cycle")
    return [
        ev.DirectiveIssued(
            at=at,
            actor=command.actor,
            directive_id=resolved.definition.id,
            resolved=command.resolved,
        ),
        ev.CycleOpened(at=at, actor=command.actor, cycle=resolved.cycles[0].id),
    ]


def _open_work(state: DirectiveState, agency: str) -> list[str]:
    """The cycles not closed in which `agency` still owes its report."""
    return [
        c.id
        for c in state.cycles.values()
        if c.status != "closed"
        and agency in c.works
        and c.works[agency].status in ("assigned", "returned")
    ]


def _amend(state: DirectiveState, command: cmd.Amend, at: dt.datetime) -> list[Event]:
    """The amendment, then each hand-over it decides, then the withdrawal of the open work of
    agencies it drops without a successor; refused when a hand-over goes to nobody valid or
    an ended agency's work would be left with nobody."""
    actor = command.actor
    if not cmd.is_operator(actor) and actor != _resolved(state).issuer.id:
        raise Forbidden("only an operator or the issuer amends a directive")
    resolved = ResolvedDirective.model_validate(command.resolved)
    if resolved.definition.id != state.id:
        raise InvalidTransition(f"the amendment is for {resolved.definition.id}, not {state.id}")
    day = at.date()
    new_ids = {a.id for a in resolved.tracked}
    handed: set[str] = set()
    for transfer in command.transfers:
        source, target = transfer.from_agency, transfer.to_agency
        if source not in state.agencies:
            raise NotFound(f"agency {source} has no work on directive {state.id} to hand over")
        successor = resolved.agency(target)
        if successor is None:
            raise InvalidTransition(
                f"the work of {source} cannot pass to {target}: {target} is not among the "
                "amended definition's agencies"
            )
        if not successor.valid_on(day):
            when = (
                f"ended on {successor.valid_until:%d/%m/%Y}"
                if successor.valid_until is not None and day >= successor.valid_until
                else f"exists only from {successor.valid_from:%d/%m/%Y}"
            )
            raise InvalidTransition(
                f"the work of {source} cannot pass to {target} on {day:%d/%m/%Y}: {target} {when}"
            )
        if target == source:
            raise InvalidTransition(f"{source} cannot hand its work over to itself")
        handed.add(source)
    abandoned = [
        f"{t.id} (ended {t.valid_until:%d/%m/%Y}; open in cycles {', '.join(_open_work(state, t.id))})"
        for t in resolved.tracked
        if t.valid_until is not None
        and day >= t.valid_until
        # ended before the directive was even issued: not this amendment's doing
        and (state.issued_at is None or state.issued_at.date() < t.valid_until)
        and t.id not in handed
        and _open_work(state, t.id)
    ]
    if abandoned:
        raise InvalidTransition(
            "the amendment would leave the work of agencies that have ended with nobody; hand "
            f"it over to their successors: {'; '.join(abandoned)}"
        )
    events: list[Event] = [
        ev.DefinitionAmended(
            at=at, actor=actor, resolved=command.resolved, reason=command.reason,
            author=command.author,
        )
    ]
    for transfer in command.transfers:
        events.append(
            ev.WorkTransferred(
                at=at,
                actor=actor,
                agency=transfer.from_agency,
                to=transfer.to_agency,
                basis=transfer.basis,
                decided_by=command.author or actor,
                part=transfer.part,
            )
        )
    for agency_id, agency_state in state.agencies.items():
        if (
            agency_id not in new_ids
            and agency_id not in handed
            and agency_state.withdrawn_at is None
            and agency_state.ended_at is None
        ):
            events.append(
                ev.TaskWithdrawn(at=at, actor=actor, agency=agency_id, reason=command.reason)
            )
    return events


def _not_track(state: DirectiveState, command: cmd.NotTrackCycles, at: dt.datetime) -> list[Event]:
    """Only an operator, only cycles of the definition that nobody has acted on yet."""
    if not cmd.is_operator(command.actor):
        raise Forbidden("only an operator sets the launch's catch-up policy")
    resolved = _resolved(state)
    for cycle_id in command.cycles:
        if resolved.cycle(cycle_id) is None:
            raise NotFound(f"cycle {cycle_id} is not in the definition of {state.id}")
        cycle_state = state.cycles.get(cycle_id)
        if cycle_state is not None and (
            cycle_state.not_tracked
            or cycle_state.status != "open"
            or any(w.status != "assigned" for w in cycle_state.works.values())
        ):
            raise InvalidTransition(f"cycle {cycle_id} of {state.id} is already under way")
    return [ev.CyclesNotTracked(at=at, actor=command.actor, cycles=command.cycles, reason=command.reason)]


def _summarise(
    state: DirectiveState, command: cmd.SummariseOverdue, at: dt.datetime
) -> list[Event]:
    """One OverdueSummarised per agency owing something in the cycles not tracked; once."""
    if not cmd.is_operator(command.actor):
        raise Forbidden("only an operator sets the launch's catch-up policy")
    resolved = _resolved(state)
    if any(a.overdue_summary for a in state.agencies.values()):
        return []  # summarised already: a repeated command records nothing
    untracked = [c for c in resolved.cycles if (s := state.cycles.get(c.id)) and s.not_tracked]
    if not untracked:
        raise InvalidTransition(f"directive {state.id} has no cycle left untracked to summarise")
    events: list[Event] = []
    for agency in resolved.tracked:
        agency_state = state.agencies.get(agency.id)
        if agency_state is not None and (agency_state.withdrawn_at or agency_state.ended_at):
            continue
        owed: list[ev.Overdue] = []
        for cycle in untracked:
            if agency.reports:
                owed.append(ev.Overdue(cycle=cycle.id, obligation="report", due=cycle.report_due))
            if agency.id == resolved.consolidator and cycle.consolidation_due is not None:
                owed.append(
                    ev.Overdue(
                        cycle=cycle.id, obligation="consolidation", due=cycle.consolidation_due
                    )
                )
        if owed:
            events.append(
                ev.OverdueSummarised(
                    at=at, actor=command.actor, agency=agency.id, overdue=tuple(owed)
                )
            )
    return events


def _perform(state: DirectiveState, command: cmd.PerformAction, at: dt.datetime) -> list[Event]:
    action = command.action
    if state.recorded(action.key):
        return []
    actor = command.actor
    match action.kind:
        case "issue_notice":
            return [
                ev.IssuanceNotified(at=at, actor=actor, agency=action.agency or "", key=action.key)
            ]
        case "remind":
            return [
                ev.ReminderSent(
                    at=at,
                    actor=actor,
                    agency=action.agency or "",
                    cycle=action.cycle or "",
                    obligation=action.obligation or "report",
                    due=action.due or at.date(),
                    key=action.key,
                )
            ]
        case "escalate":
            return [
                ev.EscalationRaised(
                    at=at,
                    actor=actor,
                    agency=action.agency or "",
                    cycle=action.cycle or "",
                    obligation=action.obligation or "report",
                    level=action.level,
                    repeat=action.repeat,
                    to=action.recipient or "",
                    due=action.due or at.date(),
                    key=action.key,
                )
            ]
        case "request_consolidation":
            return [
                ev.ConsolidationRequested(
                    at=at,
                    actor=actor,
                    cycle=action.cycle or "",
                    consolidator=action.recipient or "",
                    key=action.key,
                )
            ]
        case "close_cycle":
            cycle = state.cycles.get(action.cycle or "")
            if cycle is None or cycle.status == "closed":
                return []
            return [ev.CycleClosed(at=at, actor=actor, cycle=cycle.id)]
        case "open_cycle":
            if (action.cycle or "") in state.cycles:
                return []
            return [ev.CycleOpened(at=at, actor=actor, cycle=action.cycle or "")]
        case "close_directive":
            return [
                ev.DirectiveClosed(at=at, actor=actor, reason="every reporting cycle is closed")
            ]
        case "notice" | "delivery_failed":
            return [
                ev.NoticeSent(
                    at=at,
                    actor=actor,
                    kind=action.notice_kind or action.kind,
                    agency=action.agency or "",
                    key=action.key,
                )
            ]
    raise InvalidTransition(f"unknown action {action.kind}")


def decide(state: DirectiveState, command: cmd.AnyCommand, at: dt.datetime) -> list[Event]:
    """The events `command` causes at business time `at`; raises a `Refused` subclass if none may."""
    if at.tzinfo is None:
        raise ValueError("business time must be timezone-aware")
    if isinstance(command, cmd.Issue):
        return _issue(state, command, at)
    if state.status == "new":
        raise NotFound("the directive has not been issued")
    if state.last_event_at is not None and at < state.last_event_at:
        raise OutOfOrder(
            f"the command is dated {_local(at)}, before the last event of directive {state.id} "
            f"({_local(state.last_event_at)}); business time never goes back — an earlier fact "
            "is entered now, with the day it happened (received_on)"
        )
    if state.status == "closed" and not isinstance(command, cmd.RecordDelivery):
        raise InvalidTransition(f"directive {state.id} is closed")
    actor = command.actor
    match command:
        case cmd.PerformAction():
            return _perform(state, command, at)
        case cmd.Amend():
            return _amend(state, command, at)
        case cmd.NotTrackCycles():
            return _not_track(state, command, at)
        case cmd.SummariseOverdue():
            return _summarise(state, command, at)
        case cmd.Acknowledge():
            _require_agency(state, command.agency)
            _require_self(command, command.agency)
            if state.agencies[command.agency].acknowledged_at is not None:
                return []
            return [ev.Acknowledged(at=at, actor=actor, agency=command.agency)]
        case cmd.CompleteItem():
            _require_agency(state, command.agency)
            _require_self(command, command.agency)
            tracked = _resolved(state).agency(command.agency)
            item_ids = [i.id for i in tracked.items] if tracked else []
            if command.item not in item_ids:
                raise NotFound(
                    f"item {command.item} is not among the items of {command.agency}: {', '.join(item_ids)}"
                )
            if command.item in state.agencies[command.agency].items_done:
                return []
            return [
                ev.ItemCompleted(
                    at=at, actor=actor, agency=command.agency, item=command.item, note=command.note
                )
            ]
        case cmd.SubmitReport():
            _require_self(command, command.agency)
            work = _work(state, command.agency, command.cycle)
            if work.status == "reported":
                raise InvalidTransition(
                    f"{command.agency} already submitted its report for cycle {command.cycle} on "
                    f"{person_date(work.reported_at)}; it awaits review"
                )
            if work.status == "accepted":
                raise InvalidTransition(
                    f"the report of {command.agency} for cycle {command.cycle} was already accepted"
                )
            tracked = _resolved(state).agency(command.agency)
            own_items = {i.id for i in tracked.items} if tracked else set()
            unknown = sorted(set(command.items) - own_items)
            if unknown:
                raise NotFound(
                    f"items {', '.join(unknown)} are not among the items of {command.agency}"
                )
            return [
                ev.ReportSubmitted(
                    at=at,
                    actor=actor,
                    agency=command.agency,
                    cycle=command.cycle,
                    text=command.text,
                    items=dict(command.items),
                    figures=dict(command.figures),
                    attachment=command.attachment,
                    received=_received(state, command, at),
                )
            ]
        case cmd.AcceptReport() | cmd.ReturnReport():
            _require_consolidator(state, command)
            work = _work(state, command.agency, command.cycle)
            verb = "accept" if isinstance(command, cmd.AcceptReport) else "return"
            if work.status != "reported":
                why = {
                    "assigned": "it was never submitted",
                    "returned": "it was returned and not submitted again",
                    "accepted": "it was already accepted",
                }.get(work.status, f"it is {work.status}")
                raise InvalidTransition(
                    f"can't {verb} the report of {command.agency} for cycle {command.cycle}: {why}"
                )
            if isinstance(command, cmd.AcceptReport):
                return [
                    ev.ReportAccepted(
                        at=at, actor=actor, agency=command.agency, cycle=command.cycle
                    )
                ]
            return [
                ev.ReportReturned(
                    at=at,
                    actor=actor,
                    agency=command.agency,
                    cycle=command.cycle,
                    reason=command.reason,
                )
            ]
        case cmd.RequestExtension():
            _require_self(command, command.agency)
            work = _work(state, command.agency, command.cycle)
            if work.completed_at is not None:
                raise InvalidTransition(
                    f"{command.agency} has already reported for cycle {command.cycle}; no extension is needed"
                )
            if work.pending_extension is not None:
                raise InvalidTransition(
                    f"{command.agency} already asked for an extension of cycle {command.cycle}; it awaits a decision"
                )
            if command.proposed_due <= work.due:
                raise InvalidTransition(
                    f"the proposed date {command.proposed_due:%d/%m/%Y} is not after the current due date "
                    f"{work.due:%d/%m/%Y}"
                )
            return [
                ev.ExtensionRequested(
                    at=at,
                    actor=actor,
                    agency=command.agency,
                    cycle=command.cycle,
                    reason=command.reason,
                    proposed_due=command.proposed_due,
                )
            ]
        case cmd.GrantExtension() | cmd.RefuseExtension():
            _require_issuer(state, command)
            work = _work(state, command.agency, command.cycle)
            pending = work.pending_extension
            if pending is None:
                raise InvalidTransition(
                    f"{command.agency} has no extension request pending for cycle {command.cycle}"
                )
            if isinstance(command, cmd.RefuseExtension):
                return [
                    ev.ExtensionRefused(
                        at=at,
                        actor=actor,
                        agency=command.agency,
                        cycle=command.cycle,
                        reason=command.reason,
                    )
                ]
            new_due = command.new_due or pending.proposed_due
            if new_due <= work.due:
                raise InvalidTransition(
                    f"the new date {new_due:%d/%m/%Y} is not after {work.due:%d/%m/%Y}"
                )
            return [
                ev.ExtensionGranted(
                    at=at, actor=actor, agency=command.agency, cycle=command.cycle, new_due=new_due
                )
            ]
        case cmd.MoveDeadline():
            _require_issuer(state, command)
            cycle_state = _open_cycle(state, command.cycle)
            if command.agency is not None:
                _work(state, command.agency, command.cycle)
            if command.new_due < cycle_state.opened_at.date():
                raise InvalidTransition(
                    f"the new date {command.new_due:%d/%m/%Y} is before cycle {command.cycle} opened"
                )
            return [
                ev.DeadlineMoved(
                    at=at,
                    actor=actor,
                    cycle=command.cycle,
                    agency=command.agency,
                    new_due=command.new_due,
                    reason=command.reason,
                )
            ]
        case cmd.WithdrawTask():
            _require_issuer(state, command)
            _require_agency(state, command.agency)
            if state.agencies[command.agency].withdrawn_at is not None:
                return []
            return [
                ev.TaskWithdrawn(at=at, actor=actor, agency=command.agency, reason=command.reason)
            ]
        case cmd.SubmitConsolidatedReport():
            resolved = _resolved(state)
            if actor != resolved.consolidator and not cmd.is_operator(actor):
                raise Forbidden(
                    f"only the consolidator ({resolved.consolidator}) submits the consolidated report"
                )
            cycle_state = _open_cycle(state, command.cycle)
            if cycle_state.status == "consolidated":
                raise InvalidTransition(
                    f"the consolidated report of cycle {command.cycle} was already submitted"
                )
            return [
                ev.ConsolidatedReportSubmitted(
                    at=at,
                    actor=actor,
                    cycle=command.cycle,
                    text=command.text,
                    attachment=command.attachment,
                )
            ]
        case cmd.RecordDelivery():
            if (
                command.key in state.notifications
                and state.notifications[command.key].status == "sent"
            ):
                return []
            if command.ok:
                return [
                    ev.NotificationSent(
                        at=at,
                        actor=actor,
                        key=command.key,
                        kind=command.notification,
                        recipient=command.recipient,
                        message_id=command.detail,
                    )
                ]
            return [
                ev.NotificationFailed(
                    at=at,
                    actor=actor,
                    key=command.key,
                    kind=command.notification,
                    recipient=command.recipient,
                    error=command.detail[:2000],
                )
            ]
        case cmd.CloseDirective():
            _require_issuer(state, command)
            if command.superseded_by == state.id:
                raise InvalidTransition(f"directive {state.id} cannot supersede itself")
            withdrawn: list[Event] = [
                ev.TaskWithdrawn(at=at, actor=actor, agency=agency_id, reason=command.reason)
                for agency_id, agency_state in state.agencies.items()
                if agency_state.withdrawn_at is None
                and agency_state.ended_at is None
                and _open_work(state, agency_id)
            ]
            return [
                *withdrawn,
                ev.DirectiveClosed(
                    at=at, actor=actor, reason=command.reason, superseded_by=command.superseded_by
                ),
            ]
        case cmd.LinkSupersession():
            _require_issuer(state, command)
            if command.previous == state.id:
                raise InvalidTransition(f"directive {state.id} cannot supersede itself")
            if command.previous in state.supersedes:
                return []
            return [
                ev.SupersedesDirective(
                    at=at, actor=actor, previous=command.previous, reason=command.reason
                )
            ]
    raise InvalidTransition(f"unknown command {command!r}")
