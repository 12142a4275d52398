"""Directives over the event store: load a directive's state, run a command against it.

Every face (flow, webhook, CLI, auditors) goes through here, so they all read the same
thing: `replay` of the stored events. A command is decided against the state as stored and
appended with the version it was decided on; when another writer got there first, it is
decided again on the new state, so no update is ever lost.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from ledger.errors import ConcurrencyConflict, IdempotencyConflict, LedgerError
from ledger.store import EventStore, NewEvent, StoredEvent
from ledger.upcast import Upcasters
from lifecycle import AnyCommand, DirectiveState, Event, apply, decide, parse_event
from lifecycle.events import SCHEMA_VERSION

DEFAULT_RETRIES = 5
# Where an answer keeps the signed request it came from (`ledger.answers`); not a field of
# the lifecycle's event, so it is set aside before the event is parsed.
SIGNED_REQUEST = "signed_request"
# Streams of the ledger that are not directives.
NON_DIRECTIVE_STREAMS = frozenset({"agency-keys"})


class DirectiveNotFound(LedgerError):
    def __init__(self, directive_id: str) -> None:
        super().__init__(f"no directive {directive_id} in the ledger")
        self.directive_id = directive_id


@dataclass(frozen=True)
class Outcome:
    """What a command did: the events recorded for it, and the state after them."""

    events: list[StoredEvent]
    state: DirectiveState
    repeated: bool  # the key was already recorded: nothing new was written


def lifecycle_upcasters() -> Upcasters:
    """Upgrades of old event payloads on read; none yet, every event is at version 1."""
    return Upcasters()


def to_event(stored: StoredEvent) -> Event:
    payload = stored.payload
    if SIGNED_REQUEST in payload:
        payload = {k: v for k, v in payload.items() if k != SIGNED_REQUEST}
    return parse_event(stored.type, payload, stored.business_time, stored.actor)


def replay_stored(events: list[StoredEvent]) -> DirectiveState:
    """The state stored events lead to, from nothing."""
    state = DirectiveState()
    for stored in events:
        apply(state, to_event(stored))
    return state


def to_new_events(
    events: list[Event], key: str, proof: dict[str, Any] | None = None
) -> list[NewEvent]:
    """The events to store under `key`; the first carries the signed request `proof`, if any."""
    return [
        NewEvent(
            type=event.type,
            payload=(
                {**event.payload(), SIGNED_REQUEST: proof}
                if proof is not None and index == 0
                else event.payload()
            ),
            business_time=event.at,
            actor=event.actor,
            idempotency_key=key if index == 0 else f"{key}#{index}",
            schema_version=SCHEMA_VERSION,
        )
        for index, event in enumerate(events)
    ]


class Directives:
    """The directives of one ledger."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    @classmethod
    def over(cls, engine: Engine) -> Directives:
        """The directives of a ledger database, old event payloads upgraded as they are read."""
        return cls(EventStore(engine, upcasters=lifecycle_upcasters()))

    def exists(self, directive_id: str) -> bool:
        return self.store.version(directive_id) > 0

    def ids(self) -> list[str]:
        return [s for s in self.store.streams() if s not in NON_DIRECTIVE_STREAMS]

    def events(self, directive_id: str, *, as_of: dt.datetime | None = None) -> list[StoredEvent]:
        if directive_id in NON_DIRECTIVE_STREAMS:
            raise DirectiveNotFound(directive_id)
        return self.store.read(directive_id, business_time_until=as_of)

    def state(self, directive_id: str, *, as_of: dt.datetime | None = None) -> DirectiveState:
        """The directive as its events (up to business time `as_of`) make it."""
        return self.load(directive_id, as_of=as_of)[1]

    def load(
        self, directive_id: str, *, as_of: dt.datetime | None = None
    ) -> tuple[list[StoredEvent], DirectiveState]:
        """The directive's events and the state they make, from one read of the stream."""
        events = self.events(directive_id, as_of=as_of)
        state = replay_stored(events)
        if state.status == "new" and as_of is None:
            raise DirectiveNotFound(directive_id)
        return events, state

    def execute(
        self,
        directive_id: str,
        command: AnyCommand,
        at: dt.datetime,
        *,
        key: str,
        retries: int = DEFAULT_RETRIES,
        proof: dict[str, Any] | None = None,
    ) -> Outcome:
        """Decide `command` on the stored state and record its events under `key`.

        A key already recorded returns what was recorded and writes nothing; a lifecycle
        refusal propagates unchanged, with nothing written.
        """
        if directive_id in NON_DIRECTIVE_STREAMS:
            raise DirectiveNotFound(directive_id)
        for attempt in range(retries + 1):
            recorded = self.store.find(key)
            if recorded is not None:
                if recorded.stream != directive_id:
                    raise IdempotencyConflict(
                        key, f"it was recorded on directive {recorded.stream}"
                    )
                stored = self.store.read(directive_id)
                batch = [
                    e
                    for e in stored
                    if e.idempotency_key == key or e.idempotency_key.startswith(f"{key}#")
                ]
                return Outcome(batch, replay_stored(stored), True)
            state = replay_stored(self.store.read(directive_id))
            events = decide(state, command, at)
            if not events:
                return Outcome([], state, False)
            try:
                stored = self.store.append(directive_id, state.version, to_new_events(events, key, proof))
            except ConcurrencyConflict:
                if attempt == retries:
                    raise
                continue
            for event in events:
                apply(state, event)
            return Outcome(stored, state, False)
        raise AssertionError("unreachable")
