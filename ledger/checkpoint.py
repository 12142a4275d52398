"""Signed checkpoints of the ledger: what it held, sealed with a key the database does not hold.

A checkpoint is a document — every stream's version and head hash, the highest global
position covered, the size and RFC 6962 root of the Merkle tree over those events
(`ledger.merkle`), the newest `recorded_at` covered, the time from the caller's clock, the
previous checkpoint's digest — signed with the server's Ed25519 key. The key lives in a file
outside the database (`chidao.settings.checkpoint_key`), and each checkpoint is published to
witnesses the database's owner does not control in the same way (an append-only JSON-lines
file, `append_to_log`, and Prefect artifacts, `tasks.checkpoint`), so rewriting the events
table, however carefully the hashes are recomputed, no longer matches what was witnessed.

Incremental: the tree's perfect-subtree roots (`ledger_tree`) and the stream heads
(`checkpoint_heads`) are stored, so a checkpoint reads only the events after the last one
covered plus O(log n) tree nodes.

Gap-free prefix: PostgreSQL commits positions out of order. The checkpoint reads in one
snapshot; positions are drawn only after the inserting transaction has an id (migration
0002), so a gap below the newest visible position can only still fill if a transaction of the
snapshot's in-progress list owns it. With none in progress every gap is final (a rolled-back
append); otherwise the checkpoint waits briefly for those transactions and re-reads, and if
they are still running it covers only the positions before the first gap. SQLite has one
writer at a time and no gaps. Appends are never blocked: reading takes no lock, and writing
the checkpoint touches only the checkpoint tables (SQLite: its one short write transaction).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Engine, delete, func, insert, select, text, update
from sqlalchemy.engine import Connection

from ledger.db import SQLITE_BEGIN_OPTION
from ledger.errors import LedgerError
from ledger.merkle import EMPTY_ROOT, Frontier, Node, leaf_data, leaf_hash
from ledger.tables import checkpoint_heads, checkpoints, events, ledger_tree
from ledger.verify import canonical_json, iso_utc

FORMAT = "chidao-checkpoint/1"
_PG_CHECKPOINT_LOCK = 0x63687074  # serialises checkpoint writers, never appends
GAP_WAIT_SECONDS = 2.0


class CheckpointError(LedgerError):
    """A checkpoint could not be made, read or trusted."""


class RollbackSuspected(CheckpointError):
    """The witnesses hold a newer checkpoint than the database: it was restored or rolled back."""


def public_key_hex(key: Ed25519PublicKey) -> str:
    return key.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def fingerprint(public_hex: str) -> str:
    return hashlib.sha256(bytes.fromhex(public_hex)).hexdigest()[:16]


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint (or a restore record) whose signature checked out under `public_key`."""

    document: dict[str, Any]
    signature: str
    public_key: str

    @property
    def seq(self) -> int:
        return int(self.document["seq"])

    @property
    def kind(self) -> str:
        return str(self.document["kind"])

    @property
    def position(self) -> int:
        return int(self.document["position"])

    @property
    def size(self) -> int:
        return int(self.document["size"])

    @property
    def root(self) -> str:
        return str(self.document["root"])

    @property
    def at(self) -> datetime:
        return datetime.fromisoformat(self.document["at"])

    @property
    def streams(self) -> dict[str, tuple[int, str]]:
        return {s: (int(h["version"]), str(h["head"])) for s, h in self.document["streams"].items()}

    @property
    def recorded_through(self) -> datetime | None:
        value = self.document.get("recorded_through")
        return datetime.fromisoformat(value) if value else None

    @property
    def previous(self) -> str | None:
        return self.document.get("previous")

    @property
    def restore(self) -> dict[str, Any] | None:
        return self.document.get("restore")

    @property
    def digest(self) -> str:
        return hashlib.sha256(canonical_json(self.document).encode("utf-8")).hexdigest()

    def envelope(self) -> dict[str, Any]:
        return {
            "checkpoint": self.document,
            "signature": self.signature,
            "public_key": self.public_key,
        }

    def line(self) -> str:
        return canonical_json(self.envelope())

    def label(self) -> str:
        what = "restore record" if self.kind == "restore" else "checkpoint"
        return f"{what} #{self.seq} of {self.document['at']}"


