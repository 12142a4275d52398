"""Alembic migrations of the ledger schema, run programmatically (no alembic.ini) by `runner`."""
