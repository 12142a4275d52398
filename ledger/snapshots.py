"""Snapshots: a directive's state at a version, stored so a read replays only the events after it.

The state is written in a versioned JSON serialisation (`FORMAT`, with a fingerprint of the
state's dataclass layout, so a changed layout reads as an older format), its definition by
hash (`ledger.definitions_store`). The snapshot writer runs inside each command's write
transaction (`Directives.add_writer`) and stores the state every `every` versions. A
snapshot is a cache, never trusted over the events: one of an older format, naming a
definition not stored, or failing to decode is ignored (the state is replayed from the events
and the next write replaces it), and `chidao verify` compares each with a replay.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, delete, select
from sqlalchemy.engine import Connection

from ledger.definitions_store import load_definition, lookup_on, store_definition
from ledger.errors import LedgerError
from ledger.tables import snapshots
from ledger.transaction import Written
from lifecycle import events as ev
from lifecycle import state as st
from lifecycle.state import DirectiveState

FORMAT_VERSION = 1
DEFAULT_EVERY = 10

Codec = tuple[Callable[[Any], Any], Callable[[Any], Any]]


def _identity(value: Any) -> Any:
    return value


def _codec(hint: Any) -> Codec:
    """Encoder and decoder of a value of type `hint` to and from plain JSON."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is dt.datetime:
        return (
            lambda v: v.astimezone(dt.UTC).isoformat(),
            dt.datetime.fromisoformat,
        )
    if hint is dt.date:
        return (lambda v: v.isoformat(), dt.date.fromisoformat)
    if hint in (str, int, bool, float) or origin is typing.Literal:
        return (_identity, _identity)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in args if a is not type(None)]
        if len(inner) != 1:
            raise TypeError(f"no snapshot codec for {hint}")
        encode, decode = _codec(inner[0])
        return (
            lambda v: None if v is None else encode(v),
            lambda v: None if v is None else decode(v),
        )
    if origin is list:
        encode, decode = _codec(args[0])
        return (lambda v: [encode(x) for x in v], lambda v: [decode(x) for x in v])
    if origin is set:
        encode, decode = _codec(args[0])
        return (lambda v: sorted(encode(x) for x in v), lambda v: {decode(x) for x in v})
    if origin is dict:
        if args[0] is not str:
            raise TypeError(f"no snapshot codec for {hint}")
        encode, decode = _codec(args[1])
        return (
            lambda v: {k: encode(x) for k, x in v.items()},
            lambda v: {k: decode(x) for k, x in v.items()},
        )
    if dataclasses.is_dataclass(hint):
        return _dataclass_codec(hint)
    raise TypeError(f"no snapshot codec for {hint}")


def _dataclass_codec(cls: Any, skip: frozenset[str] = frozenset()) -> Codec:
    hints = typing.get_type_hints(cls, vars(st) | vars(ev) | {"dt": dt})
    fields = [f.name for f in dataclasses.fields(cls) if f.name not in skip]
    codecs = {name: _codec(hints[name]) for name in fields}

    def encode(value: Any) -> list[Any]:
        return [codecs[name][0](getattr(value, name)) for name in fields]

    def decode(data: list[Any]) -> Any:
        return cls(**{name: codecs[name][1](x) for name, x in zip(fields, data, strict=True)})

    return encode, decode


def _layout(cls: Any, seen: set[Any] | None = None) -> list[str]:
    """The field names and types of a dataclass and those it contains, for the fingerprint."""
    seen = seen if seen is not None else set()
    if cls in seen:
        return []
    seen.add(cls)
    hints = typing.get_type_hints(cls, vars(st) | vars(ev) | {"dt": dt})
    found = []
    for f in dataclasses.fields(cls):
        found.append(f"{cls.__name__}.{f.name}:{hints[f.name]}")
        for inner in (hints[f.name], *typing.get_args(hints[f.name])):
            for leaf in (inner, *typing.get_args(inner)):
                if dataclasses.is_dataclass(leaf):
                    found.extend(_layout(leaf, seen))
    return found


_LAYOUT = hashlib.sha256("\n".join(_layout(DirectiveState)).encode()).hexdigest()[:16]
FORMAT = f"{FORMAT_VERSION}:{_LAYOUT}"
_ENCODE, _DECODE = _dataclass_codec(DirectiveState, skip=frozenset({"resolved"}))


