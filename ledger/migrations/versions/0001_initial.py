"""Initial ledger schema: events, outbox, agency_secrets, webhook_requests.

Revision ID: 0001
Revises:
Create Date: 2025-11-25

Written out column by column rather than derived from `ledger.tables`, so that later edits
to the tables module cannot silently rewrite history; tests check both agree.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(JSONB(), "postgresql")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("position", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("stream", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("payload", _json(), nullable=False),
        sa.Column("actor", sa.String(200), nullable=False),
        sa.Column("business_time", _ts(), nullable=False),
        sa.Column("recorded_at", _ts(), nullable=False),
        sa.Column("idempotency_key", sa.String(300), nullable=False),
        sa.Column("prev_hash", sa.CHAR(64), nullable=False),
        sa.Column("hash", sa.CHAR(64), nullable=False),
        sa.UniqueConstraint("stream", "version", name="uq_events_stream_version"),
        sa.UniqueConstraint("idempotency_key", name="uq_events_idempotency_key"),
    )
    op.create_index("ix_events_stream", "events", ["stream"])

    op.create_table(
        "outbox",
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("directive", sa.String(200), nullable=False),
        sa.Column("agency", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("recipient", sa.String(300), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("body_text", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("message_id", sa.String(300), nullable=False),
        sa.Column("language", sa.String(5), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("action_keys", _json(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("updated_at", _ts(), nullable=False),
        sa.Column("sent_at", _ts(), nullable=True),
    )
    op.create_index("ix_outbox_directive", "outbox", ["directive"])
    op.create_index("ix_outbox_status", "outbox", ["status"])

    op.create_table(
        "agency_secrets",
        sa.Column("agency_id", sa.String(200), primary_key=True),
        sa.Column("secret_ciphertext", sa.Text(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
        sa.Column("rotated_at", _ts(), nullable=True),
    )

    op.create_table(
        "webhook_requests",
        sa.Column("webhook_id", sa.String(300), primary_key=True),
        sa.Column("agency_id", sa.String(200), nullable=False),
        sa.Column("body_sha256", sa.CHAR(64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", _json(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("webhook_requests")
    op.drop_table("agency_secrets")
    op.drop_index("ix_outbox_status", table_name="outbox")
    op.drop_index("ix_outbox_directive", table_name="outbox")
    op.drop_table("outbox")
    op.drop_index("ix_events_stream", table_name="events")
    op.drop_table("events")
