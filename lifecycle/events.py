"""The facts of a directive's life: one pydantic model per event type, as the ledger stores them.

An event's business time (`at`) and `actor` travel in the ledger's envelope; the payload is
the rest of the model. `parse_event` rebuilds an event from those parts and refuses a payload
that does not fit its type.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from definitions.resolve import ResolvedDirective
from lifecycle.errors import InvalidEvent

ENVELOPE_FIELDS = frozenset({"type", "at", "actor"})
SCHEMA_VERSION = 1  # of every event type not named in EVENT_VERSIONS
# The two events that set the resolved definition: version 2 embedded it at its format_version
# 2 (agency validity, `as_of`); version 3 carries its SHA-256 only, the definition being stored
# once by that hash (`ledger.definitions_store`). `ledger.directives` upcasts older payloads on
# read. DirectiveClosed 2 names the directive that supersedes it (null when none).
EVENT_VERSIONS: dict[str, int] = {
    "DirectiveIssued": 3,
    "DefinitionAmended": 3,
    "DirectiveClosed": 2,
    # Reports 2 carry the files stored with them (`attachments`, content-addressed); version 1
    # had none, and `ledger.directives` upcasts it to an empty list.
    "ReportSubmitted": 2,
    "ConsolidatedReportSubmitted": 2,
}
# ExplanationRequested and ExplanationGiven (explanation requests) were added at version 1:
# there is no earlier shape to upcast; a later change to them gets its entry above.
# The events whose payload names a resolved definition by hash.
DEFINING_EVENTS = frozenset({"DirectiveIssued", "DefinitionAmended"})
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


def event_version(type_: str) -> int:
    """The schema version events of `type_` are written at now."""
    return EVENT_VERSIONS.get(type_, SCHEMA_VERSION)


class EventBase(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    at: dt.datetime
    actor: str

    def payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude=set(ENVELOPE_FIELDS))


class DirectiveIssued(EventBase):
    """The directive issued under a resolved definition, named by its hash (v3).

    `definition` is that definition itself, at hand beside the event (set by `decide`, and by
    the ledger when it reads the event back); it is not part of the payload."""

    type: Literal["DirectiveIssued"] = "DirectiveIssued"
    directive_id: str
    definition_sha256: Sha256 = Field(description="The SHA-256 of the resolved definition.")
    definition: ResolvedDirective | None = Field(default=None, exclude=True, repr=False)


class DefinitionAmended(EventBase):
    type: Literal["DefinitionAmended"] = "DefinitionAmended"
    definition_sha256: Sha256
    reason: str
    author: str = Field(default="", description="The person who decided it (v2).")
    definition: ResolvedDirective | None = Field(default=None, exclude=True, repr=False)


class WorkTransferred(EventBase):
    """An agency's open work passed to a successor (cơ quan kế thừa), as an amendment decided.

    `agency` hands over to `to`; `basis` is the document (or the operator's decision) it rests
    on, `decided_by` the person who chose; `part` what passes, when the work is divided."""

    type: Literal["WorkTransferred"] = "WorkTransferred"
    agency: str
    to: str
    basis: str
    decided_by: str
    part: str | None = None


class CycleOpened(EventBase):
    type: Literal["CycleOpened"] = "CycleOpened"
    cycle: str


class Acknowledged(EventBase):
    type: Literal["Acknowledged"] = "Acknowledged"
    agency: str


class ItemCompleted(EventBase):
    type: Literal["ItemCompleted"] = "ItemCompleted"
    agency: str
    item: str
    note: str = ""


class Attachment(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]


AttachmentType = Literal[
    "application/pdf",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "image/png",
    "image/jpeg",
]
ATTACHMENT_TYPES: tuple[str, ...] = get_args(AttachmentType)


class AttachmentRef(BaseModel):
    """A file stored with a report: its bytes are in the ledger database under `sha256`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    media_type: AttachmentType
    size: Annotated[int, Field(ge=1)]


class Received(BaseModel):
    """An earlier fact entered later by an operator: when it really happened, why late, by whom."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    on: dt.date
    reason: str
    by: str  # the operator who entered it (`operator:<id>`)


class ReportSubmitted(EventBase):
    type: Literal["ReportSubmitted"] = "ReportSubmitted"
    agency: str
    cycle: str
    text: str
    items: dict[str, str] = Field(default_factory=dict)
    figures: dict[str, str] = Field(default_factory=dict)
    attachment: Attachment | None = None
    attachments: tuple[AttachmentRef, ...] = ()  # v2
    # Set only on an operator's record of a report received earlier (absent otherwise, so
    # ordinary reports keep the payload of schema version 1).
    received: Received | None = None

    def payload(self) -> dict[str, Any]:
        data = super().payload()
        if data.get("received") is None:
            data.pop("received", None)
        return data


class ReportAccepted(EventBase):
    type: Literal["ReportAccepted"] = "ReportAccepted"
    agency: str
    cycle: str


class ReportReturned(EventBase):
    type: Literal["ReportReturned"] = "ReportReturned"
    agency: str
    cycle: str
    reason: str


class ExtensionRequested(EventBase):
    type: Literal["ExtensionRequested"] = "ExtensionRequested"
    agency: str
    cycle: str
    reason: str
    proposed_due: dt.date


class ExtensionGranted(EventBase):
    type: Literal["ExtensionGranted"] = "ExtensionGranted"
    agency: str
    cycle: str
    new_due: dt.date


class ExtensionRefused(EventBase):
    type: Literal["ExtensionRefused"] = "ExtensionRefused"
    agency: str
    cycle: str
    reason: str


class DeadlineMoved(EventBase):
    type: Literal["DeadlineMoved"] = "DeadlineMoved"
    cycle: str
    agency: str | None = Field(description="One agency, or every agency of the cycle when null.")
    new_due: dt.date
    reason: str


class TaskWithdrawn(EventBase):
    type: Literal["TaskWithdrawn"] = "TaskWithdrawn"
    agency: str
    reason: str


class IssuanceNotified(EventBase):
    type: Literal["IssuanceNotified"] = "IssuanceNotified"
    agency: str
    key: str


class ReminderSent(EventBase):
    type: Literal["ReminderSent"] = "ReminderSent"
    agency: str
    cycle: str
    obligation: Literal["report", "consolidation"]
    due: dt.date
    key: str


class EscalationRaised(EventBase):
    type: Literal["EscalationRaised"] = "EscalationRaised"
    agency: str
    cycle: str
    obligation: Literal["report", "consolidation"]
    level: int
    repeat: int
    to: str
    due: dt.date
    key: str


class NotificationSent(EventBase):
    type: Literal["NotificationSent"] = "NotificationSent"
    key: str
    kind: str
    recipient: str
    message_id: str


class NotificationFailed(EventBase):
    type: Literal["NotificationFailed"] = "NotificationFailed"
    key: str
    kind: str
    recipient: str
    error: str


class NoticeSent(EventBase):
    """A message that answers an event (extension granted, report returned, …) went out."""

    type: Literal["NoticeSent"] = "NoticeSent"
    kind: str
    agency: str
    key: str


class ConsolidationRequested(EventBase):
    type: Literal["ConsolidationRequested"] = "ConsolidationRequested"
    cycle: str
    consolidator: str
    key: str


class ConsolidatedReportSubmitted(EventBase):
    type: Literal["ConsolidatedReportSubmitted"] = "ConsolidatedReportSubmitted"
    cycle: str
    text: str
    attachment: Attachment | None = None
    attachments: tuple[AttachmentRef, ...] = ()  # v2


class CycleClosed(EventBase):
    type: Literal["CycleClosed"] = "CycleClosed"
    cycle: str


class CyclesNotTracked(EventBase):
    """Cycles that ended before the directive was launched, left untracked by the operator."""

    type: Literal["CyclesNotTracked"] = "CyclesNotTracked"
    cycles: tuple[str, ...]
    reason: str


class Overdue(BaseModel):
    """One report an agency owed in a cycle left untracked at launch (`OverdueSummarised`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cycle: str
    obligation: Literal["report", "consolidation"]
    due: dt.date


class OverdueSummarised(EventBase):
    """Launch catch-up `summary`: what `agency` owed in the cycles left untracked, told to it
    once, in one digest (the notice `overdue_summary`), instead of years of escalations."""

    type: Literal["OverdueSummarised"] = "OverdueSummarised"
    agency: str
    overdue: tuple[Overdue, ...]


class DirectiveClosed(EventBase):
    type: Literal["DirectiveClosed"] = "DirectiveClosed"
    reason: str
    superseded_by: str | None = Field(default=None, description="The directive replacing it (v2).")


class SupersedesDirective(EventBase):
    """Recorded on the directive that replaces `previous`, in the transaction closing it."""

    type: Literal["SupersedesDirective"] = "SupersedesDirective"
    previous: str
    reason: str


class ExplanationRequested(EventBase):
    """An agency is asked to explain in writing why its report of `cycle` is late (yêu cầu giải
    trình), by `due`. The actor is the operator who asked (`operator:<id>`), or `system` when
    the ladder asks at `level`."""

    type: Literal["ExplanationRequested"] = "ExplanationRequested"
    agency: str
    cycle: str
    due: dt.date
    text: str
    level: int | None = None


class ExplanationGiven(EventBase):
    """The agency's written explanation, answering the request of `cycle` still open."""

    type: Literal["ExplanationGiven"] = "ExplanationGiven"
    agency: str
    cycle: str
    text: str


Event = Annotated[
    DirectiveIssued
    | DefinitionAmended
    | CycleOpened
    | Acknowledged
    | ItemCompleted
    | ReportSubmitted
    | ReportAccepted
    | ReportReturned
    | ExtensionRequested
    | ExtensionGranted
    | ExtensionRefused
    | DeadlineMoved
    | TaskWithdrawn
    | WorkTransferred
    | IssuanceNotified
    | ReminderSent
    | EscalationRaised
    | NotificationSent
    | NotificationFailed
    | NoticeSent
    | ConsolidationRequested
    | ConsolidatedReportSubmitted
    | CycleClosed
    | CyclesNotTracked
    | OverdueSummarised
    | DirectiveClosed
    | SupersedesDirective
    | ExplanationRequested
    | ExplanationGiven,
    Field(discriminator="type"),
]

_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
EVENT_TYPES: frozenset[str] = frozenset(
    model.model_fields["type"].default for model in EventBase.__subclasses__()
)


def parse_event(type_: str, payload: dict[str, Any], at: dt.datetime, actor: str) -> Event:
    """An event rebuilt from the ledger's parts, or InvalidEvent naming what does not fit."""
    try:
        return _ADAPTER.validate_python({**payload, "type": type_, "at": at, "actor": actor})
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'][1:]) or type_}: {err['msg']}"
            for err in e.errors()
        )
        raise InvalidEvent(f"event {type_} does not fit its schema: {problems}") from e
