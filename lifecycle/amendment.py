"""What an amendment would do, agency by agency, before anything is recorded (`--dry-run`).

Pure: it decides the amendment on a copy of the state, applies the events, and compares the
two states: who joins or leaves, whose open work passes to whom, whose due date moves, and
how the reminder and escalation ladder changes.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field

from definitions.handover import HandoverSpec, plan_handovers
from definitions.resolve import resolve
from definitions.schema import Directive, Directory
from lifecycle import commands as cmd
from lifecycle import events as ev
from lifecycle.decide import decide
from lifecycle.state import DirectiveState, apply


@dataclass
class AgencyChange:
    agency: str
    lines: list[str] = field(default_factory=list)


@dataclass
class AmendmentEffect:
    events: list[ev.Event]
    agencies: list[AgencyChange]
    general: list[str]


def _ladder(state: DirectiveState) -> str:
    escalation = state.definition.definition.escalation
    reminders = ", ".join(f"-{r.before}{'wd' if r.unit == 'working_days' else 'd'}" for r in escalation.reminders)
    levels = ", ".join(
        f"L{lv.level}+{lv.after}{'wd' if lv.unit == 'working_days' else 'd'}→{lv.to}"
        + (f" ×{lv.times}/{lv.every}" if lv.times > 1 else "")
        for lv in escalation.levels
    )
    return f"reminders [{reminders}] levels [{levels}]"


def amendment_effect(
    state: DirectiveState, command: cmd.Amend, at: dt.datetime
) -> AmendmentEffect:
    """The events the amendment records and its effect per agency (refusals propagate)."""
    events = decide(state, command, at)
    after = copy.deepcopy(state)
    for event in events:
        apply(after, event)
    changes: dict[str, AgencyChange] = {}

    def say(agency: str, line: str) -> None:
        changes.setdefault(agency, AgencyChange(agency)).lines.append(line)

    before_ids = {a.id for a in state.definition.tracked}
    after_ids = {a.id for a in after.definition.tracked}
    for event in events:
        if isinstance(event, ev.WorkTransferred):
            say(event.agency, f"hands its open work over to {event.to} ({event.basis})")
            say(event.to, f"takes over the work of {event.agency}")
        elif isinstance(event, ev.TaskWithdrawn):
            say(event.agency, f"work withdrawn: {event.reason}")
    for agency in sorted(after_ids - before_ids):
        if not any(line.startswith("takes over") for line in changes.get(agency, AgencyChange(agency)).lines):
            say(agency, "joins the directive")
    for cycle_id, cycle in after.cycles.items():
        old = state.cycles.get(cycle_id)
        if old is None or cycle.status == "closed":
            continue
        for agency, work in cycle.works.items():
            previous = old.works.get(agency)
            if previous is None:
                say(agency, f"cycle {cycle_id}: owes a report due {work.due:%d/%m/%Y}")
            elif previous.due != work.due:
                say(agency, f"cycle {cycle_id}: due {previous.due:%d/%m/%Y} → {work.due:%d/%m/%Y}")
            elif previous.status != work.status:
                say(agency, f"cycle {cycle_id}: {previous.status} → {work.status}")
    general = []
    if _ladder(state) != _ladder(after):
        general.append(f"ladder: {_ladder(state)} → {_ladder(after)}")
    old_rule = state.definition.definition.reporting
    new_rule = after.definition.definition.reporting
    if old_rule != new_rule:
        general.append(
            f"reporting rule: {old_rule.due.model_dump(mode='json')} → "
            f"{new_rule.due.model_dump(mode='json')}, to {old_rule.to} → {new_rule.to}"
        )
    return AmendmentEffect(events, sorted(changes.values(), key=lambda c: c.agency), general)


def amend_command(
    state: DirectiveState,
    definition: Directive,
    directory: Directory,
    specs: tuple[HandoverSpec, ...],
    on: dt.date,
    reason: str,
    author: str = "",
    actor: str = cmd.OPERATOR,
) -> cmd.Amend:
    """The amendment of `state`'s directive to `definition`, with the hand-overs `specs`
    choose on `on` added to those earlier amendments made (a DefinitionError if one points
    at nobody valid)."""
    chosen, handovers = plan_handovers(directory, specs, on, reason)
    previous = state.definition.handovers
    merged = {**previous, **chosen}
    resolved = resolve(definition, directory, handovers=merged)
    return cmd.Amend(
        actor=actor,
        resolved=resolved.model_dump(mode="json"),
        reason=reason,
        author=author,
        transfers=tuple(
            cmd.Transfer(
                from_agency=h.from_agency, to_agency=h.to_agency, basis=h.basis, part=h.part
            )
            for h in handovers
        ),
    )
