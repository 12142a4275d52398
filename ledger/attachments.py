"""The bytes of files attached to reports, content-addressed, and who may read them.

A report event (version 2) names its files by SHA-256 (`lifecycle.events.AttachmentRef`); the
bytes live once in the `attachments` table of the ledger database. `writer(blobs)` stores them
inside the command's write transaction (`ledger.transaction`), so a refused command stores
nothing and an accepted one never names a file that is not there. `readers(events, sha256)`
says who may read a file of a directive: the agency that sent it, the consolidating
department, the department it reports to and the issuer.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from ledger.errors import LedgerError
from ledger.tables import attachments
from ledger.transaction import Writer, Written
from lifecycle.events import ConsolidatedReportSubmitted, Event, ReportSubmitted
from lifecycle.state import DirectiveState


class AttachmentMissing(LedgerError):
    """No stored file under that SHA-256."""


@dataclass(frozen=True)
class Blob:
    """A file's bytes, checked, with the type its content showed."""

    content: bytes
    media_type: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.content).hexdigest()


def store(conn: Connection, blobs: Iterable[Blob], now: dt.datetime) -> None:
    """Insert each blob not already stored (same bytes, same SHA-256: stored once)."""
    for blob in blobs:
        digest = blob.sha256
        there = conn.execute(
            select(attachments.c.sha256).where(attachments.c.sha256 == digest)
        ).first()
        if there is not None:
            continue
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(attachments).values(
                        sha256=digest,
                        media_type=blob.media_type,
                        size=len(blob.content),
                        content=blob.content,
                        created_at=now,
                    )
                )
        except IntegrityError:
            continue  # another process stored the same bytes a moment ago


def writer(blobs: Iterable[Blob], now: dt.datetime) -> Writer:
    """A transaction writer storing `blobs` with the events of one command."""
    kept = tuple(blobs)

    def write(conn: Connection, _written: Written) -> None:
        store(conn, kept, now)

    return write


def load(engine: Engine, sha256: str) -> Blob:
    """The stored file with this SHA-256, or AttachmentMissing."""
    with engine.connect() as conn:
        row = conn.execute(
            select(attachments.c.content, attachments.c.media_type).where(
                attachments.c.sha256 == sha256
            )
        ).first()
    if row is None:
        raise AttachmentMissing(f"no stored attachment {sha256}")
    return Blob(bytes(row.content), row.media_type)


def readers(state: DirectiveState, events: Iterable[Event], sha256: str) -> set[str]:
    """The agencies that may read the file `sha256` of this directive (empty: none is named)."""
    found: set[str] = set()
    resolved = state.resolved
    if resolved is None:
        return found
    overseers = {resolved.issuer.id}
    overseers.update(a for a in (resolved.consolidator, resolved.reporting_to) if a)
    for event in events:
        if isinstance(event, ReportSubmitted | ConsolidatedReportSubmitted) and any(
            ref.sha256 == sha256 for ref in event.attachments
        ):
            if isinstance(event, ReportSubmitted):
                found.add(event.agency)
            else:
                found.update(a for a in (resolved.consolidator, resolved.consolidation_to) if a)
            found.update(overseers)
    return found


def check(engine: Engine, directive: str | None = None) -> list[str]:
    """What is wrong with the files the reports name (`chidao verify`): one missing, or whose
    stored bytes no longer hash to the name the events gave them, or of another size."""
    from ledger.directives import Directives, to_event

    directives = Directives.over(engine)
    named: dict[str, tuple[str, int]] = {}
    for stream in [directive] if directive else directives.ids():
        for stored in directives.events(stream):
            if stored.type not in ("ReportSubmitted", "ConsolidatedReportSubmitted"):
                continue
            event = to_event(stored)
            if isinstance(event, ReportSubmitted | ConsolidatedReportSubmitted):
                for ref in event.attachments:
                    named.setdefault(ref.sha256, (f"{stream} v{stored.version}", ref.size))
    problems = []
    with engine.connect() as conn:
        for digest, (where, size) in sorted(named.items()):
            row = conn.execute(
                select(attachments.c.content).where(attachments.c.sha256 == digest)
            ).first()
            if row is None:
                problems.append(f"{where}: file {digest} is not stored")
                continue
            content = bytes(row.content)
            if hashlib.sha256(content).hexdigest() != digest or len(content) != size:
                problems.append(f"{where}: the stored bytes of file {digest} were altered")
    return problems
