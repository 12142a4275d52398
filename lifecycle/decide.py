"""`decide(state, command, at)`: the events a command causes, or a typed refusal saying why not.

Pure: nothing is read or written, and `at` is the business time the command happens at.
"""

from __future__ import annotations

import datetime as dt

from definitions.calendar import TIMEZONE, deadline_instant
from definitions.content_hash import definition_sha256
from definitions.resolve import ResolvedDirective
from i18n import N_
from i18n.times import person_date
from lifecycle import commands as cmd
from lifecycle import events as ev
from lifecycle.errors import Forbidden, InvalidTransition, NotFound, OutOfOrder
from lifecycle.events import Event
from lifecycle.state import CycleState, DirectiveState, Work


def _resolved(state: DirectiveState) -> ResolvedDirective:
    if state.resolved is None:
        raise NotFound(N_("the directive has not been issued"))
    return state.resolved


def _require_agency(state: DirectiveState, agency: str) -> None:
    if agency not in state.agencies:
        raise NotFound(
            N_("agency {agency} has no work on directive {directive}"),
            agency=agency,
            directive=state.id,
        )


def _require_self(command: cmd.CommandBase, agency: str) -> None:
    if command.actor != agency and not cmd.is_operator(command.actor):
        raise Forbidden(
            N_("{actor} cannot act for {agency}"),
            actor=command.actor,
            agency=agency,
        )


def _local(moment: dt.datetime) -> str:
    return moment.astimezone(TIMEZONE).strftime("%d/%m/%Y %H:%M")


def _received(
    state: DirectiveState, command: cmd.SubmitReport, at: dt.datetime
) -> ev.Received | None:
    """An operator's record of a report received earlier: checked, with its author."""
    if command.received_on is None:
        if command.received_reason is not None:
            raise InvalidTransition(N_("received_reason is given without received_on"))
        return None
    if not cmd.is_operator(command.actor):
        raise Forbidden(N_("only an operator records a report received earlier (received_on)"))
    if not command.received_reason:
        raise InvalidTransition(
            N_("a report received earlier needs received_reason: why it is entered only now"),
        )
    issued = state.issued_at.astimezone(TIMEZONE).date() if state.issued_at else None
    entered = at.astimezone(TIMEZONE).date()
    if issued is not None and command.received_on < issued:
        raise OutOfOrder(
            N_("received_on {received_on} is before the directive was issued ({issued})"),
            received_on=f"{command.received_on:%d/%m/%Y}",
            issued=f"{issued:%d/%m/%Y}",
        )
    if command.received_on > entered:
        raise OutOfOrder(
            N_("received_on {received_on} is after the day it is entered ({entered})"),
            received_on=f"{command.received_on:%d/%m/%Y}",
            entered=f"{entered:%d/%m/%Y}",
        )
    return ev.Received(on=command.received_on, reason=command.received_reason, by=command.actor)


def _open_cycle(state: DirectiveState, cycle: str) -> CycleState:
    found = state.cycles.get(cycle)
    if found is None:
        known = _resolved(state).cycle(cycle)
        if known is None:
            raise NotFound(
                N_("directive {directive} has no reporting cycle {cycle}"),
                directive=state.id,
                cycle=cycle,
            )
        raise InvalidTransition(
            N_("cycle {cycle} of directive {directive} is not open yet"),
            cycle=cycle,
            directive=state.id,
        )
    if found.status == "closed":
        raise InvalidTransition(
            N_("cycle {cycle} of directive {directive} is closed"),
            cycle=cycle,
            directive=state.id,
        )
    return found


def _work(state: DirectiveState, agency: str, cycle: str) -> Work:
    _require_agency(state, agency)
    cycle_state = _open_cycle(state, cycle)
    work = cycle_state.works.get(agency)
    if work is None:
        raise NotFound(
            N_("{agency} owes no report in cycle {cycle} of directive {directive}"),
            agency=agency,
            cycle=cycle,
            directive=state.id,
        )
    if work.status == "withdrawn":
        raise InvalidTransition(
            N_("the task of {agency} on directive {directive} was withdrawn"),
            agency=agency,
            directive=state.id,
        )
    return work


