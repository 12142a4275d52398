"""Launching a directive whose dates have passed: the catch-up policies and the launch preview.

Pure, like the rest of lifecycle/: the commands a launch records under each policy, and what the
planner would do at `now` after them (`preview`), computed by deciding and evolving in memory,
with nothing recorded and nothing sent.

- `full`: every cycle since issuance is tracked, as if the directive had run from its date
  (years of escalations, at once);
- `current`: only the current cycle is opened (the one whose period holds today, else the next
  to start, else the last); the earlier ones are recorded as not tracked (`CyclesNotTracked`);
- `summary`: every cycle whose report date has passed is recorded as not tracked, and each
  agency is told once, in one digest, what it owed in them (`OverdueSummarised`, answered by
  the notice `overdue_summary`), instead of years of reminders and escalations; tracking
  starts with the first cycle whose report is still ahead (opened at once).

A launch whose first report date has passed needs one of them, given by the operator.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from definitions.calendar import WorkingCalendar, local_date
from definitions.resolve import Cycle, ResolvedDirective
from lifecycle import commands as cmd
from lifecycle.decide import decide
from lifecycle.planner import Action, due_actions, label
from lifecycle.state import DirectiveState, apply

CatchUp = Literal["current", "summary", "full"]
POLICIES: tuple[CatchUp, ...] = ("current", "summary", "full")
MAX_ROUNDS = 25
# Recorded in the ledger as the operator's reason (the ledger's words are Vietnamese).
NOT_TRACKED_REASON = "Khởi chạy sau thời hạn: chỉ theo dõi kỳ hiện tại (--catch-up current)."
SUMMARY_REASON = (
    "Khởi chạy sau thời hạn: theo dõi kỳ hiện tại, báo một lần các báo cáo quá hạn "
    "(--catch-up summary)."
)


def passed_cycles(resolved: ResolvedDirective, now: dt.datetime) -> list[Cycle]:
    """The cycles whose report date is already behind us at `now` (Vietnam's date)."""
    today = local_date(now)
    return [c for c in resolved.cycles if c.report_due < today]


def needs_policy(resolved: ResolvedDirective, now: dt.datetime) -> bool:
    return bool(passed_cycles(resolved, now))


def current_of(resolved: ResolvedDirective, now: dt.datetime) -> Cycle:
    """The cycle whose period holds today; else the next to start; else the last one."""
    today = local_date(now)
    holding = [c for c in resolved.cycles if c.period_start <= today <= c.period_end]
    if holding:
        return holding[0]
    later = [c for c in resolved.cycles if c.period_start > today]
    return later[0] if later else resolved.cycles[-1]


def launch_commands(
    resolved: ResolvedDirective,
    now: dt.datetime,
    policy: CatchUp | None,
    actor: str = cmd.OPERATOR,
) -> list[cmd.Command]:
    """What a launch by `actor` records: the issuance; under `current` and `summary` the earlier
    cycles left out, and under `summary` one digest per agency of what it owed in them."""
    commands: list[cmd.Command] = [
        cmd.Issue(actor=actor, resolved=resolved.model_dump(mode="json"))
    ]
    if policy in ("current", "summary"):
        if policy == "summary":  # every cycle whose report is overdue goes in the digests
            earlier = tuple(c.id for c in passed_cycles(resolved, now))
        else:
            current = current_of(resolved, now)
            earlier = tuple(c.id for c in resolved.cycles if c.index < current.index)
        if earlier:
            reason = SUMMARY_REASON if policy == "summary" else NOT_TRACKED_REASON
            commands.append(cmd.NotTrackCycles(actor=actor, cycles=earlier, reason=reason))
            if policy == "summary":
                commands.append(cmd.SummariseOverdue(actor=actor))
    return commands


@dataclass
class Preview:
    """What a launch at `at` would do at once: cycles opened and left out, and every action."""

    at: dt.datetime
    policy: CatchUp | None
    opened: list[str] = field(default_factory=list)
    not_tracked: list[str] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)

    def by_kind(self) -> dict[str, int]:
        return dict(Counter(label(a) for a in self.actions))

    def escalations(self) -> list[Action]:
        return [a for a in self.actions if a.kind == "escalate"]

    def digests(self) -> list[Action]:
        """The overdue digests of `summary`, one per agency."""
        return [a for a in self.actions if a.notice_kind == "overdue_summary"]

    def as_dict(self) -> dict[str, Any]:
        return {
            "at": self.at.isoformat(),
            "policy": self.policy,
            "cycles_opened": self.opened,
            "cycles_not_tracked": self.not_tracked,
            "actions": [
                {
                    "kind": a.kind,
                    "label": label(a),
                    "cycle": a.cycle,
                    "agency": a.agency,
                    "recipient": a.recipient,
                    "level": a.level,
                    "notice_kind": a.notice_kind,
                    "due_at": a.due_at.isoformat(),
                }
                for a in self.actions
            ],
        }


def preview(
    resolved: ResolvedDirective,
    now: dt.datetime,
    calendar: WorkingCalendar,
    policy: CatchUp | None,
) -> Preview:
    """The launch under `policy` (None: as `full`), decided and evolved in memory."""
    state = DirectiveState()
    for command in launch_commands(resolved, now, policy):
        for event in decide(state, command, now):
            apply(state, event)
    result = Preview(at=now, policy=policy)
    for _ in range(MAX_ROUNDS):
        actions = due_actions(state, now, calendar)
        if not actions:
            break
        for action in actions:
            result.actions.append(action)
            for event in decide(state, cmd.PerformAction(actor=cmd.SYSTEM, action=action), now):
                apply(state, event)
    result.opened = [c.id for c in state.cycles.values() if not c.not_tracked]
    result.not_tracked = [c.id for c in state.cycles.values() if c.not_tracked]
    return result
