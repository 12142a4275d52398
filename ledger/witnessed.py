"""The ledger checked against its witnessed checkpoints: truncation, rollback, rewritten history.

The hash chain (`ledger.verify`) shows edits that did not recompute hashes. What it cannot
show — the newest events or a whole stream deleted, a chain recomputed after an edit, a
forged event with a correct hash, a ledger restored from an older backup — shows against a
signed checkpoint kept outside the database:

- each stream the checkpoint names must still reach its version, and the event at that
  version must still have the checkpointed head hash ("truncated", "removed", "rewritten");
- the events up to the checkpoint's position must still give its Merkle size and root;
- the first event that differs is named from the stored tree's leaves when those still give
  the signed root (then they are exactly what was witnessed); otherwise it is bracketed by the
  stream heads of older checkpoints;
- an event after the newest checkpoint recorded well before that checkpoint's newest covered
  event is "forged" (a real one is at most a slow transaction late);
- older checkpoints must be consistent with newer ones, and signed by the expected key.

A restore record supersedes the checkpoints after the one the restored ledger satisfies.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Engine, select

from ledger.checkpoint import Checkpoint
from ledger.merkle import Frontier, leaf_data, leaf_hash, root_of
from ledger.tables import events, ledger_tree
from ledger.verify import ChainFault, FaultKind, verify

# How much earlier than a checkpoint's newest covered event an uncovered one may have been
# recorded: a transaction that stamped its time and committed after the checkpoint was read.
LATE_COMMIT_TOLERANCE = timedelta(minutes=5)


@dataclass
class AuditReport:
    faults: list[ChainFault] = field(default_factory=list)
    checked: list[Checkpoint] = field(default_factory=list)
    superseded: list[Checkpoint] = field(default_factory=list)
    newest: Checkpoint | None = None
    satisfied: Checkpoint | None = None
    unwitnessed: int = 0
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Row:
    position: int
    stream: str
    version: int
    hash: str
    leaf: bytes


def _fault(
    stream: str, version: int | None, kind: FaultKind, message: str, position: int | None = None
) -> ChainFault:
    return ChainFault(
        stream=stream,
        version=version,
        position=position,
        idempotency_key=None,
        kind=kind,
        message=message,
    )


def merge(sources: Iterable[tuple[str, list[Checkpoint]]], report: AuditReport) -> list[Checkpoint]:
    """One checkpoint per sequence number from every source; different ones are a fork."""
    by_seq: dict[int, tuple[str, Checkpoint]] = {}
    for source, found in sources:
        for checkpoint in found:
            seen = by_seq.get(checkpoint.seq)
            if seen is None:
                by_seq[checkpoint.seq] = (source, checkpoint)
            elif seen[1].digest != checkpoint.digest:
                report.faults.append(
                    _fault(
                        "",
                        None,
                        "checkpoint",
                        f"checkpoint #{checkpoint.seq} in {source} differs from the one in "
                        f"{seen[0]}: the checkpoints were forked",
                    )
                )
    return [c for _, (_, c) in sorted(by_seq.items())]


def audit(
    engine: Engine,
    found: list[Checkpoint],
    *,
    trusted_keys: set[str] | None = None,
    stream: str | None = None,
) -> AuditReport:
    """Chain and checkpoint faults of the ledger (or one stream); empty faults: intact."""
    report = AuditReport()
    report.faults.extend(verify(engine, stream))
    chained = _check_chain(found, trusted_keys, report)
    superseded: set[int] = set()
    for checkpoint in chained:
        if checkpoint.restore:
            superseded.update(int(s) for s in checkpoint.restore.get("superseded", []))
    active = [c for c in chained if c.seq not in superseded]
    report.superseded = [c for c in chained if c.seq in superseded]
    report.checked = active
    report.newest = active[-1] if active else None
    if not active:
        return _only(report, stream)

    rows, current = _read(engine)
    by_key = {(r.stream, r.version): r for r in rows}
    trusted = _trusted_leaves(engine, active)
    newest = active[-1]

    roots = _roots_at(rows, active)
    results = {
        c.seq: _against(c, rows, by_key, current, trusted, active, roots[c.seq]) for c in active
    }
    reported: set[str] = set()
    for problem in results[newest.seq]:
        if problem.stream not in reported or not problem.stream:
            report.faults.append(problem)
            reported.add(problem.stream)
    satisfied = next((c for c in reversed(active) if not results[c.seq]), None)
    if satisfied is not None:
        for older in active:
            if older.seq < satisfied.seq and results[older.seq]:
                report.faults.append(
                    _fault(
                        "",
                        None,
                        "checkpoint",
                        f"{older.label()} is inconsistent with the newer {satisfied.label()}",
                    )
                )
    report.satisfied = satisfied

    uncovered = [r for r in rows if r.position > newest.position]
    report.unwitnessed = len(uncovered)
    through = newest.recorded_through
    if through is not None:
        recorded = _recorded_at(engine, [r.position for r in uncovered])
        for row in uncovered:
            moment = recorded.get(row.position)
            if moment is not None and moment < through - LATE_COMMIT_TOLERANCE:
                report.faults.append(
                    _fault(
                        row.stream,
                        row.version,
                        "forged",
                        f"stream {row.stream!r} version {row.version} (position {row.position}) "
                        f"claims to be recorded at {moment.isoformat()}, before {newest.label()} "
                        f"(which covered events recorded until {through.isoformat()}), yet that "
                        f"checkpoint does not hold it: it was appended afterwards, backdated",
                        row.position,
                    )
                )
    return _only(report, stream)


def _only(report: AuditReport, stream: str | None) -> AuditReport:
    if stream is not None:
        report.faults = [f for f in report.faults if f.stream in (stream, "")]
    return report


def _check_chain(
    found: list[Checkpoint], trusted_keys: set[str] | None, report: AuditReport
) -> list[Checkpoint]:
    kept: list[Checkpoint] = []
    previous: Checkpoint | None = None
    for checkpoint in sorted(found, key=lambda c: c.seq):
        if trusted_keys is not None and checkpoint.public_key not in trusted_keys:
            report.faults.append(
                _fault(
                    "",
                    None,
                    "checkpoint",
                    f"{checkpoint.label()} is signed by key {checkpoint.public_key[:16]}…, not "
                    f"the server's: ignored",
                )
            )
            continue
        if (
            previous is not None
            and checkpoint.seq == previous.seq + 1
            and checkpoint.previous != previous.digest
        ):
            report.faults.append(
                _fault(
                    "",
                    None,
                    "checkpoint",
                    f"{checkpoint.label()} does not follow {previous.label()}: the checkpoints "
                    f"were forked or one was replaced",
                )
            )
        kept.append(checkpoint)
        previous = checkpoint
    return kept


def _read(engine: Engine) -> tuple[list[_Row], dict[str, int]]:
    rows: list[_Row] = []
    current: dict[str, int] = {}
    query = select(events.c.position, events.c.stream, events.c.version, events.c.hash).order_by(
        events.c.position
    )
    with engine.connect() as conn:
        for r in conn.execution_options(yield_per=5000).execute(query):
            leaf = leaf_hash(leaf_data(r.position, r.stream, r.version, r.hash))
            rows.append(_Row(r.position, r.stream, r.version, r.hash, leaf))
            current[r.stream] = max(current.get(r.stream, 0), r.version)
    return rows, current


def _recorded_at(engine: Engine, positions: list[int]) -> dict[int, datetime]:
    found: dict[int, datetime] = {}
    with engine.connect() as conn:
        for start in range(0, len(positions), 500):
            chunk = positions[start : start + 500]
            for r in conn.execute(
                select(events.c.position, events.c.recorded_at).where(events.c.position.in_(chunk))
            ):
                found[r.position] = r.recorded_at
    return found


@dataclass(frozen=True)
class _Leaf:
    index: int
    hash: bytes
    position: int
    stream: str
    version: int


def _trusted_leaves(engine: Engine, active: list[Checkpoint]) -> list[_Leaf] | None:
    """The stored tree's leaves, if they give the root of the largest checkpoint (so they are
    what was witnessed); None when the tree was altered too."""
    largest = max(active, key=lambda c: c.size)
    if largest.size == 0:
        return []
    with engine.connect() as conn:
        leaves = [
            _Leaf(r.idx, bytes.fromhex(r.hash), r.position, r.stream, r.version)
            for r in conn.execute(
                select(ledger_tree)
                .where(ledger_tree.c.level == 0, ledger_tree.c.idx < largest.size)
                .order_by(ledger_tree.c.idx)
            )
        ]
    if len(leaves) != largest.size or any(leaf.index != i for i, leaf in enumerate(leaves)):
        return None
    if root_of(leaf.hash for leaf in leaves).hex() != largest.root:
        return None
    return leaves


def _against(
    checkpoint: Checkpoint,
    rows: list[_Row],
    by_key: dict[tuple[str, int], _Row],
    current: dict[str, int],
    trusted: list[_Leaf] | None,
    active: list[Checkpoint],
    tree: tuple[int, str],
) -> list[ChainFault]:
    problems: list[ChainFault] = []
    label = checkpoint.label()
    for name, (version, head) in checkpoint.streams.items():
        now = current.get(name, 0)
        if now == 0:
            problems.append(
                _fault(
                    name,
                    1,
                    "removed",
                    f"stream {name!r} is gone: {label} holds it at version {version} "
                    f"(head {head[:12]}…); versions 1 to {version} were deleted",
                )
            )
            continue
        if now < version:
            problems.append(
                _fault(
                    name,
                    now + 1,
                    "truncated",
                    f"stream {name!r} ends at version {now}, but {label} holds it at version "
                    f"{version}: versions {now + 1} to {version} were deleted (truncated or "
                    f"rolled back)",
                )
            )
            continue
        row = by_key.get((name, version))
        if row is None or row.hash != head:
            first = _first_difference(name, version, by_key, trusted, checkpoint, active)
            problems.append(
                _fault(
                    name,
                    first[0],
                    "rewritten",
                    f"stream {name!r}: version {version} no longer has the head hash of {label} "
                    f"({head[:12]}…): its history was rewritten and the chain recomputed; "
                    f"{first[1]}",
                )
            )
    count, root = tree
    if count != checkpoint.size or root != checkpoint.root:
        covered = [r for r in rows if r.position <= checkpoint.position]
        where = _first_leaf_difference(covered, trusted, checkpoint.size)
        stream, at_version, detail = where
        problems.append(
            _fault(
                stream,
                at_version,
                "rewritten" if stream else "checkpoint",
                f"the events up to position {checkpoint.position} no longer give the Merkle "
                f"root of {label} ({count} events, {checkpoint.size} witnessed); {detail}",
            )
        )
    return problems


def _first_difference(
    name: str,
    version: int,
    by_key: dict[tuple[str, int], _Row],
    trusted: list[_Leaf] | None,
    checkpoint: Checkpoint,
    active: list[Checkpoint],
) -> tuple[int | None, str]:
    if trusted is not None:
        for leaf in trusted:
            if leaf.stream != name or leaf.version > version:
                continue
            row = by_key.get((name, leaf.version))
            if row is None or row.leaf != leaf.hash:
                return (
                    leaf.version,
                    f"the first version that differs from what was witnessed is {leaf.version}",
                )
    good = 0
    for older in active:
        if older.seq >= checkpoint.seq or name not in older.streams:
            continue
        v, head = older.streams[name]
        row = by_key.get((name, v))
        if row is not None and row.hash == head and v > good:
            good = v
    return good + 1, (
        f"the first version that differs is after {good} and at most {version} (the stored "
        f"tree was altered too, so older checkpoints bound it)"
    )


def _first_leaf_difference(
    covered: list[_Row], trusted: list[_Leaf] | None, size: int
) -> tuple[str, int | None, str]:
    if trusted is None:
        return "", None, "the stored tree was altered too, so the event cannot be named from it"
    for index, leaf in enumerate(trusted[:size]):
        row = covered[index] if index < len(covered) else None
        if row is None or row.leaf != leaf.hash:
            now = (
                f"position {row.position} now holds stream {row.stream!r} version {row.version}"
                if row is not None
                else "nothing stands there now"
            )
            return (
                leaf.stream,
                leaf.version,
                f"the first event that differs is stream {leaf.stream!r} version {leaf.version} "
                f"(witnessed at position {leaf.position}); {now}",
            )
    extra = covered[size] if len(covered) > size else None
    if extra is not None:
        return (
            extra.stream,
            extra.version,
            f"stream {extra.stream!r} version {extra.version} (position {extra.position}) was "
            f"slipped in among the witnessed events",
        )
    return "", None, "no single event differs"


def _roots_at(rows: list[_Row], active: list[Checkpoint]) -> dict[int, tuple[int, str]]:
    """(leaf count, Merkle root) of the rows up to each checkpoint's position, in one pass."""
    frontier = Frontier()
    pending = sorted(active, key=lambda c: (c.position, c.seq))
    found: dict[int, tuple[int, str]] = {}
    index = 0
    for row in rows:
        while index < len(pending) and row.position > pending[index].position:
            found[pending[index].seq] = (frontier.size, frontier.root().hex())
            index += 1
        frontier.append(row.leaf)
    for checkpoint in pending[index:]:
        found[checkpoint.seq] = (frontier.size, frontier.root().hex())
    return found
