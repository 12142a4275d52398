"""Files attached to reports, stored content-addressed beside the events.

Revision ID: 0006
Revises: 0004
Create Date: 2026-12-01

The events (ReportSubmitted and ConsolidatedReportSubmitted, version 2) name each file by its
SHA-256; the bytes are kept once here, so every webhook process serves the same files.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "attachments",
        sa.Column("sha256", sa.CHAR(64), primary_key=True),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("attachments")