def sign(document: dict[str, Any], key: Ed25519PrivateKey) -> Checkpoint:
    signature = key.sign(canonical_json(document).encode("utf-8"))
    return Checkpoint(
        document, base64.b64encode(signature).decode("ascii"), public_key_hex(key.public_key())
    )


def parse(envelope: Any, where: str = "checkpoint") -> Checkpoint:
    """A checkpoint from its envelope (a dict or JSON text), its signature checked."""
    try:
        if isinstance(envelope, str | bytes):
            envelope = json.loads(envelope)
        document = envelope["checkpoint"]
        public = bytes.fromhex(envelope["public_key"])
        signature = base64.b64decode(envelope["signature"], validate=True)
        if document.get("format") != FORMAT:
            raise CheckpointError(f"{where}: not a {FORMAT} document")
        for name in ("seq", "kind", "at", "position", "size", "root", "streams"):
            if name not in document:
                raise CheckpointError(f"{where}: field {name!r} missing")
        Ed25519PublicKey.from_public_bytes(public).verify(
            signature, canonical_json(document).encode("utf-8")
        )
    except CheckpointError:
        raise
    except InvalidSignature as e:
        raise CheckpointError(f"{where}: the signature does not verify") from e
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        raise CheckpointError(f"{where}: not a signed checkpoint ({e})") from e
    return Checkpoint(document, envelope["signature"], envelope["public_key"])


# -- the append-only witness file ------------------------------------------------------------


def append_to_log(path: Path, checkpoint: Checkpoint) -> None:
    """Append one JSON line (O_APPEND, fsync); the file is created 0600 if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, (checkpoint.line() + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)


def read_log(path: Path) -> tuple[list[Checkpoint], list[str]]:
    """The checkpoints in a witness file (or one auditor's file), and what could not be read."""
    found: list[Checkpoint] = []
    problems: list[str] = []
    try:
        content = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], []
    except (OSError, UnicodeDecodeError) as e:
        return [], [f"{path}: cannot be read ({e})"]
    stripped = content.strip()
    if stripped.startswith("{") and "\n" in stripped and not stripped.startswith('{"checkpoint"'):
        lines = [stripped]  # one pretty-printed envelope
    else:
        lines = content.splitlines()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            found.append(parse(line, f"{path}:{number}"))
        except CheckpointError as e:
            problems.append(str(e))
    return found, problems


# -- making checkpoints ----------------------------------------------------------------------


@dataclass(frozen=True)
class _NewRow:
    position: int
    stream: str
    version: int
    hash: str
    recorded_at: datetime


@dataclass(frozen=True)
class _Read:
    seq: int
    newest: Checkpoint | None
    size: int
    last_position: int
    frontier: Frontier
    heads: dict[str, tuple[int, str, int]]
    rows: list[_NewRow]


def _reader(engine: Engine) -> Connection:
    conn = engine.connect()
    if conn.dialect.name == "postgresql":
        conn = conn.execution_options(isolation_level="REPEATABLE READ")
    return conn


def _newest(conn: Connection) -> Checkpoint | None:
    row = conn.execute(
        select(checkpoints.c.envelope).order_by(checkpoints.c.seq.desc()).limit(1)
    ).first()
    return parse(row.envelope, "the newest checkpoint in the database") if row else None


def _node_getter(conn: Connection) -> Any:
    def get(level: int, index: int) -> bytes:
        value = conn.scalar(
            select(ledger_tree.c.hash).where(
                ledger_tree.c.level == level, ledger_tree.c.idx == index
            )
        )
        if value is None:
            raise CheckpointError(f"the stored Merkle tree lacks node ({level}, {index})")
        return bytes.fromhex(value)

    return get


