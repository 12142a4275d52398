"""Checkpoints: the Merkle tree over all events, stream heads, signed checkpoints.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

On PostgreSQL an event's position is now drawn only after its transaction has an id
(`chidao_next_position()`), so a checkpoint that sees no transaction in progress knows that
no gap below the newest visible position can still fill (see ledger.checkpoint).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "ledger_tree",
        sa.Column("level", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("idx", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.CHAR(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("stream", sa.String(200), nullable=True),
        sa.Column("version", sa.Integer(), nullable=True),
    )
    op.create_table(
        "checkpoint_heads",
        sa.Column("stream", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("hash", sa.CHAR(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
    )
    op.create_table(
        "checkpoints",
        sa.Column("seq", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("root", sa.CHAR(64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("envelope", sa.Text(), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION chidao_next_position() RETURNS bigint LANGUAGE sql VOLATILE AS $$ "
            "SELECT pg_current_xact_id(); SELECT nextval('events_position_seq') $$"
        )
        op.execute("ALTER TABLE events ALTER COLUMN position SET DEFAULT chidao_next_position()")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE events ALTER COLUMN position SET DEFAULT nextval('events_position_seq')"
        )
        op.execute("DROP FUNCTION chidao_next_position()")
    op.drop_table("checkpoints")
    op.drop_table("checkpoint_heads")
    op.drop_table("ledger_tree")
