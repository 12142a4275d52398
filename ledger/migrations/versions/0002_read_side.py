"""The read side: stored definitions, snapshots and the projections the faces read.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

Caches only: each can be dropped and rebuilt from the events (`chidao projections rebuild`;
a missing or old snapshot is rebuilt on read).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(JSONB(), "postgresql")


def _ts() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "definitions",
        sa.Column("sha256", sa.CHAR(64), primary_key=True),
        sa.Column("resolved", _json(), nullable=False),
        sa.Column("created_at", _ts(), nullable=False),
    )
    op.create_table(
        "snapshots",
        sa.Column("stream", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("format", sa.String(40), nullable=False),
        sa.Column("head_hash", sa.CHAR(64), nullable=False),
        sa.Column("definition_sha256", sa.CHAR(64), nullable=True),
        sa.Column("state", _json(), nullable=False),
        sa.Column("written_at", _ts(), nullable=False),
    )
    op.create_table(
        "projection_works",
        sa.Column("directive", sa.String(200), primary_key=True),
        sa.Column("cycle", sa.String(50), primary_key=True),
        sa.Column("agency", sa.String(200), primary_key=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("work_status", sa.String(20), nullable=False),
        sa.Column("settled", sa.String(20), nullable=False),
        sa.Column("due_stated", sa.Date(), nullable=False),
        sa.Column("due", sa.Date(), nullable=False),
        sa.Column("completed_at", _ts(), nullable=True),
        sa.Column("acknowledged_at", _ts(), nullable=True),
        sa.Column("reported_at", _ts(), nullable=True),
        sa.Column("accepted_at", _ts(), nullable=True),
        sa.Column("escalation_level", sa.Integer(), nullable=False),
        sa.Column("extension", sa.String(20), nullable=True),
        sa.Column("items_done", sa.Integer(), nullable=False),
        sa.Column("items_assigned", sa.Integer(), nullable=False),
        sa.Column("last_event", sa.String(100), nullable=True),
        sa.Column("last_event_at", _ts(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
    )
    op.create_index("ix_projection_works_agency", "projection_works", ["agency"])
    op.create_table(
        "projection_directives",
        sa.Column("directive", sa.String(200), primary_key=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("current_cycle", sa.String(50), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("works", sa.Integer(), nullable=False),
        sa.Column("completed", sa.Integer(), nullable=False),
        sa.Column("withdrawn", sa.Integer(), nullable=False),
        sa.Column("last_event_at", _ts(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("projection_directives")
    op.drop_index("ix_projection_works_agency", table_name="projection_works")
    op.drop_table("projection_works")
    op.drop_table("snapshots")
    op.drop_table("definitions")