def _in_progress(conn: Connection) -> list[int]:
    if conn.dialect.name != "postgresql":
        return []
    return [
        int(x)
        for x in conn.scalars(text("SELECT pg_snapshot_xip(pg_current_snapshot())::text::bigint"))
    ]


def _still_running(engine: Engine, xids: list[int]) -> bool:
    with engine.connect() as conn:
        statuses = conn.scalars(
            text("SELECT pg_xact_status(x::text::xid8) FROM unnest(CAST(:xids AS bigint[])) AS x"),
            {"xids": xids},
        )
        return any(s == "in progress" for s in statuses)


def _read(engine: Engine) -> tuple[_Read, list[int]]:
    with _reader(engine) as conn, conn.begin():
        xids = _in_progress(conn)
        newest = _newest(conn)
        # The stored tree is exactly what the newest checkpoint covers (written together).
        size = newest.size if newest is not None else 0
        last_position = newest.position if newest is not None else 0
        frontier = Frontier.for_size(size, _node_getter(conn))
        heads = {
            r.stream: (r.version, r.hash, r.position)
            for r in conn.execute(select(checkpoint_heads))
        }
        result = conn.execution_options(yield_per=5000).execute(
            select(
                events.c.position,
                events.c.stream,
                events.c.version,
                events.c.hash,
                events.c.recorded_at,
            )
            .where(events.c.position > last_position)
            .order_by(events.c.position)
        )
        rows = [_NewRow(r.position, r.stream, r.version, r.hash, r.recorded_at) for r in result]
    seq = newest.seq if newest is not None else 0
    return _Read(seq, newest, size, last_position, frontier, heads, rows), xids


def _contiguous(rows: list[_NewRow], after: int) -> list[_NewRow]:
    covered: list[_NewRow] = []
    expected = after + 1
    for row in rows:
        if row.position != expected:
            break
        covered.append(row)
        expected += 1
    return covered


def _covered(engine: Engine, wait_seconds: float) -> tuple[_Read, list[_NewRow]]:
    """The state read and the new rows a checkpoint may cover (a gap-free prefix)."""
    state, xids = _read(engine)
    if not xids or _contiguous(state.rows, state.last_position) == state.rows:
        return state, state.rows
    deadline = time.monotonic() + wait_seconds
    while _still_running(engine, xids):
        if time.monotonic() > deadline:
            return state, _contiguous(state.rows, state.last_position)
        time.sleep(0.01)
    # Every transaction that could own a gap below the first read's newest row has ended.
    top = state.rows[-1].position
    again, xids_again = _read(engine)
    if again.size != state.size:
        return again, _contiguous(again.rows, again.last_position)
    settled = [r for r in again.rows if r.position <= top]
    later = [r for r in again.rows if r.position > top]
    if xids_again:
        later = _contiguous(later, top)
    return again, settled + later


def make_checkpoint(
    engine: Engine,
    key: Ed25519PrivateKey,
    at: datetime,
    *,
    witnessed: Checkpoint | None = None,
    wait_seconds: float = GAP_WAIT_SECONDS,
    force: bool = False,
) -> tuple[Checkpoint, bool]:
    """Sign a checkpoint of the ledger at `at`; (checkpoint, True if new).

    When nothing was appended since the newest checkpoint it is returned unchanged (unless
    `force`). `witnessed` is the newest checkpoint the witnesses hold: if it is newer than the
    database's own, the ledger was restored or rolled back and RollbackSuspected is raised —
    `record_restore` must come first.
    """
    for _ in range(10):
        state, rows = _covered(engine, wait_seconds)
        _check_witnessed(state.newest, witnessed)
        if state.newest is not None and not rows and not force:
            return state.newest, False
        frontier = state.frontier
        nodes: list[Node] = []
        leaves: dict[int, _NewRow] = {}
        heads = dict(state.heads)
        touched: set[str] = set()
        for row in rows:
            made = frontier.append(
                leaf_hash(leaf_data(row.position, row.stream, row.version, row.hash))
            )
            leaves[made[0].index] = row
            nodes.extend(made)
            heads[row.stream] = (row.version, row.hash, row.position)
            touched.add(row.stream)
        position = rows[-1].position if rows else state.last_position
        through = max((r.recorded_at for r in rows), default=None)
        previous_through = state.newest.recorded_through if state.newest else None
        if previous_through is not None and (through is None or through < previous_through):
            through = previous_through
        document = {
            "format": FORMAT,
            "seq": state.seq + 1,
            "kind": "checkpoint",
            "at": iso_utc(at),
            "position": position,
            "size": frontier.size,
            "root": frontier.root().hex() if frontier.size else EMPTY_ROOT,
            "streams": {s: {"version": v, "head": h} for s, (v, h, _) in sorted(heads.items())},
            "recorded_through": iso_utc(through) if through is not None else None,
            "previous": state.newest.digest if state.newest else None,
            "key": fingerprint(public_key_hex(key.public_key())),
        }
        checkpoint = sign(document, key)
        if _write(engine, state, checkpoint, nodes, leaves, {s: heads[s] for s in touched}):
            return checkpoint, True
    raise CheckpointError("other checkpoints kept being made at the same time; try again")


