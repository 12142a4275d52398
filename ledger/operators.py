"""Who the operators are: added and removed as events of the ledger's `operators` stream.

An operator is a person of the provincial office who reads the dashboard and the statistics
and acts through them: an `issuer` (the issuing office), an `overseer` (who follows the
directives for the leadership) or a `consolidator` (the department that consolidates). Each
addition (`OperatorAdded`: id, name, role) and each removal (`OperatorRemoved`: reason) is a
hash-chained ledger event, as agencies' keys are (`ledger.agency_keys`), so who could act at
any moment is itself on the record. Whatever an operator does through a page or the API is
recorded under their actor, `operator:<id>`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal, get_args

from ledger.errors import LedgerError
from ledger.store import EventStore, NewEvent

STREAM = "operators"
ADDED = "OperatorAdded"
REMOVED = "OperatorRemoved"
Role = Literal["issuer", "overseer", "consolidator"]
ROLES: tuple[str, ...] = get_args(Role)
# the same as lifecycle.commands.OPERATOR_ID: the id is the actor's `operator:<id>`
OPERATOR_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,99}$")


class OperatorError(LedgerError):
    """An operator cannot be added or removed as asked."""


@dataclass(frozen=True)
class Operator:
    id: str
    name: str
    role: Role
    added_at: dt.datetime
    added_by: str
    removed_at: dt.datetime | None = None

    @property
    def actor(self) -> str:
        return f"operator:{self.id}"

    @property
    def active(self) -> bool:
        return self.removed_at is None

    def active_at(self, moment: dt.datetime) -> bool:
        return self.added_at <= moment and (self.removed_at is None or moment < self.removed_at)


class Operators:
    """The operators of one ledger, folded from the `operators` stream on each read."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    def all(self) -> dict[str, Operator]:
        """Every operator ever added, by id, as they stand now (removed ones included)."""
        found: dict[str, Operator] = {}
        for event in self.store.read(STREAM):
            p = event.payload
            if event.type == ADDED:
                found[p["id"]] = Operator(
                    id=p["id"], name=p["name"], role=p["role"], added_at=event.business_time,
                    added_by=event.actor,
                )  # fmt: skip
            elif event.type == REMOVED and p["id"] in found:
                old = found[p["id"]]
                found[p["id"]] = Operator(**{**old.__dict__, "removed_at": event.business_time})
        return found

    def get(self, operator_id: str) -> Operator | None:
        """The operator with this id if they are active (added and not removed)."""
        found = self.all().get(operator_id)
        return found if found is not None and found.active else None

    def add(self, operator_id: str, *, name: str, role: str, at: dt.datetime, actor: str) -> Operator:
        if not OPERATOR_ID.match(operator_id):
            raise OperatorError(
                f"operator id {operator_id!r} must be 1-100 letters, digits, '.', '_', '@' or '-'"
            )
        if role not in ROLES:
            raise OperatorError(f"role {role!r} is not one of {', '.join(ROLES)}")
        name = " ".join(name.split())
        if not name or len(name) > 200:
            raise OperatorError("the operator's name must be 1-200 characters")
        if self.get(operator_id) is not None:
            raise OperatorError(f"operator {operator_id} is already there")
        version = self.store.version(STREAM)
        self.store.append(
            STREAM,
            version,
            [
                NewEvent(
                    type=ADDED,
                    payload={"id": operator_id, "name": name, "role": role},
                    business_time=at,
                    actor=actor,
                    idempotency_key=f"operator:{operator_id}:added:{version + 1}",
                )
            ],
        )
        added = self.get(operator_id)
        assert added is not None
        return added

    def remove(self, operator_id: str, *, reason: str, at: dt.datetime, actor: str) -> Operator:
        found = self.get(operator_id)
        if found is None:
            raise OperatorError(f"no operator {operator_id}")
        if not reason.strip():
            raise OperatorError("say why the operator is removed (--reason)")
        version = self.store.version(STREAM)
        self.store.append(
            STREAM,
            version,
            [
                NewEvent(
                    type=REMOVED,
                    payload={"id": operator_id, "reason": reason.strip()},
                    business_time=at,
                    actor=actor,
                    idempotency_key=f"operator:{operator_id}:removed:{version + 1}",
                )
            ],
        )
        return self.all()[operator_id]
