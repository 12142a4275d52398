"""The ledger: an append-only, hash-chained event store (SQLite or PostgreSQL),
its replay and its verification."""
