"""The directive definition format: pydantic models for a directive and for the agency directory.

Models are frozen and refuse unknown keys. Every block says where its values came from:
`source: document` (the text states them, the default) or `source: operator` (people decided
them), and `operator_set` names the single fields of a document block that an operator added,
with the reason. That keeps what the directive says apart from what was decided around it.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

SCHEMA_VERSION: Final = 1
# Version 2 of the directive format lets a ladder's level ask for an explanation
# (`explanation:`); a file without `schema_version` is version 1 and may not use it.
DIRECTIVE_SCHEMA_VERSIONS: Final = (1, 2)
# Version 2 of the directory format gives agencies and groups their validity and succession.
DIRECTORY_FORMAT_VERSION: Final = 2

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=80)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=20_000)]
ShortText = Annotated[str, StringConstraints(min_length=1, max_length=500)]
Source = Literal["document", "operator"]
Role = Literal["lead", "coordinate", "requested"]
Recurrence = Literal["once", "annual", "half_yearly", "quarterly"]
Language = Literal["vi", "en"]
AgencyKind = Literal[
    "issuer", "department", "board", "district_committee", "association", "media", "front",
    "sociopolitical", "party", "council", "ministry", "national_body", "office",
    "commune_committee",
]

# Vietnamese lettering of the items of a section: no f, j, w; `đ` follows `d`.
ITEM_LETTERS: tuple[str, ...] = (
    "a", "b", "c", "d", "đ", "e", "g", "h", "i", "k", "l", "m", "n", "o", "p", "q", "r", "s",
    "t", "u", "v", "x", "y",
)


class Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Sourced(Model):
    """Where a block's values came from."""

    source: Source = "document"
    operator_set: dict[str, ShortText] = Field(
        default_factory=dict,
        description="Fields of this block that an operator set, each with the reason.",
    )

    @model_validator(mode="after")
    def _operator_fields_exist(self) -> Sourced:
        unknown = sorted(set(self.operator_set) - set(type(self).model_fields) - {"source"})
        if unknown:
            raise ValueError(f"operator_set names fields this block does not have: {unknown}")
        return self


# --- the agency directory -------------------------------------------------------------


class Basis(Model):
    """The document that decided a change (legal basis), or a plain note that it is unknown."""

    document: ShortText | None = Field(default=None, description="Its number and title.")
    issued_on: dt.date | None = None
    issuer: ShortText | None = None
    verified: bool = Field(
        default=False,
        description="Checked against the document itself; false = basis unverified.",
    )
    note: ShortText | None = None

    def describe(self) -> str:
        parts = [self.document or "no document named"]
        if self.issued_on:
            parts.append(f"ngày {self.issued_on:%d/%m/%Y}")
        if self.issuer:
            parts.append(f"của {self.issuer}")
        text = " ".join(parts)
        return text if self.verified else f"{text} (basis unverified)"


class Successor(Model):
    agency: Slug
    part: ShortText | None = Field(
        default=None, description="What passes to it, when the work is divided."
    )


class Succession(Model):
    """Who takes over an agency's work when it ends, and the document that decided it."""

    successors: tuple[Successor | Slug, ...] = Field(min_length=1)
    basis: Basis

    @property
    def successor_ids(self) -> tuple[str, ...]:
        return tuple(s if isinstance(s, str) else s.agency for s in self.successors)


class Validity(Model):
    """The dates an entry was valid: from `valid_from` (inclusive, open when null) until
    `valid_until` (exclusive: the first day it no longer exists; open when null)."""

    valid_from: dt.date | None = None
    valid_until: dt.date | None = Field(
        default=None, description="The first day it no longer exists (exclusive)."
    )

    def valid_on(self, day: dt.date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_until is None or day < self.valid_until
        )