def encode_state(state: DirectiveState) -> list[Any]:
    """The state as plain JSON, without its definition (stored apart, by hash)."""
    encoded: list[Any] = _ENCODE(state)
    return encoded


def decode_state(data: list[Any], resolved: Any) -> DirectiveState:
    state: DirectiveState = _DECODE(data)
    state.resolved = resolved
    return state


@dataclass(frozen=True)
class Snapshot:
    stream: str
    version: int
    head_hash: str  # the hash of the event at `version`: the snapshot holds for that chain only
    state: DirectiveState


def read_snapshot(conn: Connection, stream: str) -> Snapshot | None:
    """The stream's snapshot, or None when there is none usable (absent, of another format,
    naming a definition not stored, or undecodable): then the caller replays from nothing."""
    row = conn.execute(select(snapshots).where(snapshots.c.stream == stream)).first()
    if row is None or row.format != FORMAT:
        return None
    try:
        resolved = None
        if row.definition_sha256 is not None:
            resolved = load_definition(conn, row.definition_sha256)
            if resolved is None:
                return None
        state = decode_state(row.state, resolved)
    except (TypeError, ValueError, KeyError, IndexError, AttributeError, LedgerError):
        return None  # (an edited definition is reported by `chidao verify`)
    if state.version != row.version:
        return None
    return Snapshot(stream, row.version, row.head_hash, state)


def write_snapshot(
    conn: Connection, stream: str, state: DirectiveState, head_hash: str, at: dt.datetime
) -> None:
    """Store `state` — the state after the event hashed `head_hash` — as the stream's
    snapshot (replacing the one before), in the caller's transaction."""
    sha = store_definition(conn, state.resolved, at) if state.resolved is not None else None
    conn.execute(delete(snapshots).where(snapshots.c.stream == stream))
    conn.execute(
        snapshots.insert().values(
            stream=stream,
            version=state.version,
            format=FORMAT,
            head_hash=head_hash,
            definition_sha256=sha,
            state=encode_state(state),
            written_at=at,
        )
    )


def snapshot_writer(every: int = DEFAULT_EVERY) -> Callable[[Connection, Written], None]:
    """A transaction writer storing the state after a command when its version crosses a
    multiple of `every` (so at most `every - 1` events are replayed on top of a snapshot),
    and always after the command that issues the directive or amends it."""
    if every < 1:
        raise ValueError("snapshots are written every 1 or more versions")

    def write(conn: Connection, written: Written) -> None:
        before, after = written.before.version, written.state.version
        redefined = any(e.type in ("DirectiveIssued", "DefinitionAmended") for e in written.events)
        if redefined or after // every > before // every:
            last = written.events[-1]
            write_snapshot(conn, written.directive, written.state, last.hash, last.recorded_at)

    return write


@dataclass(frozen=True)
class SnapshotFault:
    """A snapshot that does not say what the events say (edited, or written wrong)."""

    stream: str
    version: int
    message: str


def check_snapshots(engine: Engine, stream: str | None = None) -> list[SnapshotFault]:
    """Every snapshot of the current format compared with a replay of the events up to its
    version: a difference, an unknown chain head or an undecodable row is a fault. Snapshots
    of an older format are not faults: they are rebuilt by the next write."""
    from ledger.directives import Directives, replay_stored

    directives = Directives.over(engine)
    faults: list[SnapshotFault] = []
    with engine.connect() as conn:
        query = select(snapshots.c.stream, snapshots.c.version, snapshots.c.format)
        if stream is not None:
            query = query.where(snapshots.c.stream == stream)
        rows = conn.execute(query.order_by(snapshots.c.stream)).all()
        for row in rows:
            if row.format != FORMAT:
                continue
            snapshot = read_snapshot(conn, row.stream)
            if snapshot is None:
                faults.append(
                    SnapshotFault(row.stream, row.version, "the snapshot does not decode")
                )
                continue
            events = directives.store.read(row.stream, to_version=row.version, conn=conn)
            if len(events) != row.version or events[-1].hash != snapshot.head_hash:
                faults.append(
                    SnapshotFault(
                        row.stream, row.version, "the snapshot follows no event of the chain"
                    )
                )
            elif replay_stored(events, lookup_on(conn)) != snapshot.state:
                faults.append(
                    SnapshotFault(
                        row.stream,
                        row.version,
                        "the snapshot differs from the replay of the events up to its version",
                    )
                )
    return faults
