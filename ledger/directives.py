"""Directives over the event store: load a directive's state, run a command against it.

Every face (flow, webhook, CLI, auditors) goes through here, so they all read the same
thing: `replay` of the stored events. A command is read, decided and appended in one write
transaction (`ledger.transaction`), which also holds what its writers write (an action's
outbox rows, snapshots, projections); when another writer got there first (PostgreSQL), it
is decided again on the new state inside the same transaction, so no update is ever lost.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.engine import Connection

from definitions.content_hash import document_sha256
from definitions.resolve import ResolvedDirective
from ledger.definitions_store import (
    DefinitionLookup,
    DefinitionMissing,
    cached_definition,
    inline_definition,
    load_definition,
    lookup_on,
    store_definition,
)
from ledger.errors import ConcurrencyConflict, IdempotencyConflict, LedgerError
from ledger.store import EventStore, NewEvent, ReplayRow, StoredEvent
from ledger.tables import NON_DIRECTIVE_STREAMS
from ledger.transaction import Faults, Writer, Written, reach
from ledger.upcast import Upcasters
from lifecycle import AnyCommand, DirectiveState, Event, apply, decide, parse_event
from lifecycle.events import DEFINING_EVENTS, event_version
from lifecycle.state import copy_state

DEFAULT_RETRIES = 5
# Where an answer keeps the signed request it came from (`ledger.answers`); not a field of
# the lifecycle's event, so it is set aside before the event is parsed.
SIGNED_REQUEST = "signed_request"
DEFAULT_SNAPSHOT_EVERY = 10


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


def _resolved_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """Version 1 embedded the resolved definition before agencies had dates: as of no date,
    every tracked agency and the issuer valid throughout (what the new fields default to)."""
    resolved = dict(payload["resolved"])
    resolved["format_version"] = 2
    resolved.setdefault("as_of", None)
    resolved["tracked"] = [
        {**agency, "valid_from": None, "valid_until": None} for agency in resolved["tracked"]
    ]
    return {**payload, "resolved": resolved}


def _amended_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """Version 1 amendments named no author; version 2 does (empty: not known)."""
    return {"author": "", **_resolved_v1_to_v2(payload)}


def _closed_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """Version 1 closings named no successor directive."""
    return {"superseded_by": None, **payload}


def _named_v2_to_v3(payload: dict[str, Any]) -> dict[str, Any]:
    """Version 3 names the definition by its SHA-256 instead of embedding it; an older event
    keeps its embedded definition inline (`resolved`), named by the hash of that document."""
    return {**payload, "definition_sha256": document_sha256(payload["resolved"])}


def _no_attachments_v1_to_v2(payload: dict[str, Any]) -> dict[str, Any]:
    """Version 1 reports stored no files: their list of attachments is empty."""
    return {"attachments": [], **payload}


def lifecycle_upcasters() -> Upcasters:
    """Upgrades of old event payloads on read, one step per version."""
    upcasters = Upcasters()
    upcasters.register("DirectiveIssued", 1, _resolved_v1_to_v2)
    upcasters.register("DefinitionAmended", 1, _amended_v1_to_v2)
    upcasters.register("DirectiveIssued", 2, _named_v2_to_v3)
    upcasters.register("DefinitionAmended", 2, _named_v2_to_v3)
    upcasters.register("DirectiveClosed", 1, _closed_v1_to_v2)
    upcasters.register("ReportSubmitted", 1, _no_attachments_v1_to_v2)
    upcasters.register("ConsolidatedReportSubmitted", 1, _no_attachments_v1_to_v2)
    return upcasters


def _with_definition(
    stored: StoredEvent, payload: dict[str, Any], definitions: DefinitionLookup | None
) -> dict[str, Any]:
    """The payload of an issuance or amendment with the definition it names beside it: the
    one embedded (before version 3), else the stored one (by `definitions`, or this process's
    cache); DefinitionMissing when it is not stored."""
    return _named(payload, definitions, stored.stream, stored.version)


def _named(
    payload: dict[str, Any], definitions: DefinitionLookup | None, stream: str, version: int
) -> dict[str, Any]:
    """`_with_definition` for the event at `version` of `stream`."""
    sha = payload["definition_sha256"]
    if "resolved" in payload:
        rest = {k: v for k, v in payload.items() if k != "resolved"}
        return {**rest, "definition": inline_definition(sha, payload["resolved"])}
    found = definitions(sha) if definitions is not None else cached_definition(sha)
    if found is None:
        raise DefinitionMissing(sha, f"named by version {version} of {stream}")
    return {**payload, "definition": found}


def to_event(stored: StoredEvent, definitions: DefinitionLookup | None = None) -> Event:
    """The lifecycle event a stored one stands for; an issuance or amendment gets the
    definition it names from `definitions` (default: the definitions this process has read)."""
    payload = stored.payload
    if SIGNED_REQUEST in payload:
        payload = {k: v for k, v in payload.items() if k != SIGNED_REQUEST}
    if stored.type in DEFINING_EVENTS:
        payload = _with_definition(stored, payload, definitions)
    return parse_event(stored.type, payload, stored.business_time, stored.actor)


def replay_stored(
    events: list[StoredEvent], definitions: DefinitionLookup | None = None
) -> DirectiveState:
    """The state stored events lead to, from nothing (definitions as `to_event` finds them)."""
    state = DirectiveState()
    for stored in events:
        apply(state, to_event(stored, definitions))
    return state


def replay_rows(
    rows: list[ReplayRow],
    state: DirectiveState | None = None,
    definitions: DefinitionLookup | None = None,
    stream: str = "",
) -> DirectiveState:
    """The state `rows` (`EventStore.read_replay` of `stream`) lead to, from `state` or from
    nothing; definitions as `to_event` finds them.

    The rows' payloads are fresh dicts of their own, so the signed request an answer keeps is
    dropped in place rather than copied around."""
    state = DirectiveState() if state is None else state
    for version, type_, payload, at, actor, _hash in rows:
        if SIGNED_REQUEST in payload:
            del payload[SIGNED_REQUEST]
        if type_ in DEFINING_EVENTS:
            payload = _named(payload, definitions, stream, version)
        apply(state, parse_event(type_, payload, at, actor))
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
            schema_version=event_version(event.type),
        )
        for index, event in enumerate(events)
    ]


class Directives:
    """The directives of one ledger.

    Writers registered here (`add_writer`) run inside the transaction of every command that
    records events, after its events are appended (see `ledger.transaction`).
    """

    def __init__(self, store: EventStore, writers: Sequence[Writer] = ()) -> None:
        self.store = store
        self._writers: list[Writer] = list(writers)
        self.snapshots = False  # read states from snapshot + tail (set by `over`)

    @classmethod
    def over(cls, engine: Engine, *, snapshot_every: int = DEFAULT_SNAPSHOT_EVERY) -> Directives:
        """The directives of a ledger database, old event payloads upgraded as they are read,
        with a snapshot of each directive's state kept every `snapshot_every` versions and
        the projections kept, both in each command's transaction."""
        from ledger.projections import projection_writer
        from ledger.snapshots import snapshot_writer

        directives = cls(EventStore(engine, upcasters=lifecycle_upcasters()))
        directives.snapshots = True
        directives.add_writer(snapshot_writer(snapshot_every))
        directives.add_writer(projection_writer())
        return directives

    def add_writer(self, writer: Writer) -> None:
        """Run `writer` in the transaction of every command that records events."""
        self._writers.append(writer)

    def transaction(self) -> AbstractContextManager[Connection]:
        """A write transaction on the ledger database, for a caller that writes more than
        one command's events in it (the webhook: its request row and the command)."""
        return self.store.transaction()

    def exists(self, directive_id: str) -> bool:
        if directive_id in NON_DIRECTIVE_STREAMS:
            return False
        return self.store.version(directive_id) > 0

    def ids(self) -> list[str]:
        return [s for s in self.store.streams() if s not in NON_DIRECTIVE_STREAMS]

    def events(self, directive_id: str, *, as_of: dt.datetime | None = None) -> list[StoredEvent]:
        """The stream's events; with `as_of`, the prefix recorded up to business time `as_of`.

        A prefix in record (version) order, cut at the first event dated after `as_of`: what
        was known then. Business times never go back in a stream written by this code, so this
        is every event up to `as_of`; in an older stream whose times went back, a later event
        dated earlier stays out with what came before it, and every prefix replays.
        """
        if directive_id in NON_DIRECTIVE_STREAMS:
            raise DirectiveNotFound(directive_id)
        events = self.store.read(directive_id)
        self.definitions_of(events)  # at hand in this process for `replay_stored`
        if as_of is None:
            return events
        if as_of.tzinfo is None or as_of.utcoffset() is None:
            raise ValueError(f"as_of must be a timezone-aware datetime, got {as_of!r}")
        for index, event in enumerate(events):
            if event.business_time > as_of:
                return events[:index]
        return events

    def definitions_of(
        self, events: list[StoredEvent], conn: Connection | None = None
    ) -> DefinitionLookup:
        """The definitions `events` name by hash, read from the table (on `conn`, or a
        connection of its own) and cached: a lookup for `replay_stored`; DefinitionMissing
        when one is not stored, DefinitionCorrupted when one was edited."""
        wanted = [
            e
            for e in events
            if e.type in DEFINING_EVENTS and "resolved" not in e.payload
        ]
        found: dict[str, ResolvedDirective] = {}
        for event in wanted:  # those this process has read already need no connection
            sha = event.payload["definition_sha256"]
            cached = cached_definition(sha)
            if cached is not None:
                found[sha] = cached
        wanted = [e for e in wanted if e.payload["definition_sha256"] not in found]
        if not wanted:
            return found.get
        if conn is None:
            with self.store.engine.connect() as own:
                return self.definitions_of(events, own)
        for event in wanted:
            sha = event.payload["definition_sha256"]
            if sha not in found:
                definition = load_definition(conn, sha)
                if definition is None:
                    raise DefinitionMissing(
                        sha, f"named by version {event.version} of {event.stream}"
                    )
                found[sha] = definition
        return found.get

    def state(self, directive_id: str, *, as_of: dt.datetime | None = None) -> DirectiveState:
        """The directive as its events (the prefix up to business time `as_of`) make it.

        The current state is read as its snapshot plus the events after it, in one read
        transaction; `as_of` replays from nothing.
        """
        if as_of is not None or not self.snapshots:
            return self.load(directive_id, as_of=as_of)[1]
        with self.store.engine.connect() as conn, conn.begin():
            state = self.current(conn, directive_id)
        if state.status == "new":
            raise DirectiveNotFound(directive_id)
        return state

    def recent(
        self, directive_id: str, *, after_version: int | None = None, window: int = 0
    ) -> tuple[list[StoredEvent], DirectiveState]:
        """The directive's current state (snapshot + tail, as `state`) and its events after
        `after_version` — by default its last `window` events — from one read transaction:
        what a flow run publishes, without replaying the whole stream."""
        with self.store.engine.connect() as conn, conn.begin():
            state = self.current(conn, directive_id)
            if state.status == "new":
                raise DirectiveNotFound(directive_id)
            since = state.version - window if after_version is None else after_version
            events = self.store.read(directive_id, after_version=max(0, since), conn=conn)
        return events, state

    def current(self, conn: Connection, directive_id: str) -> DirectiveState:
        """The directive's current state read on `conn`: its snapshot (when there is a usable
        one) and the events after it; a fresh state when it has no events."""
        from ledger.snapshots import read_snapshot

        snapshot = read_snapshot(conn, directive_id) if self.snapshots else None
        definitions = lookup_on(conn)
        if snapshot is None:
            return self.replay(directive_id, conn=conn)
        # from the snapshot's own event on: it must still be the event the snapshot followed
        tail = self.store.read_replay(directive_id, after_version=snapshot.version - 1, conn=conn)
        if not tail or tail[0][5] != snapshot.head_hash:
            return self.replay(directive_id, conn=conn)
        return replay_rows(tail[1:], snapshot.state, definitions, directive_id)

    def replay(self, directive_id: str, *, conn: Connection | None = None) -> DirectiveState:
        """The directive's state replayed from nothing (no snapshot), from the lean read of its
        stream (`EventStore.read_replay`); a fresh state when it has no events."""
        if directive_id in NON_DIRECTIVE_STREAMS:
            raise DirectiveNotFound(directive_id)
        if conn is None:
            with self.store.engine.connect() as own:
                return self.replay(directive_id, conn=own)
        rows = self.store.read_replay(directive_id, conn=conn)
        return replay_rows(rows, None, lookup_on(conn), directive_id)

    def load(
        self, directive_id: str, *, as_of: dt.datetime | None = None
    ) -> tuple[list[StoredEvent], DirectiveState]:
        """The directive's events and the state they make, from one read of the stream."""
        events = self.events(directive_id, as_of=as_of)
        state = replay_stored(events, self.definitions_of(events))
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
        writers: Sequence[Writer] = (),
        conn: Connection | None = None,
        faults: Faults = None,
        live: bool = False,
        proof: dict[str, Any] | None = None,
    ) -> Outcome:
        """Decide `command` on the stored state and record its events under `key`, in one
        write transaction with everything the writers write.

        A key already recorded returns what was recorded and writes nothing; a lifecycle
        refusal propagates unchanged, with nothing written (a command dated before the
        stream's last event is refused: `OutOfOrder`). With `live`, `at` is a reading of a
        running clock (the webhook's, a flow run's "now"): if the stream already holds a later
        event — another process read its clock later and committed first — the command is
        recorded at that event's time instead of refused. With `conn`, everything happens
        inside the caller's transaction (committed by the caller); otherwise in a
        transaction of its own, committed before this returns.
        """
        if directive_id in NON_DIRECTIVE_STREAMS:
            raise DirectiveNotFound(directive_id)
        if conn is not None:
            return self._execute_on(
                conn, directive_id, command, at, key, retries, writers, faults, live, proof
            )
        with self.store.transaction() as tx:
            outcome = self._execute_on(
                tx, directive_id, command, at, key, retries, writers, faults, live, proof
            )
            reach(faults, "execute.before-commit")
        reach(faults, "execute.committed")
        return outcome

    def _execute_on(
        self,
        conn: Connection,
        directive_id: str,
        command: AnyCommand,
        at: dt.datetime,
        key: str,
        retries: int,
        writers: Sequence[Writer],
        faults: Faults,
        live: bool,
        proof: dict[str, Any] | None = None,
    ) -> Outcome:
        for attempt in range(retries + 1):
            recorded = self.store.find(key, conn=conn)
            if recorded is not None:
                return self._repeated(conn, directive_id, key, recorded)
            before = self.current(conn, directive_id)
            when = at
            if live and before.last_event_at is not None and before.last_event_at > at:
                when = before.last_event_at
            events = decide(before, command, when)
            if not events:
                return Outcome([], before, False)
            try:
                stored, fresh = self.store.append_on(
                    conn, directive_id, before.version, to_new_events(events, key, proof)
                )
            except ConcurrencyConflict:
                if attempt == retries:
                    raise
                continue
            if not fresh:  # a racing writer recorded this very key first
                return self._repeated(conn, directive_id, key, stored[0])
            for event in events:  # the definitions the events name, in the same transaction
                definition = getattr(event, "definition", None)
                if definition is not None:
                    store_definition(conn, definition, stored[0].recorded_at)
            reach(faults, "execute.appended")
            every = [*self._writers, *writers]
            after = copy_state(before) if every else before
            definitions = lookup_on(conn)
            for recorded_event in stored:  # as stored (times in UTC), as any later read sees them
                apply(after, to_event(recorded_event, definitions))
            written = Written(directive_id, key, stored, before, after)
            for writer in every:
                writer(conn, written)
            if every:
                reach(faults, "execute.written")
            return Outcome(stored, after, False)
        raise AssertionError("unreachable")

    def _repeated(
        self, conn: Connection, directive_id: str, key: str, recorded: StoredEvent
    ) -> Outcome:
        if recorded.stream != directive_id:
            raise IdempotencyConflict(key, f"it was recorded on directive {recorded.stream}")
        stored = self.store.read(directive_id, conn=conn)
        batch = [
            e for e in stored if e.idempotency_key == key or e.idempotency_key.startswith(f"{key}#")
        ]
        return Outcome(batch, replay_stored(stored, lookup_on(conn)), True)