class Agency(Validity):
    id: Slug
    name: ShortText = Field(description="Proper Vietnamese name, with diacritics.")
    name_en: ShortText | None = None
    abbreviations: tuple[ShortText, ...] = ()
    kind: AgencyKind
    answers_to: Slug | None = Field(
        default=None, description="The body it answers to, to which escalations go."
    )
    email: Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None
    language: Language = "vi"
    established_by: Basis | None = Field(
        default=None, description="The document that created it (with `valid_from`)."
    )
    succession: Succession | None = Field(
        default=None, description="Who takes over when it ends (with `valid_until`)."
    )
    reorganised_by: tuple[Basis, ...] = Field(
        default=(), description="Documents that changed it without ending it."
    )


class Group(Validity):
    """A group recipient (`UBND các huyện, thị xã, thành phố`) that stands for its members.

    As of a date it stands for those of its members valid then, and for the successors of
    those that had ended by then."""

    id: Slug
    name: ShortText
    name_en: ShortText | None = None
    abbreviations: tuple[ShortText, ...] = ()
    members: tuple[Slug, ...] = Field(min_length=1)
    as_of: dt.date | None = Field(default=None, description="When the membership was true.")
    ended_by: Basis | None = Field(default=None, description="The document that ended it.")


class Directory(Model):
    format_version: Literal[2] = DIRECTORY_FORMAT_VERSION
    agencies: tuple[Agency, ...]
    groups: tuple[Group, ...] = ()


# --- deadlines ------------------------------------------------------------------------


class FixedDate(Model):
    """A date the text gives (`trước ngày 30/11/2023`)."""

    on: dt.date


class EachYear(Model):
    """`trước ngày DD/MM hằng năm`: the same day and month each cycle's year."""

    each_year: Annotated[str, StringConstraints(pattern=r"^\d{1,2}/\d{1,2}$")]


class AfterIssue(Model):
    """`trong N ngày (làm việc)` from the date of issue."""

    days_after_issue: int = Field(ge=0, le=3660)
    working: bool = False


class AfterPeriodEnd(Model):
    """For half-yearly and quarterly reporting: N (working) days after the period ends."""

    days_after_period_end: int = Field(ge=0, le=366)
    working: bool = False


class AfterReportDue(Model):
    """For consolidation: N (working) days after the reports it consolidates are due."""

    days_after_report_due: int = Field(ge=1, le=366)
    working: bool = False


DueRule = FixedDate | EachYear | AfterIssue | AfterPeriodEnd | AfterReportDue


# --- the directive --------------------------------------------------------------------


class Signer(Model):
    """`KT. CHỦ TỊCH / PHÓ CHỦ TỊCH / name`: `on_behalf_of` is what follows `KT.`."""

    on_behalf_of: ShortText | None = None
    position: ShortText
    name: ShortText | None = Field(default=None, description="Empty when the text lost it.")


class CitedDocument(Model):
    """A document the directive cites; its number and date are not the directive's."""

    kind: ShortText
    number: ShortText | None = None
    issued_on: dt.date | None = None
    issuer: ShortText | None = None
    title: Text | None = None


class Recipient(Model):
    """One line of `Kính gửi`: the words of the text and the agency or group they mean."""

    agency: Slug
    text: ShortText


class Item(Model):
    letter: Annotated[str, StringConstraints(min_length=1, max_length=2)]
    text: Text
    coordinate_with: tuple[Slug, ...] = Field(
        default=(), description="Agencies or groups the item names to coordinate with."
    )


class AssignedAgency(Model):
    agency: Slug
    role: Role = "lead"


class Assignment(Sourced):
    """A numbered section: work given to one agency, several jointly, or a group."""

    section: int = Field(ge=1, le=99)
    heading: ShortText = Field(description="The section's heading as the text gives it.")
    agencies: tuple[AssignedAgency, ...] = Field(min_length=1)
    text: Text | None = Field(default=None, description="The section's own text, if not lettered.")
    items: tuple[Item, ...] = ()

    @model_validator(mode="after")
    def _has_work(self) -> Assignment:
        if not self.items and not self.text:
            raise ValueError(f"section {self.section} has neither lettered items nor text")
        return self


