"""What the webhook reads and answers, as pydantic models: they are also its OpenAPI schema.

Requests forbid unknown fields and bound every text, so a mistake is a 422 naming the field
rather than something the ledger has to refuse. Text is NFC-normalised (the glossary's rule
for Vietnamese) and may not hold NUL, other control characters or lone surrogates, which
the ledger cannot store on both backends.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

ID_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
CYCLE_PATTERN = r"^[0-9A-Za-z]+(-[0-9A-Za-z]+)*$"
ITEM_PATTERN = r"^[0-9]{1,3}[a-zđ]?$"
ID_MAX = 80

EARLIEST_DATE = dt.date(2000, 1, 1)
LATEST_DATE = dt.date(2100, 12, 31)


def _clean_text(value: str) -> str:
    for char in value:
        code = ord(char)
        if (code < 0x20 and char not in "\t\n\r") or code == 0x7F or 0xD800 <= code <= 0xDFFF:
            raise ValueError(f"contains the control character U+{code:04X}")
    return unicodedata.normalize("NFC", value)


def _sane_date(value: dt.date) -> dt.date:
    # Far dates are certainly typos, and date arithmetic near year 9999 overflows.
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        raise ValueError(f"must be between {EARLIEST_DATE} and {LATEST_DATE}")
    return value


Note = Annotated[str, Field(max_length=2_000), AfterValidator(_clean_text)]
Reason = Annotated[str, Field(min_length=1, max_length=2_000), AfterValidator(_clean_text)]
LongText = Annotated[str, Field(min_length=1, max_length=50_000), AfterValidator(_clean_text)]
FigureKey = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_clean_text)]
FigureValue = Annotated[str, Field(max_length=200), AfterValidator(_clean_text)]
ItemId = Annotated[str, Field(pattern=ITEM_PATTERN, max_length=5)]
BusinessDate = Annotated[dt.date, AfterValidator(_sane_date)]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Attachment(Request):
    """A file the agency keeps: where to fetch it and the SHA-256 it must have."""

    url: str = Field(max_length=2_000, pattern=r"^https?://[^\s\x00-\x1f]+$")
    sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="Lower-case hex SHA-256 of the file."
    )


class Empty(Request):
    """No fields; the body may be omitted."""


class ItemDone(Request):
    note: Note = ""


class ExplanationIn(Request):
    text: LongText = Field(description="The agency's written explanation (giải trình).")


class ExplanationRequestIn(Request):
    due: BusinessDate = Field(description="The day to answer by.")
    text: Reason = Field(description="What is asked.")


class ReportIn(Request):
    text: LongText = Field(description="The report (báo cáo kết quả).")
    items: dict[ItemId, Literal["done", "in_progress", "not_started"]] = Field(
        default_factory=dict, max_length=100, description='Status per item id, e.g. {"1a": "done"}.'
    )
    figures: dict[FigureKey, FigureValue] = Field(
        default_factory=dict,
        max_length=100,
        description='Figures as text, e.g. {"lớp học": "120"}.',
    )
    attachment: Attachment | None = None


class ExtensionIn(Request):
    reason: Reason
    proposed_due: BusinessDate = Field(description="The date asked for (YYYY-MM-DD).")


class ReturnIn(Request):
    reason: Reason = Field(description="What the report lacks; sent to the agency.")


class ConsolidatedIn(Request):
    text: LongText
    attachment: Attachment | None = None


class GrantIn(Request):
    new_due: BusinessDate | None = Field(
        default=None, description="Defaults to the date asked for."
    )


class RefuseIn(Request):
    reason: Reason


class Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecordedEvent(Response):
    type: str
    version: int
    business_time: dt.datetime


class Recorded(Response):
    """The answer to a command: the events it recorded, none if it changed nothing."""

    directive: str
    actor: str
    events: list[RecordedEvent]
    detail: str


class FieldProblem(Response):
    field: str
    message: str


class ErrorBody(Response):
    error: str = Field(description="unauthorized, forbidden, not_found, conflict, invalid, …")
    detail: str
    fields: list[FieldProblem] = Field(default_factory=list)


class StatusRow(Response):
    agency: str
    name: str
    role: str
    items_done: int
    items_assigned: int
    due: dt.date
    status: Literal["in_progress", "overdue", "completed_on_time", "completed_late", "withdrawn"]
    work_status: str
    acknowledged: bool
    escalation_level: int
    last_event: str | None
    last_event_at: dt.datetime | None


class DirectiveStatus(Response):
    directive: str
    directive_status: str
    cycle: str | None
    as_of: dt.datetime
    rows: list[StatusRow]
    counts: dict[str, int]


class InboxEntry(Response):
    directive: str
    kind: Literal[
        "acknowledge",
        "complete_items",
        "report",
        "review_report",
        "consolidate",
        "decide_extension",
        "explain",
    ]
    cycle: str | None = None
    agency: str = Field(
        description="Whose work it is (for reviews and extensions: the reporting agency)."
    )
    due: dt.date | None = None
    standing: str | None = None
    detail: str


class Inbox(Response):
    agency: str
    as_of: dt.datetime
    entries: list[InboxEntry]
    next: str | None = Field(
        default=None,
        description="More entries follow: pass this as `after` for the next page (none: the last).",
    )


class Health(Response):
    status: Literal["ok"]