def _require_consolidator(state: DirectiveState, command: cmd.CommandBase) -> None:
    resolved = _resolved(state)
    allowed = {resolved.reporting_to}
    if resolved.consolidator:
        allowed.add(resolved.consolidator)
    if command.actor not in allowed and not cmd.is_operator(command.actor):
        raise Forbidden(
            N_("only {reporting_to} reviews reports of {directive}"),
            reporting_to=resolved.consolidator or resolved.reporting_to,
            directive=state.id,
        )


def _require_issuer(state: DirectiveState, command: cmd.CommandBase) -> None:
    issuer = _resolved(state).issuer.id
    if command.actor != issuer and not cmd.is_operator(command.actor):
        raise Forbidden(
            N_("only the issuer ({issuer}) or an operator may do that on {directive}"),
            issuer=issuer,
            directive=state.id,
        )


def _issue(state: DirectiveState, command: cmd.Issue, at: dt.datetime) -> list[Event]:
    if state.status != "new":
        raise InvalidTransition(
            N_("directive {directive} was already issued on {issued_at}"),
            directive=state.id,
            issued_at=person_date(state.issued_at),
        )
    resolved = ResolvedDirective.model_validate(command.resolved)
    if not resolved.cycles:
        raise InvalidTransition(
            N_("directive {directive} has no reporting cycle"),
            directive=resolved.definition.id,
        )
    return [
        ev.DirectiveIssued(
            at=at,
            actor=command.actor,
            directive_id=resolved.definition.id,
            definition_sha256=definition_sha256(resolved),
            definition=resolved,
        ),
        ev.CycleOpened(at=at, actor=command.actor, cycle=resolved.cycles[0].id),
    ]


def _late_work(state: DirectiveState, agency: str, cycle: str) -> Work:
    """The agency's work of `cycle` (open or closed, not untracked) for an explanation."""
    _require_agency(state, agency)
    cycle_state = state.cycles.get(cycle)
    if cycle_state is None or cycle_state.not_tracked:
        raise NotFound(f"directive {state.id} has no tracked reporting cycle {cycle}")
    work = cycle_state.works.get(agency)
    if work is None:
        raise NotFound(f"{agency} owes no report in cycle {cycle} of directive {state.id}")
    if work.status in ("withdrawn", "transferred"):
        raise InvalidTransition(f"the task of {agency} in cycle {cycle} was {work.status}")
    return work


DEFAULT_EXPLANATION = (
    "Đề nghị cơ quan giải trình bằng văn bản lý do chậm báo cáo kết quả thực hiện."
)


def _request_explanation(
    state: DirectiveState, command: cmd.RequestExplanation, at: dt.datetime
) -> list[Event]:
    if not cmd.is_operator(command.actor) and command.actor != _resolved(state).issuer.id:
        raise Forbidden("only an operator or the issuer asks an agency to explain itself")
    work = _late_work(state, command.agency, command.cycle)
    deadline = deadline_instant(work.due)
    late = (work.completed_at or at) >= deadline
    if at < deadline or not late:
        raise InvalidTransition(
            f"the report of {command.agency} for cycle {command.cycle} is not late "
            f"(due {work.due:%d/%m/%Y}): there is nothing to explain"
        )
    pending = work.pending_explanation
    if pending is not None:
        raise InvalidTransition(
            f"{command.agency} was already asked on {_local(pending.requested_at)} to explain "
            f"by {pending.due:%d/%m/%Y}; it has not answered yet"
        )
    if command.due <= at.astimezone(TIMEZONE).date():
        raise InvalidTransition(f"the date to answer by, {command.due:%d/%m/%Y}, is not after today")
    return [
        ev.ExplanationRequested(
            at=at, actor=command.actor, agency=command.agency, cycle=command.cycle,
            due=command.due, text=command.text,
        )
    ]  # fmt: skip