def _check_witnessed(newest: Checkpoint | None, witnessed: Checkpoint | None) -> None:
    if witnessed is None:
        return
    mine = newest.seq if newest else 0
    if witnessed.seq > mine:
        raise RollbackSuspected(
            f"the witnesses hold {witnessed.label()}, newer than anything in the database "
            f"(newest: {newest.label() if newest else 'none'}): the ledger was restored from a "
            f"backup or rolled back. Run `chidao verify`, then record the restore "
            f"(`chidao checkpoint --record-restore --reason …`) before work goes on"
        )
    if witnessed.seq == mine and newest is not None and witnessed.digest != newest.digest:
        raise RollbackSuspected(
            f"the witnesses' {witnessed.label()} differs from the database's: the "
            f"checkpoints were forked; run `chidao verify`"
        )


def _writer(engine: Engine) -> Connection:
    conn = engine.connect()
    if conn.dialect.name == "sqlite":
        conn = conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
    return conn


def _write(
    engine: Engine,
    state: _Read,
    checkpoint: Checkpoint,
    nodes: list[Node],
    leaves: dict[int, _NewRow],
    heads: dict[str, tuple[int, str, int]],
) -> bool:
    with _writer(engine) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_CHECKPOINT_LOCK})
        seq = conn.scalar(select(func.max(checkpoints.c.seq))) or 0
        if seq != state.seq:
            return False  # someone else checkpointed meanwhile: read again
        rows = []
        for node in nodes:
            leaf = leaves.get(node.index) if node.level == 0 else None
            rows.append(
                {
                    "level": node.level,
                    "idx": node.index,
                    "hash": node.hash.hex(),
                    "position": leaf.position if leaf else None,
                    "stream": leaf.stream if leaf else None,
                    "version": leaf.version if leaf else None,
                }
            )
        for start in range(0, len(rows), 1000):
            conn.execute(insert(ledger_tree), rows[start : start + 1000])
        for stream, (version, digest, position) in heads.items():
            values = {"version": version, "hash": digest, "position": position}
            if stream in state.heads:
                conn.execute(
                    update(checkpoint_heads)
                    .where(checkpoint_heads.c.stream == stream)
                    .values(values)
                )
            else:
                conn.execute(insert(checkpoint_heads).values(stream=stream, **values))
        _insert_checkpoint(conn, checkpoint)
    return True


def _insert_checkpoint(conn: Connection, checkpoint: Checkpoint) -> None:
    conn.execute(
        insert(checkpoints).values(
            seq=checkpoint.seq,
            kind=checkpoint.kind,
            position=checkpoint.position,
            size=checkpoint.size,
            root=checkpoint.root,
            at=checkpoint.at,
            envelope=checkpoint.line(),
        )
    )


