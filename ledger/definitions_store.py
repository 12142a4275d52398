"""Resolved definitions stored once, by content: the `definitions` table and its process cache.

A resolved definition is known by the SHA-256 of its canonical JSON (`definition_sha256`).
Snapshots name it by that hash instead of carrying it; it is parsed and validated once per
process and then served from the cache by hash.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Connection

from definitions.resolve import ResolvedDirective
from ledger.tables import definitions
from ledger.verify import canonical_json

CACHE_SIZE = 256

_by_sha: OrderedDict[str, ResolvedDirective] = OrderedDict()
# id(resolved) -> (resolved, sha): the hash of an object already hashed or loaded here
_sha_of: dict[int, tuple[ResolvedDirective, str]] = {}


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
    sha = hashlib.sha256(canonical_json(resolved.model_dump(mode="json")).encode()).hexdigest()
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


def load_definition(conn: Connection, sha: str) -> ResolvedDirective | None:
    """The definition stored under `sha` (from the cache when this process has seen it)."""
    cached = _by_sha.get(sha)
    if cached is not None:
        return cached
    row = conn.execute(select(definitions.c.resolved).where(definitions.c.sha256 == sha)).first()
    if row is None:
        return None
    resolved = ResolvedDirective.model_validate(row.resolved)
    _remember(sha, resolved)
    return resolved
