"""The exceptions the ledger raises, all under one base class so callers can catch the layer."""

from __future__ import annotations


class LedgerError(Exception):
    """Base class of every error raised on purpose by the ledger package."""


class ConcurrencyConflict(LedgerError):
    """The stream moved on since the caller read it: reload, re-decide, retry."""

    def __init__(self, stream: str, expected_version: int, actual_version: int) -> None:
        self.stream = stream
        self.expected_version = expected_version
        self.actual_version = actual_version
        super().__init__(
            f"stream {stream!r} is at version {actual_version}, "
            f"but the append expected version {expected_version}"
        )


class IdempotencyConflict(LedgerError):
    """An idempotency key is already recorded for a different event or batch."""

    def __init__(self, key: str, detail: str) -> None:
        self.key = key
        super().__init__(f"idempotency key {key!r}: {detail}")


class LedgerUnavailable(LedgerError):
    """The database cannot be reached or the URL is unusable."""