def _give_explanation(
    state: DirectiveState, command: cmd.GiveExplanation, at: dt.datetime
) -> list[Event]:
    _require_self(command, command.agency)
    work = _late_work(state, command.agency, command.cycle)
    if work.pending_explanation is None:
        raise InvalidTransition(
            f"{command.agency} was not asked to explain anything about cycle {command.cycle}"
            + (" (its explanation was already given)" if work.explanations else "")
        )
    return [
        ev.ExplanationGiven(
            at=at, actor=command.actor, agency=command.agency, cycle=command.cycle,
            text=command.text,
        )
    ]  # fmt: skip


def _ladder_explanation(
    state: DirectiveState, raised: ev.EscalationRaised, at: dt.datetime
) -> list[Event]:
    """The explanation the ladder asks for when a level that says so is raised about a report:
    once per level, and never while an earlier one is unanswered."""
    if raised.obligation != "report" or state.resolved is None:
        return []
    levels = state.resolved.definition.escalation.levels
    level = next((x for x in levels if x.level == raised.level), None)
    if level is None or level.explanation is None:
        return []
    work = state.cycles[raised.cycle].works.get(raised.agency)
    if work is None or work.pending_explanation is not None:
        return []
    if any(x.level == raised.level for x in work.explanations):
        return []  # asked once at this level; its repeats only remind
    due = at.astimezone(TIMEZONE).date() + dt.timedelta(days=level.explanation.within)
    return [
        ev.ExplanationRequested(
            at=at, actor=raised.actor, agency=raised.agency, cycle=raised.cycle, due=due,
            text=level.explanation.text or DEFAULT_EXPLANATION, level=raised.level,
        )
    ]  # fmt: skip


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
        raise Forbidden(N_("only an operator or the issuer amends a directive"))
    resolved = ResolvedDirective.model_validate(command.resolved)
    if resolved.definition.id != state.id:
        raise InvalidTransition(
            N_("the amendment is for {directive}, not {directive2}"),
            directive=resolved.definition.id,
            directive2=state.id,
        )
    day = at.date()
    new_ids = {a.id for a in resolved.tracked}
    handed: set[str] = set()
    for transfer in command.transfers:
        source, target = transfer.from_agency, transfer.to_agency
        if source not in state.agencies:
            raise NotFound(
                N_("agency {source} has no work on directive {directive} to hand over"),
                source=source,
                directive=state.id,
            )
        successor = resolved.agency(target)
        if successor is None:
            raise InvalidTransition(
                N_("the work of {source} cannot pass to {target}: {target} is not among the amended definition's agencies"),
                source=source,
                target=target,
            )
        if not successor.valid_on(day):
            if successor.valid_until is not None and day >= successor.valid_until:
                raise InvalidTransition(
                    N_("the work of {source} cannot pass to {target} on {day}: {target} ended on {ended}"),
                    source=source,
                    target=target,
                    day=f"{day:%d/%m/%Y}",
                    ended=f"{successor.valid_until:%d/%m/%Y}",
                )
            raise InvalidTransition(
                N_("the work of {source} cannot pass to {target} on {day}: {target} exists only from {start}"),
                source=source,
                target=target,
                day=f"{day:%d/%m/%Y}",
                start=f"{successor.valid_from:%d/%m/%Y}",
            )
        if target == source:
            raise InvalidTransition(N_("{source} cannot hand its work over to itself"), source=source)
        handed.add(source)
    abandoned = [
        f"{t.id} ({t.valid_until:%d/%m/%Y}: {', '.join(_open_work(state, t.id))})"
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
            N_(
                "the amendment would leave the work of agencies that have ended with nobody; hand "
                "it over to their successors (agency (end date: cycles open)): {abandoned}"
            ),
            abandoned='; '.join(abandoned),
        )
    events: list[Event] = [
        ev.DefinitionAmended(
            at=at, actor=actor, definition_sha256=definition_sha256(resolved),
            definition=resolved, reason=command.reason, author=command.author,
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
        raise Forbidden(N_("only an operator sets the launch's catch-up policy"))
    resolved = _resolved(state)
    for cycle_id in command.cycles:
        if resolved.cycle(cycle_id) is None:
            raise NotFound(
                N_("cycle {cycle_id} is not in the definition of {directive}"),
                cycle_id=cycle_id,
                directive=state.id,
            )
        cycle_state = state.cycles.get(cycle_id)
        if cycle_state is not None and (
            cycle_state.not_tracked
            or cycle_state.status != "open"
            or any(w.status != "assigned" for w in cycle_state.works.values())
        ):
            raise InvalidTransition(
                N_("cycle {cycle_id} of {directive} is already under way"),
                cycle_id=cycle_id,
                directive=state.id,
            )
    return [ev.CyclesNotTracked(at=at, actor=command.actor, cycles=command.cycles, reason=command.reason)]


def _summarise(
    state: DirectiveState, command: cmd.SummariseOverdue, at: dt.datetime
) -> list[Event]:
    """One OverdueSummarised per agency owing something in the cycles not tracked; once."""
    if not cmd.is_operator(command.actor):
        raise Forbidden(N_("only an operator sets the launch's catch-up policy"))
    resolved = _resolved(state)
    if any(a.overdue_summary for a in state.agencies.values()):
        return []  # summarised already: a repeated command records nothing
    untracked = [c for c in resolved.cycles if (s := state.cycles.get(c.id)) and s.not_tracked]
    if not untracked:
        raise InvalidTransition(
            N_("directive {directive} has no cycle left untracked to summarise"),
            directive=state.id,
        )
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
            raised = ev.EscalationRaised(
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
            return [raised, *_ladder_explanation(state, raised, at)]
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
    raise InvalidTransition(N_("unknown action {kind}"), kind=action.kind)


def decide(state: DirectiveState, command: cmd.AnyCommand, at: dt.datetime) -> list[Event]:
    """The events `command` causes at business time `at`; raises a `Refused` subclass if none may."""
    if at.tzinfo is None:
        raise ValueError("business time must be timezone-aware")
    if isinstance(command, cmd.Issue):
        return _issue(state, command, at)
    if state.status == "new":
        raise NotFound(N_("the directive has not been issued"))
    if state.last_event_at is not None and at < state.last_event_at:
        raise OutOfOrder(
            N_("the command is dated {at}, before the last event of directive {directive} ({last_event_at}); business time never goes back — an earlier fact is entered now, with the day it happened (received_on)"),
            at=_local(at),
            directive=state.id,
            last_event_at=_local(state.last_event_at),
        )
    if state.status == "closed" and not isinstance(command, cmd.RecordDelivery):
        raise InvalidTransition(N_("directive {directive} is closed"), directive=state.id)
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
        case cmd.RequestExplanation():
            return _request_explanation(state, command, at)
        case cmd.GiveExplanation():
            return _give_explanation(state, command, at)
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
                    N_("item {item} is not among the items of {agency}: {item_ids}"),
                    item=command.item,
                    agency=command.agency,
                    item_ids=', '.join(item_ids),
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
                    N_("{agency} already submitted its report for cycle {cycle} on {reported_at}; it awaits review"),
                    agency=command.agency,
                    cycle=command.cycle,
                    reported_at=person_date(work.reported_at),
                )
            if work.status == "accepted":
                raise InvalidTransition(
                    N_("the report of {agency} for cycle {cycle} was already accepted"),
                    agency=command.agency,
                    cycle=command.cycle,
                )
            tracked = _resolved(state).agency(command.agency)
            own_items = {i.id for i in tracked.items} if tracked else set()
            unknown = sorted(set(command.items) - own_items)
            if unknown:
                raise NotFound(
                    N_("items {unknown} are not among the items of {agency}"),
                    unknown=', '.join(unknown),
                    agency=command.agency,
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
                    attachments=command.attachments,
                    received=_received(state, command, at),
                )
            ]
        case cmd.AcceptReport() | cmd.ReturnReport():
            _require_consolidator(state, command)
            work = _work(state, command.agency, command.cycle)
            accepting = isinstance(command, cmd.AcceptReport)
            if work.status != "reported":
                why = {
                    "assigned": (
                        N_("can't accept the report of {agency} for cycle {cycle}: it was never submitted"),
                        N_("can't return the report of {agency} for cycle {cycle}: it was never submitted"),
                    ),
                    "returned": (
                        N_("can't accept the report of {agency} for cycle {cycle}: it was returned and not submitted again"),
                        N_("can't return the report of {agency} for cycle {cycle}: it was returned and not submitted again"),
                    ),
                    "accepted": (
                        N_("can't accept the report of {agency} for cycle {cycle}: it was already accepted"),
                        N_("can't return the report of {agency} for cycle {cycle}: it was already accepted"),
                    ),
                }.get(work.status)
                if why is None:
                    raise InvalidTransition(
                        N_("can't review the report of {agency} for cycle {cycle}: it is {status}"),
                        agency=command.agency,
                        cycle=command.cycle,
                        status=work.status,
                    )
                raise InvalidTransition(
                    why[0] if accepting else why[1], agency=command.agency, cycle=command.cycle
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
                    N_("{agency} has already reported for cycle {cycle}; no extension is needed"),
                    agency=command.agency,
                    cycle=command.cycle,
                )
            if work.pending_extension is not None:
                raise InvalidTransition(
                    N_("{agency} already asked for an extension of cycle {cycle}; it awaits a decision"),
                    agency=command.agency,
                    cycle=command.cycle,
                )
            if command.proposed_due <= work.due:
                raise InvalidTransition(
                    N_("the proposed date {proposed_due} is not after the current due date {due}"),
                    proposed_due=f"{command.proposed_due:%d/%m/%Y}",
                    due=f"{work.due:%d/%m/%Y}",
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
                    N_("{agency} has no extension request pending for cycle {cycle}"),
                    agency=command.agency,
                    cycle=command.cycle,
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
                    N_("the new date {new_due} is not after {due}"),
                    new_due=f"{new_due:%d/%m/%Y}",
                    due=f"{work.due:%d/%m/%Y}",
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
                    N_("the new date {new_due} is before cycle {cycle} opened"),
                    new_due=f"{command.new_due:%d/%m/%Y}",
                    cycle=command.cycle,
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
                    N_("only the consolidator ({consolidator}) submits the consolidated report"),
                    consolidator=resolved.consolidator,
                )
            cycle_state = _open_cycle(state, command.cycle)
            if cycle_state.status == "consolidated":
                raise InvalidTransition(
                    N_("the consolidated report of cycle {cycle} was already submitted"),
                    cycle=command.cycle,
                )
            return [
                ev.ConsolidatedReportSubmitted(
                    at=at,
                    actor=actor,
                    cycle=command.cycle,
                    text=command.text,
                    attachment=command.attachment,
                    attachments=command.attachments,
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
                raise InvalidTransition(
                    N_("directive {directive} cannot supersede itself"),
                    directive=state.id,
                )
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
                raise InvalidTransition(
                    N_("directive {directive} cannot supersede itself"),
                    directive=state.id,
                )
            if command.previous in state.supersedes:
                return []
            return [
                ev.SupersedesDirective(
                    at=at, actor=actor, previous=command.previous, reason=command.reason
                )
            ]
    raise InvalidTransition(N_("unknown command {command}"), command=f"{command!r}")
