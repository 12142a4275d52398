"""The read side: stored definitions, snapshots and the projections the faces read.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Caches only: each can be dropped and rebuilt from the events (`chidao projections rebuild`;
a missing or old snapshot is rebuilt on read).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision: str | None = "0002"
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
        "projection_inbox",
        sa.Column("owner", sa.String(200), primary_key=True),
        sa.Column("directive", sa.String(200), primary_key=True),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(30), nullable=False),
        sa.Column("agency", sa.String(200), nullable=False),
        sa.Column("cycle", sa.String(50), nullable=True),
        sa.Column("due", sa.Date(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("open_report", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_projection_inbox_directive", "projection_inbox", ["directive"])
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
    op.drop_index("ix_projection_inbox_directive", table_name="projection_inbox")
    op.drop_table("projection_inbox")
    op.drop_table("snapshots")
    op.drop_table("definitions")