class Reporting(Sourced):
    """Who reports what to whom, by when, how often."""

    reporters: Literal["all_tracked"] | tuple[Slug, ...] = "all_tracked"
    to: Slug
    due: DueRule
    recurrence: Recurrence = "once"
    first_cycle: int = Field(ge=1990, le=2200)
    last_cycle: int | None = Field(default=None, ge=1990, le=2200)
    text: Text | None = Field(default=None, description="The sentence of the text, if any.")


class Consolidation(Sourced):
    by: Slug
    to: Slug
    due: DueRule


Unit = Literal["days", "working_days"]


class Reminder(Model):
    before: int = Field(ge=0, le=366, description="How long before the due date; 0 = on the day.")
    unit: Unit = "working_days"


class ExplanationAsk(Model):
    """At a level of the ladder, also ask the agency to explain itself (yêu cầu giải trình)."""

    within: int = Field(ge=1, le=90, description="Calendar days the agency has to answer.")
    text: Text | None = Field(default=None, description="What is asked (a standard text if none).")


class EscalationLevel(Model):
    level: int = Field(ge=1, le=9)
    after: int = Field(ge=0, le=366, description="How long after the due date.")
    unit: Unit = "working_days"
    to: Literal["agency", "answers_to"] | Slug = Field(
        description="`agency` itself, the body it `answers_to`, or a named agency."
    )
    every: int | None = Field(default=None, ge=1, le=366, description="Repeat interval.")
    times: int = Field(default=1, ge=1, le=20)
    explanation: ExplanationAsk | None = Field(
        default=None,
        description="When the level is first raised about a report, ask for an explanation "
        "too (schema_version 2).",
    )


class Escalation(Sourced):
    source: Source = "operator"
    reminders: tuple[Reminder, ...] = ()
    levels: tuple[EscalationLevel, ...] = ()

    @model_validator(mode="after")
    def _levels_in_order(self) -> Escalation:
        numbers = [level.level for level in self.levels]
        if numbers != list(range(1, len(numbers) + 1)):
            raise ValueError(
                f"escalation levels must be numbered 1, 2, 3 … in order, not {numbers}"
            )
        return self


class Directive(Sourced):
    """One directive (công văn, chỉ thị, kế hoạch) as chidao runs it."""

    schema_version: Literal[1, 2] = SCHEMA_VERSION
    id: Slug = Field(description="Stable id, e.g. qn-2810-ubnd-kgvx-2023.")
    kind: ShortText = Field(description="Công văn, Chỉ thị, Kế hoạch …")
    issuer: Slug
    number: int = Field(ge=1, le=999_999)
    symbol: Annotated[str, StringConstraints(pattern=r"^[A-ZĐ0-9][A-ZĐ0-9&-]*$", max_length=60)]
    place: ShortText
    issued_on: dt.date
    subject: Text
    signer: Signer
    legal_basis: tuple[CitedDocument, ...] = ()
    recipients: tuple[Recipient, ...] = Field(min_length=1)
    preamble: Text | None = None
    assignments: tuple[Assignment, ...] = Field(min_length=1)
    closing: Text | None = None
    reporting: Reporting
    consolidation: Consolidation | None = None
    escalation: Escalation = Field(default_factory=Escalation)
    language: Language = "vi"
    distribution: tuple[ShortText, ...] = Field(
        default=(), description="`Nơi nhận` beyond `Như trên`: informed, not tracked."
    )

    @model_validator(mode="after")
    def _version_allows(self) -> Directive:
        if self.schema_version < 2 and any(
            level.explanation is not None for level in self.escalation.levels
        ):
            raise ValueError(
                "escalation.levels[].explanation needs 'schema_version: 2' at the top of the file"
            )
        return self

    @property
    def reference(self) -> str:
        """`2810/UBND-KGVX`, as the document writes its identity."""
        return f"{self.number}/{self.symbol}"
