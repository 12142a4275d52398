"""Upcasters: turn payloads stored under an old schema version into the current shape on read.

The ledger never rewrites a stored event; when the shape of an event type changes, register
a function from version N to N+1 and every read sees the new shape. Hashes always cover the
payload as stored, so upcasting cannot disturb verification.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ledger.errors import LedgerError

Payload = dict[str, Any]
UpcastFn = Callable[[Payload], Payload]


class Upcasters:
    """A registry of one-step payload migrations, keyed by (event type, from_version)."""

    def __init__(self) -> None:
        self._steps: dict[tuple[str, int], UpcastFn] = {}
        self._current: dict[str, int] = {}

    def register(self, type: str, from_version: int, fn: UpcastFn) -> None:
        """Register `fn`, which turns a `type` payload at `from_version` into `from_version + 1`."""
        if from_version < 1:
            raise ValueError(f"schema versions start at 1, got {from_version} for {type}")
        if (type, from_version) in self._steps:
            raise ValueError(f"an upcaster for {type} v{from_version} is already registered")
        self._steps[(type, from_version)] = fn
        self._current[type] = max(self._current.get(type, 1), from_version + 1)

    def current_version(self, type: str) -> int:
        """The newest schema version of `type`: 1 unless upcasters lead further."""
        return self._current.get(type, 1)

    def upcast(self, type: str, version: int, payload: Payload) -> tuple[int, Payload]:
        """Apply the registered steps until `type` reaches its current version."""
        target = self.current_version(type)
        while version < target:
            step = self._steps.get((type, version))
            if step is None:
                raise LedgerError(
                    f"no upcaster registered for {type} from schema version {version} "
                    f"(current version is {target})"
                )
            payload = step(payload)
            version += 1
        return version, payload
