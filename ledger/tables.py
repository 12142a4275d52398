"""SQLAlchemy Core tables of the ledger database: the event log and the auxiliary tables.

This is the current shape of the schema, used by the store and by other packages
(`from ledger.tables import outbox, agency_secrets, webhook_requests`). The migrations in
`ledger.migrations.versions` are frozen history that must produce exactly this shape; a test
compares the migrated database with this metadata so the two cannot drift apart.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    CHAR,
    JSON,
    Boolean,
    Column,
    Date,
    Dialect,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import DateTime, TypeDecorator

metadata = MetaData()

# Streams of the events table that are not directives (`ledger.agency_keys`, `ledger.operators`):
# never replayed as one, never projected.
NON_DIRECTIVE_STREAMS = frozenset({"agency-keys", "operators"})


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp that is stored in UTC and always read back aware, in UTC.

    SQLite keeps no offset and silently drops it on write, so a non-UTC aware value would be
    stored as its wall-clock time; converting on the way in and tagging UTC on the way out
    makes both backends round-trip (and hash) the same instant the same way.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} given where a timezone-aware one is needed")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def json_document() -> Any:
    """JSON everywhere, JSONB on PostgreSQL (indexable, compact)."""
    return JSON().with_variant(JSONB(), "postgresql")


events = Table(
    "events",
    metadata,
    Column("position", Integer, primary_key=True, autoincrement=True),
    Column("stream", String(200), nullable=False, index=True),
    Column("version", Integer, nullable=False),
    Column("type", String(100), nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column("payload", json_document(), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("business_time", UTCDateTime(), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Column("idempotency_key", String(300), nullable=False),
    Column("prev_hash", CHAR(64), nullable=False),
    Column("hash", CHAR(64), nullable=False),
    UniqueConstraint("stream", "version", name="uq_events_stream_version"),
    UniqueConstraint("idempotency_key", name="uq_events_idempotency_key"),
)

outbox = Table(
    "outbox",
    metadata,
    Column("key", String(300), primary_key=True),
    Column("directive", String(200), nullable=False, index=True),
    Column("agency", String(200), nullable=False),
    Column("kind", String(50), nullable=False),
    Column("recipient", String(300), nullable=False),
    Column("subject", Text, nullable=False),
    Column("body_text", Text, nullable=False),
    Column("body_html", Text, nullable=False),
    Column("message_id", String(300), nullable=False),
    Column("language", String(5), nullable=False),
    Column("status", String(20), nullable=False, index=True),
    Column("attempts", Integer, nullable=False, default=0, server_default="0"),
    Column("last_error", Text, nullable=True),
    Column("action_keys", json_document(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("sent_at", UTCDateTime(), nullable=True),
)

agency_secrets = Table(
    "agency_secrets",
    metadata,
    Column("agency_id", String(200), primary_key=True),
    Column("secret_ciphertext", Text, nullable=False),
    Column("version", Integer, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("rotated_at", UTCDateTime(), nullable=True),
)

webhook_requests = Table(
    "webhook_requests",
    metadata,
    Column("webhook_id", String(300), primary_key=True),
    Column("agency_id", String(200), nullable=False),
    Column("body_sha256", CHAR(64), nullable=False),
    Column("status_code", Integer, nullable=False),
    Column("response", json_document(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

# The Merkle tree over all events (ledger.merkle), kept by ledger.checkpoint: every perfect
# subtree's root, leaves (level 0) with the event they stand for.
ledger_tree = Table(
    "ledger_tree",
    metadata,
    Column("level", Integer, primary_key=True, autoincrement=False),
    Column("idx", Integer, primary_key=True, autoincrement=False),
    Column("hash", CHAR(64), nullable=False),
    Column("position", Integer, nullable=True),
    Column("stream", String(200), nullable=True),
    Column("version", Integer, nullable=True),
)

# Each stream's version and head hash as of the newest checkpoint.
checkpoint_heads = Table(
    "checkpoint_heads",
    metadata,
    Column("stream", String(200), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("hash", CHAR(64), nullable=False),
    Column("position", Integer, nullable=False),
)

# The signed checkpoints (and restore records), as published to the witnesses.
checkpoints = Table(
    "checkpoints",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("kind", String(20), nullable=False),
    Column("position", Integer, nullable=False),
    Column("size", Integer, nullable=False),
    Column("root", CHAR(64), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("envelope", Text, nullable=False),
)

# --- the read side: caches of what replay says, written in the command's transaction ---------

definitions = Table(
    "definitions",
    metadata,
    Column("sha256", CHAR(64), primary_key=True),  # of the resolved definition's canonical JSON
    Column("resolved", json_document(), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

snapshots = Table(
    "snapshots",
    metadata,
    Column("stream", String(200), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("format", String(40), nullable=False),
    Column("head_hash", CHAR(64), nullable=False),  # of the event at `version`
    Column("definition_sha256", CHAR(64), nullable=True),
    Column("state", json_document(), nullable=False),
    Column("written_at", UTCDateTime(), nullable=False),
)

projection_inbox = Table(
    "projection_inbox",
    metadata,
    Column("owner", String(200), primary_key=True),  # whose inbox
    Column("directive", String(200), primary_key=True, index=True),
    Column("seq", Integer, primary_key=True),  # its place among the owner's entries
    Column("kind", String(30), nullable=False),
    Column("agency", String(200), nullable=False),
    Column("cycle", String(50), nullable=True),
    Column("due", Date, nullable=True),
    Column("detail", Text, nullable=False),
    Column("open_report", Boolean, nullable=False),
)

projection_directives = Table(
    "projection_directives",
    metadata,
    Column("directive", String(200), primary_key=True),
    Column("status", String(20), nullable=False),
    Column("current_cycle", String(50), nullable=True),
    Column("version", Integer, nullable=False),
    Column("works", Integer, nullable=False),  # in the current cycle
    Column("completed", Integer, nullable=False),  # reports standing in it
    Column("withdrawn", Integer, nullable=False),
    Column("last_event_at", UTCDateTime(), nullable=True),
    # what the faces show of the directive as a whole (0004)
    Column("reference", String(200), nullable=True),  # `5185/UBND-KGVX`
    Column("definition_sha256", CHAR(64), nullable=True),  # the definition in force
    Column("cycles", json_document(), nullable=True),  # {cycle: status}, in opening order
    Column("failed_notifications", json_document(), nullable=True),
    Column("pending", json_document(), nullable=True),  # the planner's pending actions
    Column("calendar", String(16), nullable=True),  # the fingerprint of the calendar planned on
)

# One row per (directive, cycle, agency): one agency's reporting duty in one cycle (0004).
# `standing` is what does not depend on the moment asked: "open" (in progress or overdue,
# decided against `deadline` when read), "completed_on_time", "completed_late", "withdrawn",
# "transferred". New columns (the explanations to come) are added nullable.
projection_works = Table(
    "projection_works",
    metadata,
    Column("directive", String(200), primary_key=True),
    Column("cycle", String(50), primary_key=True),
    Column("agency", String(200), primary_key=True, index=True),
    Column("position", Integer, nullable=True),  # among the definition's agencies; None: not tracked
    Column("name", Text, nullable=True),
    Column("role", String(30), nullable=True),
    Column("work_status", String(20), nullable=False),
    Column("standing", String(30), nullable=False),
    Column("due", Date, nullable=False),  # the cycle's due date
    Column("effective_due", Date, nullable=False),  # after extensions and moved deadlines
    Column("deadline", UTCDateTime(), nullable=False),  # the end of the effective due day
    Column("extension", String(20), nullable=True),  # the last request's decision
    Column("extended_due", Date, nullable=True),  # the due date the last grant set
    Column("acknowledged_at", UTCDateTime(), nullable=True),
    Column("reported_at", UTCDateTime(), nullable=True),
    Column("accepted_at", UTCDateTime(), nullable=True),
    Column("completed_at", UTCDateTime(), nullable=True),  # of the report that stands
    Column("escalation_level", Integer, nullable=False),
    Column("reminders", Integer, nullable=False),
    Column("items_done", Integer, nullable=False),
    Column("items_assigned", Integer, nullable=False),
    Column("transferred_to", json_document(), nullable=False),  # successors it passed to
    Column("predecessors", json_document(), nullable=False),  # agencies it took over from
    Column("last_event", String(100), nullable=True),
    Column("last_event_at", UTCDateTime(), nullable=True),
    Column("last_event_version", Integer, nullable=True),
    Index("ix_projection_works_standing_deadline", "standing", "deadline"),
)

# Files attached to reports, content-addressed: the events name them by SHA-256 (with the name
# and type each report gave), the bytes are here once, shared by every webhook process.
attachments = Table(
    "attachments",
    metadata,
    Column("sha256", CHAR(64), primary_key=True),
    Column("media_type", String(100), nullable=False),
    Column("size", Integer, nullable=False),
    Column("content", LargeBinary, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)
