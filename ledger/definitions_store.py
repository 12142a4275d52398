"""Resolved definitions stored once, by content: the `definitions` table and its process cache.

A resolved definition is known by the SHA-256 of its canonical JSON (`definition_sha256`).
The issuance and amendment events (version 3) carry that hash and no definition: the
definition is written here in the command's transaction, so the hash chain covers it through
the hash. Snapshots name it the same way. It is parsed and validated once per process and then
served from the cache by hash; a row whose content no longer hashes to its name is refused
(`DefinitionCorrupted`), and `check_definitions` (run by `chidao verify`) names every such row
and every event naming a definition that is not stored.

Events written before version 3 embed their definition: the upcaster names it by the hash of
the embedded document and keeps it inline (`inline_definition`), so such a ledger needs nothing
stored here.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.engine import Connection

from definitions.content_hash import document_sha256
from definitions.resolve import ResolvedDirective
from ledger.errors import LedgerError
from ledger.tables import NON_DIRECTIVE_STREAMS, definitions, events
from lifecycle.events import DEFINING_EVENTS

CACHE_SIZE = 256

# A lookup of definitions by hash: None when the definition is not stored.
DefinitionLookup = Callable[[str], ResolvedDirective | None]

_by_sha: OrderedDict[str, ResolvedDirective] = OrderedDict()
# id(resolved) -> (resolved, sha): the hash of an object already hashed or loaded here
_sha_of: dict[int, tuple[ResolvedDirective, str]] = {}
# definitions embedded in events before version 3, by the hash of the embedded document
_inline: OrderedDict[str, ResolvedDirective] = OrderedDict()


class DefinitionMissing(LedgerError):
    def __init__(self, sha: str, where: str = "") -> None:
        super().__init__(f"definition {sha} is not stored{f' ({where})' if where else ''}")
        self.sha = sha


class DefinitionCorrupted(LedgerError):
    def __init__(self, sha: str) -> None:
        super().__init__(
            f"the definition stored under {sha} was edited: its content no longer matches its hash"
        )
        self.sha = sha


def _remember(sha: str, resolved: ResolvedDirective) -> None:
    _by_sha[sha] = resolved
    _by_sha.move_to_end(sha)
    _sha_of[id(resolved)] = (resolved, sha)
    while len(_by_sha) > CACHE_SIZE:
        _, dropped = _by_sha.popitem(last=False)
        _sha_of.pop(id(dropped), None)


def definition_sha256(resolved: ResolvedDirective) -> str:
    """The hash a resolved definition is stored under (computed once per object)."""
    known = _sha_of.get(id(resolved))
    if known is not None and known[0] is resolved:
        return known[1]
    sha = document_sha256(resolved.model_dump(mode="json"))
    _remember(sha, resolved)
    return sha


def store_definition(conn: Connection, resolved: ResolvedDirective, at: datetime) -> str:
    """Keep `resolved` in the table (once) inside the caller's transaction, recorded `at`;
    its hash."""
    sha = definition_sha256(resolved)
    present = conn.execute(select(definitions.c.sha256).where(definitions.c.sha256 == sha))
    if present.first() is None:
        conn.execute(
            definitions.insert().values(
                sha256=sha, resolved=resolved.model_dump(mode="json"), created_at=at
            )
        )
    return sha


def cached_definition(sha: str) -> ResolvedDirective | None:
    """The definition under `sha` if this process has already stored or loaded it."""
    return _by_sha.get(sha)


def load_definition(conn: Connection, sha: str) -> ResolvedDirective | None:
    """The definition stored under `sha` (from the cache when this process has seen it); None
    when none is stored; DefinitionCorrupted when the stored content does not hash to `sha`."""
    cached = _by_sha.get(sha)
    if cached is not None:
        return cached
    row = conn.execute(select(definitions.c.resolved).where(definitions.c.sha256 == sha)).first()
    if row is None:
        return None
    if document_sha256(row.resolved) != sha:
        raise DefinitionCorrupted(sha)
    resolved = ResolvedDirective.model_validate(row.resolved)
    _remember(sha, resolved)
    return resolved


def lookup_on(conn: Connection) -> DefinitionLookup:
    """Definitions by hash, read on `conn` (and cached)."""
    return lambda sha: load_definition(conn, sha)


def inline_definition(sha: str, document: dict[str, Any]) -> ResolvedDirective:
    """A definition embedded in an event written before version 3 (named `sha` by the
    upcaster), validated once per process."""
    found = _inline.get(sha)
    if found is None:
        found = ResolvedDirective.model_validate(document)
        _inline[sha] = found
        while len(_inline) > CACHE_SIZE:
            _inline.popitem(last=False)
    return found


@dataclass(frozen=True)
class DefinitionFault:
    """A stored definition edited, or one an event names missing."""

    sha256: str
    stream: str | None  # the directive whose event names it (None: named by no event)
    version: int | None
    message: str


def check_definitions(engine: Engine, stream: str | None = None) -> list[DefinitionFault]:
    """Every stored definition against its hash, and every version-3 issuance or amendment
    against the table: a row whose content does not hash to its name, or a hash named by an
    event with no row, is a fault (with the directive and event that name it)."""
    faults: list[DefinitionFault] = []
    with engine.connect() as conn:
        named: dict[str, list[tuple[str, int]]] = {}
        query = select(events.c.stream, events.c.version, events.c.payload).where(
            events.c.type.in_(DEFINING_EVENTS),
            events.c.schema_version >= 3,
            events.c.stream.not_in(NON_DIRECTIVE_STREAMS),
        )
        if stream is not None:
            query = query.where(events.c.stream == stream)
        for row in conn.execute(query.order_by(events.c.stream, events.c.version)):
            sha = row.payload.get("definition_sha256") if isinstance(row.payload, dict) else None
            if isinstance(sha, str):
                named.setdefault(sha, []).append((row.stream, row.version))
        stored: set[str] = set()
        rows = select(definitions.c.sha256, definitions.c.resolved)
        for kept in conn.execute(rows.order_by(definitions.c.sha256)):
            stored.add(kept.sha256)
            users = named.get(kept.sha256, [])
            if stream is not None and not users:
                continue
            if document_sha256(kept.resolved) != kept.sha256:
                where = (
                    "; named by " + ", ".join(f"{s} version {v}" for s, v in users)
                    if users
                    else ""
                )
                first = users[0] if users else (None, None)
                faults.append(
                    DefinitionFault(
                        kept.sha256,
                        first[0],
                        first[1],
                        f"definition {kept.sha256} was edited: its content no longer matches "
                        f"its hash{where}",
                    )
                )
        for sha, users in sorted(named.items()):
            if sha in stored:
                continue
            for name, version in users:
                faults.append(
                    DefinitionFault(
                        sha,
                        name,
                        version,
                        f"{name}: event version {version} names definition {sha}, which is "
                        "not stored (removed from the definitions table)",
                    )
                )
    return faults
