"""What each party of a directive is expected to do: the entries of its inbox, from the state.

Pure. `inbox_items(state)` gives every party's entries at once, each with a stable `seq`
(its place: directive-wide first, then by cycle, kind and agency), so the read side can
store them as rows and a reader asks for one agency's across every directive. An entry's
standing depends on the time asked: `item_standing(item, now)`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from definitions.calendar import deadline_instant, local_date
from lifecycle.state import DirectiveState

InboxKind = Literal[
    "acknowledge", "complete_items", "report", "review_report", "consolidate", "decide_extension",
    "explain",
]
_RANK = {
    "acknowledge": 0,
    "complete_items": 1,
    "report": 2,
    "review_report": 3,
    "consolidate": 4,
    "decide_extension": 5,
    "explain": 6,
}


@dataclass(frozen=True)
class InboxItem:
    directive: str
    owner: str  # whose inbox it is in
    seq: int  # its place in the owner's entries of this directive
    kind: InboxKind
    agency: str  # whose work it is (for reviews and extensions: the reporting agency)
    cycle: str | None
    due: dt.date | None
    detail: str
    open_report: bool  # a report still owed: its standing is in progress or overdue by `due`


def item_standing(item: InboxItem, now: dt.datetime) -> str | None:
    if not item.open_report or item.due is None:
        return None
    return "in_progress" if now < deadline_instant(item.due) else "overdue"


def _seq(cycle_index: int, kind: str, agency_index: int) -> int:
    return (cycle_index + 1) * 1_000_000 + _RANK[kind] * 10_000 + agency_index


def inbox_items(state: DirectiveState) -> list[InboxItem]:
    """Every party's inbox entries for an active directive (none for any other)."""
    if state.status != "active" or state.resolved is None:
        return []
    resolved = state.resolved
    directive = state.id
    position = {a.id: n for n, a in enumerate(resolved.tracked)}
    found: list[InboxItem] = []

    def add(
        owner: str,
        cycle_index: int,
        kind: InboxKind,
        agency: str,
        cycle: str | None,
        due: dt.date | None,
        detail: str,
        open_report: bool = False,
    ) -> None:
        seq = _seq(cycle_index, kind, position.get(agency, 9_999))
        found.append(
            InboxItem(directive, owner, seq, kind, agency, cycle, due, detail, open_report)
        )

    for tracked in resolved.tracked:
        mine = state.agencies.get(tracked.id)
        if mine is None or mine.withdrawn_at is not None:
            continue
        if mine.acknowledged_at is None:
            add(
                tracked.id,
                -1,
                "acknowledge",
                tracked.id,
                None,
                None,
                "confirm receipt of the directive",
            )
        open_items = [i.id for i in tracked.items if i.id not in mine.items_done]
        if open_items:
            add(
                tracked.id,
                -1,
                "complete_items",
                tracked.id,
                None,
                None,
                "items not marked done: " + ", ".join(open_items),
            )
    reviewers = {a for a in (resolved.consolidator, resolved.reporting_to) if a}
    for index, cycle in enumerate(state.cycles.values()):
        if cycle.status == "closed":
            continue
        for work in cycle.works.values():
            if work.status in ("assigned", "returned"):
                detail = "submit the report of this cycle"
                if work.status == "returned":
                    detail = f"the report was returned: {work.returned_reason}"
                pending = work.pending_extension
                if pending is not None:
                    detail += f"; an extension to {pending.proposed_due} awaits a decision"
                add(work.agency, index, "report", work.agency, cycle.id, work.due, detail, True)
            if work.status == "reported":
                for reviewer in sorted(reviewers):
                    add(
                        reviewer,
                        index,
                        "review_report",
                        work.agency,
                        cycle.id,
                        None,
                        f"accept or return the report of {work.agency}",
                    )
            pending = work.pending_extension
            if pending is not None:
                add(
                    resolved.issuer.id,
                    index,
                    "decide_extension",
                    work.agency,
                    cycle.id,
                    pending.proposed_due,
                    f"{work.agency} asks to move {work.due} to {pending.proposed_due}, "
                    f"asked on {local_date(pending.requested_at)}",
                )
        if resolved.consolidator and cycle.status == "consolidation_requested":
            add(
                resolved.consolidator,
                index,
                "consolidate",
                resolved.consolidator,
                cycle.id,
                cycle.consolidation_due,
                "submit the consolidated report of this cycle",
            )
    for index, cycle in enumerate(state.cycles.values()):
        if cycle.not_tracked:
            continue
        for work in cycle.works.values():
            asked = work.pending_explanation
            if asked is not None:  # asked about a late report, in a cycle closed or not
                add(work.agency, index, "explain", work.agency, cycle.id, asked.due,
                    f"explain in writing why the report is late: {asked.text}")  # fmt: skip
    found.sort(key=lambda item: (item.owner, item.seq))
    return found
