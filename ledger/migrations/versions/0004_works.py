"""The works projection, and what the faces read of a directive in its projection row.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

Caches only: the projection rows written before are dropped, so they are rebuilt from the
events (with the new columns) when first read (`ledger.projections.refresh`).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(JSONB(), "postgresql")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.execute("DELETE FROM projection_inbox")
    op.execute("DELETE FROM projection_directives")
    op.add_column("projection_directives", sa.Column("reference", sa.String(200), nullable=True))
    op.add_column(
        "projection_directives", sa.Column("definition_sha256", sa.CHAR(64), nullable=True)
    )
    op.add_column("projection_directives", sa.Column("cycles", _json(), nullable=True))
    op.add_column(
        "projection_directives", sa.Column("failed_notifications", _json(), nullable=True)
    )
    op.add_column("projection_directives", sa.Column("pending", _json(), nullable=True))
    op.add_column("projection_directives", sa.Column("calendar", sa.String(16), nullable=True))
    op.create_table(
        "projection_works",
        sa.Column("directive", sa.String(200), primary_key=True),
        sa.Column("cycle", sa.String(50), primary_key=True),
        sa.Column("agency", sa.String(200), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("role", sa.String(30), nullable=True),
        sa.Column("work_status", sa.String(20), nullable=False),
        sa.Column("standing", sa.String(30), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("effective_due", sa.Date(), nullable=False),
        sa.Column("deadline", _ts(), nullable=False),
        sa.Column("extension", sa.String(20), nullable=True),
        sa.Column("extended_due", sa.Date(), nullable=True),
        sa.Column("acknowledged_at", _ts(), nullable=True),
        sa.Column("reported_at", _ts(), nullable=True),
        sa.Column("accepted_at", _ts(), nullable=True),
        sa.Column("completed_at", _ts(), nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("reminders", sa.Integer(), nullable=False),
        sa.Column("items_done", sa.Integer(), nullable=False),
        sa.Column("items_assigned", sa.Integer(), nullable=False),
        sa.Column("transferred_to", _json(), nullable=False),
        sa.Column("predecessors", _json(), nullable=False),
        sa.Column("last_event", sa.String(100), nullable=True),
        sa.Column("last_event_at", _ts(), nullable=True),
        sa.Column("last_event_version", sa.Integer(), nullable=True),
    )
    op.create_index("ix_projection_works_agency", "projection_works", ["agency"])
    op.create_index(
        "ix_projection_works_standing_deadline", "projection_works", ["standing", "deadline"]
    )


def downgrade() -> None:
    op.drop_index("ix_projection_works_standing_deadline", table_name="projection_works")
    op.drop_index("ix_projection_works_agency", table_name="projection_works")
    op.drop_table("projection_works")
    op.execute("DELETE FROM projection_inbox")
    op.execute("DELETE FROM projection_directives")
    for column in (
        "calendar", "pending", "failed_notifications", "cycles", "definition_sha256", "reference"
    ):
        with op.batch_alter_table("projection_directives") as batch:
            batch.drop_column(column)
