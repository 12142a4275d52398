"""What people and the planner ask of a directive: one pydantic model per command.

Every command names its `actor` (an agency id, an operator as `operator:<id>`, or `system`
for the planner); `decide` checks that actor may do it. Ledgers written before operators were
named hold the bare `operator`, which still counts as one.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from lifecycle.events import Attachment, AttachmentRef
from lifecycle.planner import Action

OPERATOR = "operator"
SYSTEM = "system"
OPERATOR_PREFIX = "operator:"
OPERATOR_ID = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$"


def operator(operator_id: str) -> str:
    """The actor of an operator's command: `operator:<id>` (id: letters, digits, . _ @ -)."""
    if not re.match(OPERATOR_ID, operator_id or ""):
        raise ValueError(
            f"operator id {operator_id!r} must be 1-100 letters, digits, '.', '_', '@' or '-'"
        )
    return OPERATOR_PREFIX + operator_id


def is_operator(actor: str) -> bool:
    return actor == OPERATOR or actor.startswith(OPERATOR_PREFIX)

Note = Annotated[str, Field(max_length=2_000)]
LongText = Annotated[str, Field(min_length=1, max_length=50_000)]
Reason = Annotated[str, Field(min_length=1, max_length=2_000)]


class CommandBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    actor: str


class Issue(CommandBase):
    kind: Literal["issue"] = "issue"
    resolved: dict[str, Any]


class Transfer(BaseModel):
    """One hand-over an amendment decides: `from_agency`'s open work to `to_agency`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    from_agency: str
    to_agency: str
    basis: Reason
    part: str | None = None


class Amend(CommandBase):
    """A new resolved definition. Agencies it drops lose their open work (withdrawn with the
    reason) unless `transfers` hand it to a successor; see the README's table of effects."""

    kind: Literal["amend"] = "amend"
    resolved: dict[str, Any]
    reason: Reason
    author: Annotated[str, Field(max_length=200)] = ""
    transfers: tuple[Transfer, ...] = ()


class Acknowledge(CommandBase):
    kind: Literal["acknowledge"] = "acknowledge"
    agency: str


class CompleteItem(CommandBase):
    kind: Literal["complete_item"] = "complete_item"
    agency: str
    item: str
    note: Note = ""


class SubmitReport(CommandBase):
    kind: Literal["submit_report"] = "submit_report"
    agency: str
    cycle: str
    text: LongText
    items: dict[str, Literal["done", "in_progress", "not_started"]] = Field(default_factory=dict)
    figures: dict[str, Annotated[str, Field(max_length=200)]] = Field(default_factory=dict)
    attachment: Attachment | None = None
    attachments: tuple[AttachmentRef, ...] = ()
    # An operator's record of a report received earlier (on paper): the day it arrived, and why
    # it is entered late. The event is dated at entry; the status counts from `received_on`.
    received_on: dt.date | None = None
    received_reason: Reason | None = None


class AcceptReport(CommandBase):
    kind: Literal["accept_report"] = "accept_report"
    agency: str
    cycle: str


class ReturnReport(CommandBase):
    kind: Literal["return_report"] = "return_report"
    agency: str
    cycle: str
    reason: Reason


class RequestExtension(CommandBase):
    kind: Literal["request_extension"] = "request_extension"
    agency: str
    cycle: str
    reason: Reason
    proposed_due: dt.date


class GrantExtension(CommandBase):
    kind: Literal["grant_extension"] = "grant_extension"
    agency: str
    cycle: str
    new_due: dt.date | None = Field(default=None, description="Defaults to the date asked for.")


class RefuseExtension(CommandBase):
    kind: Literal["refuse_extension"] = "refuse_extension"
    agency: str
    cycle: str
    reason: Reason


class MoveDeadline(CommandBase):
    kind: Literal["move_deadline"] = "move_deadline"
    cycle: str
    agency: str | None = None
    new_due: dt.date
    reason: Reason


class WithdrawTask(CommandBase):
    kind: Literal["withdraw_task"] = "withdraw_task"
    agency: str
    reason: Reason


class SubmitConsolidatedReport(CommandBase):
    kind: Literal["submit_consolidated_report"] = "submit_consolidated_report"
    cycle: str
    text: LongText
    attachment: Attachment | None = None
    attachments: tuple[AttachmentRef, ...] = ()


class RecordDelivery(CommandBase):
    """The outcome of sending a notification: sent, or failed after the last try."""

    kind: Literal["record_delivery"] = "record_delivery"
    key: str
    notification: str
    recipient: str
    ok: bool
    detail: str


class CloseDirective(CommandBase):
    """Close early: open work is withdrawn with the reason; `superseded_by` names the
    directive replacing it (which records `SupersedesDirective` in the same transaction)."""

    kind: Literal["close_directive"] = "close_directive"
    reason: Reason
    superseded_by: str | None = None


class LinkSupersession(CommandBase):
    """On the replacing directive: it supersedes `previous` (closed with `reason`)."""

    kind: Literal["link_supersession"] = "link_supersession"
    previous: str
    reason: Reason


class NotTrackCycles(CommandBase):
    """Launch catch-up: cycles whose dates passed before the launch are recorded as not tracked
    (no reminders, no escalations, no reports owed), so only the current one is followed."""

    kind: Literal["not_track_cycles"] = "not_track_cycles"
    cycles: tuple[str, ...] = Field(min_length=1)
    reason: Reason


class SummariseOverdue(CommandBase):
    """Launch catch-up `summary`: after NotTrackCycles, one digest per agency of what it owed in
    the cycles left untracked (OverdueSummarised), instead of their reminders and escalations."""

    kind: Literal["summarise_overdue"] = "summarise_overdue"
class RequestExplanation(CommandBase):
    """An operator asks an agency whose report is late to explain itself by `due`."""

    kind: Literal["request_explanation"] = "request_explanation"
    agency: str
    cycle: str
    due: dt.date
    text: Reason


class GiveExplanation(CommandBase):
    """The agency's answer to the explanation asked of it for `cycle`."""

    kind: Literal["give_explanation"] = "give_explanation"
    agency: str
    cycle: str
    text: LongText


Command = Annotated[
    Issue
    | Amend
    | NotTrackCycles
    | SummariseOverdue
    | Acknowledge
    | CompleteItem
    | SubmitReport
    | AcceptReport
    | ReturnReport
    | RequestExtension
    | GrantExtension
    | RefuseExtension
    | MoveDeadline
    | WithdrawTask
    | SubmitConsolidatedReport
    | RecordDelivery
    | CloseDirective
    | LinkSupersession
    | RequestExplanation
    | GiveExplanation,
    Field(discriminator="kind"),
]


class PerformAction(CommandBase):
    """The planner's action, done: it becomes the event that records it under its key."""

    kind: Literal["perform"] = "perform"
    action: Action


AnyCommand = Command | PerformAction