def stored_checkpoints(engine: Engine) -> list[Checkpoint]:
    """The checkpoints the database holds (the attacker's copy; the witnesses are what count)."""
    with engine.connect() as conn:
        return [
            parse(r.envelope, f"checkpoint #{r.seq} in the database")
            for r in conn.execute(
                select(checkpoints.c.seq, checkpoints.c.envelope).order_by(checkpoints.c.seq)
            )
        ]


def newest_of(found: Iterable[Checkpoint]) -> Checkpoint | None:
    return max(found, key=lambda c: c.seq, default=None)


def record_restore(
    engine: Engine,
    key: Ed25519PrivateKey,
    at: datetime,
    *,
    witnessed: Checkpoint,
    satisfies: Checkpoint | None,
    operator: str,
    reason: str,
) -> Checkpoint:
    """Sign the operator's record that the ledger was restored: the witnessed checkpoints after
    the one it satisfies are superseded, and checkpoints go on from what the database holds."""
    if not operator.strip() or not reason.strip():
        raise CheckpointError("a restore record needs the operator's id and a reason")
    with _writer(engine) as conn, conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_CHECKPOINT_LOCK})
        newest = _newest(conn)
        if newest is not None and newest.seq >= witnessed.seq:
            raise CheckpointError(
                f"the database already holds {newest.label()}: there is no restore to record"
            )
        frontier, position, heads = _rebuild(conn, satisfies)
        size = frontier.size
        kept = satisfies.seq if satisfies is not None else 0
        document = {
            "format": FORMAT,
            "seq": witnessed.seq + 1,
            "kind": "restore",
            "at": iso_utc(at),
            "position": position,
            "size": size,
            "root": frontier.root().hex() if size else EMPTY_ROOT,
            "streams": {s: {"version": v, "head": h} for s, (v, h, _) in sorted(heads.items())},
            "recorded_through": satisfies.document.get("recorded_through") if satisfies else None,
            "previous": witnessed.digest,
            "key": fingerprint(public_key_hex(key.public_key())),
            "restore": {
                "satisfies": kept,
                "superseded": list(range(kept + 1, witnessed.seq + 1)),
                "operator": operator,
                "reason": reason,
            },
        }
        record = sign(document, key)
        _insert_checkpoint(conn, record)
    return record


def _rebuild(
    conn: Connection, satisfies: Checkpoint | None
) -> tuple[Frontier, int, dict[str, tuple[int, str, int]]]:
    """The stored tree and heads rebuilt from the events the satisfied checkpoint covers (one
    pass, once per restore), so checkpoints go on from exactly what it witnessed."""
    conn.execute(delete(ledger_tree))
    conn.execute(delete(checkpoint_heads))
    frontier = Frontier()
    heads: dict[str, tuple[int, str, int]] = {}
    if satisfies is None:
        return frontier, 0, heads
    rows: list[dict[str, Any]] = []
    query = (
        select(events.c.position, events.c.stream, events.c.version, events.c.hash)
        .where(events.c.position <= satisfies.position)
        .order_by(events.c.position)
    )
    for r in conn.execute(query):
        made = frontier.append(leaf_hash(leaf_data(r.position, r.stream, r.version, r.hash)))
        for node in made:
            leaf = node.level == 0
            rows.append(
                {
                    "level": node.level,
                    "idx": node.index,
                    "hash": node.hash.hex(),
                    "position": r.position if leaf else None,
                    "stream": r.stream if leaf else None,
                    "version": r.version if leaf else None,
                }
            )
        heads[r.stream] = (r.version, r.hash, r.position)
    if frontier.size != satisfies.size or frontier.root().hex() != satisfies.root:
        raise CheckpointError(
            f"the ledger does not satisfy {satisfies.label()}: nothing to restore from"
        )
    for start in range(0, len(rows), 1000):
        conn.execute(insert(ledger_tree), rows[start : start + 1000])
    for stream, (version, digest, position) in heads.items():
        conn.execute(
            insert(checkpoint_heads).values(
                stream=stream, version=version, hash=digest, position=position
            )
        )
    return frontier, satisfies.position, heads
