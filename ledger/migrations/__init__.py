"""Alembic migrations of the ledger schema, run programmatically (no alembic.ini) by `runner`."""

# The newest revision, so a ledger already there is recognised without importing alembic (about
# 0.2 s of every command); tests/ledger/test_migration_head.py keeps it equal to alembic's head.
HEAD = "0006"
