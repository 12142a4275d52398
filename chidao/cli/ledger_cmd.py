"""`chidao history`, `replay`, `verify` and `checkpoint`: what auditors run against the ledger."""

from __future__ import annotations

import argparse
import asyncio
import base64
import csv
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine

from chidao.cli.common import CliError, print_json, settings
from chidao.settings import (
    KEY_FILE_NAME,
    KeyProblem,
    Settings,
    as_fernet_key,
    check_key,
    create_exclusively,
)
from definitions.calendar import TIMEZONE
from flows.clock import SystemClock
from ledger.checkpoint import (
    Checkpoint,
    CheckpointError,
    append_to_log,
    make_checkpoint,
    newest_of,
    public_key_hex,
    read_log,
    record_restore,
    stored_checkpoints,
)
from ledger.directives import DirectiveNotFound, Directives
from ledger.errors import LedgerError
from ledger.store import EventStore, StoredEvent
from ledger.witnessed import AuditReport, audit, merge
from lifecycle.status import STANDING_VI, agency_rows
from tasks.checkpoint import publish_to_prefect, read_from_prefect
from tasks.runtime import engine_for


def register(subparsers: argparse._SubParsersAction) -> None:
    history = subparsers.add_parser("history", help="every event of a directive, in order")
    history.add_argument("directive")
    fmt = history.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--csv", action="store_true")
    history.set_defaults(func=run_history)

    replay = subparsers.add_parser("replay", help="a directive as it stood at a moment")
    replay.add_argument("directive")
    replay.add_argument(
        "--as-of", required=True, help="ISO date-time (Asia/Ho_Chi_Minh when no offset)"
    )
    replay.add_argument("--json", action="store_true")
    replay.set_defaults(func=run_replay)

    check = subparsers.add_parser(
        "verify",
        help="walk the hash chain and check the ledger against its witnessed checkpoints",
    )
    check.add_argument("directive", nargs="?")
    check.add_argument(
        "--checkpoint",
        type=Path,
        metavar="FILE",
        help="check against the checkpoints in FILE (one an auditor kept) instead of the witnesses",
    )
    check.set_defaults(func=run_verify)

    seal = subparsers.add_parser(
        "checkpoint", help="sign a checkpoint of the ledger and publish it to the witnesses"
    )
    seal.add_argument(
        "--record-restore",
        action="store_true",
        help="record (signed) that the ledger was restored from a backup, before work goes on",
    )
    seal.add_argument("--operator", help="who records the restore (your operator id)")
    seal.add_argument("--reason", help="why the ledger was restored")
    seal.set_defaults(func=run_checkpoint)

    keys = subparsers.add_parser("keys", help="the secret key everything stored is encrypted under")
    key_commands = keys.add_subparsers(dest="keys_command", metavar="ACTION")
    rotate = key_commands.add_parser(
        "rotate", help="re-encrypt every stored secret under a new key, then switch to it"
    )
    rotate.add_argument(
        "--new-key-file",
        type=Path,
        metavar="FILE",
        help="the new key (needed when CHIDAO_SECRET_KEY is set); default: a fresh random key "
        "replaces the key file",
    )
    rotate.set_defaults(func=run_keys_rotate)
    keys.set_defaults(func=lambda _args: _usage(keys))


def _engine() -> Engine:
    try:
        return engine_for(settings().resolved_database_url)
    except LedgerError as e:
        raise CliError(str(e)) from e


def _require(directives: Directives, directive_id: str) -> None:
    if not directives.exists(directive_id):
        known = ", ".join(directives.ids()) or "none"
        raise CliError(f"no directive {directive_id} in the ledger (known: {known})")


CSV_COLUMNS = (
    "version",
    "position",
    "type",
    "business_time",
    "recorded_at",
    "actor",
    "idempotency_key",
    "hash",
    "payload",
)


def event_row(event: StoredEvent) -> dict[str, Any]:
    return {
        "version": event.version,
        "position": event.position,
        "type": event.type,
        "business_time": event.business_time.isoformat(),
        "recorded_at": event.recorded_at.isoformat(),
        "actor": event.actor,
        "idempotency_key": event.idempotency_key,
        "schema_version": event.schema_version,
        "hash": event.hash,
        "payload": event.payload,
    }


def _summary(event: StoredEvent) -> str:
    payload = event.payload
    parts = [
        str(payload[k])
        for k in ("cycle", "agency", "item", "level")
        if payload.get(k) not in (None, "")
    ]
    if event.type == "DirectiveIssued":
        parts = [payload["directive_id"]]
    return " ".join(parts)


def run_history(args: argparse.Namespace) -> int:
    directives = Directives.over(_engine())
    _require(directives, args.directive)
    events = directives.events(args.directive)
    if args.json:
        print_json([event_row(e) for e in events])
    elif args.csv:
        writer = csv.DictWriter(sys.stdout, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for e in events:
            row = event_row(e)
            row["payload"] = json.dumps(e.payload, ensure_ascii=False, sort_keys=True)
            writer.writerow({k: row[k] for k in CSV_COLUMNS})
    else:
        for e in events:
            when = e.business_time.astimezone(TIMEZONE).strftime("%d/%m/%Y %H:%M")
            print(f"{e.version:>5}  {when}  {e.type:<28} {_summary(e):<40} by {e.actor}")
    return 0


def _parse_moment(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError as e:
        raise CliError(f"--as-of {text!r} is not an ISO date-time (e.g. 2023-11-29T12:00)") from e
    return moment if moment.tzinfo else moment.replace(tzinfo=TIMEZONE)


def run_replay(args: argparse.Namespace) -> int:
    as_of = _parse_moment(args.as_of)
    directives = Directives.over(_engine())
    _require(directives, args.directive)
    try:
        state = directives.state(args.directive, as_of=as_of)
    except DirectiveNotFound as e:
        raise CliError(str(e)) from e
    if state.status == "new":
        raise CliError(f"{args.directive} had not been issued by {as_of.isoformat()}")
    cycles: dict[str, dict[str, Any]] = {}
    for cycle_id, cycle in state.cycles.items():
        rows = agency_rows(state, cycle_id, as_of)
        cycles[cycle_id] = {
            "status": cycle.status,
            "report_due": cycle.report_due.isoformat(),
            "agencies": [r.model_dump(mode="json") for r in rows],
            "overdue": [r.agency for r in rows if r.status == "overdue"],
        }
    data = {
        "directive": state.id,
        "as_of": as_of.isoformat(),
        "version": state.version,
        "status": state.status,
        "cycles": cycles,
    }
    if args.json:
        print_json(data)
        return 0
    print(
        f"{state.definition.definition.reference} ({state.id}) as of {as_of.isoformat()}: {state.status}, {state.version} events"
    )
    for cycle_id, cycle_data in cycles.items():
        print(f"cycle {cycle_id} ({cycle_data['status']}), reports due {cycle_data['report_due']}")
        for row in cycle_data["agencies"]:
            print(f"  {row['agency']:<24} {STANDING_VI[row['status']]}")
        if cycle_data["overdue"]:
            print(f"  overdue then: {', '.join(cycle_data['overdue'])}")
    return 0


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def run_keys_rotate(args: argparse.Namespace) -> int:
    from chidao.webhook.errors import SecretStoreError
    from chidao.webhook.secrets import SecretStore

    config = settings()
    engine = _engine()
    try:
        old = config.encryption_key()
    except KeyProblem as e:
        raise CliError(str(e)) from e
    key_file = config.home / KEY_FILE_NAME
    staged = key_file.with_name(KEY_FILE_NAME + ".new")
    if args.new_key_file is not None:
        try:
            text = args.new_key_file.read_text(encoding="ascii").strip()
            check_key(text, f"the new key file {args.new_key_file}")
        except (OSError, UnicodeDecodeError) as e:
            raise CliError(f"cannot read --new-key-file {args.new_key_file}: {e}") from e
        except KeyProblem as e:
            raise CliError(str(e)) from e
        new = as_fernet_key(text)
    elif config.secret_key is not None:
        raise CliError(
            "CHIDAO_SECRET_KEY is set: give the new key with --new-key-file FILE, then set "
            "CHIDAO_SECRET_KEY to it"
        )
    else:
        if staged.exists():
            raise CliError(
                f"{staged} exists: an earlier rotation stopped half-way. If the stored secrets "
                f"open under it, move it over {key_file}; otherwise delete it and rotate again"
            )
        new = base64.urlsafe_b64encode(os.urandom(32))
        create_exclusively(staged, new)  # the new key is safe on disk before anything uses it
    store = SecretStore(engine, old)
    try:
        count = store.rekey(new)
    except SecretStoreError as e:
        staged.unlink(missing_ok=True)
        raise CliError(e.detail) from e
    if args.new_key_file is None:
        os.replace(staged, key_file)
        print(f"the new key is in {key_file}", file=sys.stderr)
    else:
        print("now set CHIDAO_SECRET_KEY (or the key file) to the new key", file=sys.stderr)
    print(
        f"re-encrypted {count} agency secret(s) under the new key; links already mailed no "
        f"longer open the form (each new mail brings a fresh one)"
    )
    return 0


def _trusted_keys(config: Settings) -> set[str] | None:
    """The server key's public half, if its file is here (verify never creates it)."""
    path = config.checkpoint_key_path
    if not path.exists():
        return None
    try:
        return {public_key_hex(config.checkpoint_key().public_key())}
    except KeyProblem as e:
        raise CliError(str(e)) from e


def _witnessed(
    config: Settings, *, with_database: Engine | None
) -> tuple[list[tuple[str, list[Checkpoint]]], list[str]]:
    """Every checkpoint the witnesses hold (and the database's own copy), by source."""
    sources: list[tuple[str, list[Checkpoint]]] = []
    notes: list[str] = []
    found, problems = read_log(config.checkpoint_log_path)
    sources.append((str(config.checkpoint_log_path), found))
    notes.extend(problems)
    if os.environ.get("PREFECT_API_URL"):
        try:
            found, problems = asyncio.run(read_from_prefect())
            sources.append(("the Prefect server", found))
            notes.extend(problems)
        except Exception as e:  # an unreachable witness is reported, not fatal
            notes.append(f"the Prefect server's checkpoints could not be read: {e}")
    if with_database is not None:
        try:
            sources.append(("the database", stored_checkpoints(with_database)))
        except CheckpointError as e:
            notes.append(str(e))
    return sources, notes


def run_verify(args: argparse.Namespace) -> int:
    config = settings()
    engine = _engine()
    if args.directive:
        _require(Directives.over(engine), args.directive)
    if args.checkpoint is not None:
        if not args.checkpoint.is_file():
            raise CliError(f"--checkpoint {args.checkpoint}: no such file")
        found, notes = read_log(args.checkpoint)
        if not found:
            raise CliError(
                f"--checkpoint {args.checkpoint}: no signed checkpoint in it ({'; '.join(notes) or 'empty'})"
            )
        sources = [(str(args.checkpoint), found)]
    else:
        sources, notes = _witnessed(config, with_database=engine)
    report = AuditReport()
    merged = merge(sources, report)
    trusted = _trusted_keys(config)
    audited = audit(engine, merged, trusted_keys=trusted, stream=args.directive)
    audited.faults[:0] = report.faults
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    if trusted is None and merged:
        keys = sorted({c.public_key[:16] for c in merged})
        print(
            f"note: no server key here; checkpoints checked against the key each names "
            f"({', '.join(keys)}…)",
            file=sys.stderr,
        )
    streams = [args.directive] if args.directive else EventStore(engine).streams()
    against = (
        f"against {audited.newest.label()}"
        if audited.newest is not None
        else "no checkpoint found to check against"
    )
    if audited.faults:
        for fault in audited.faults:
            print(f"{fault.kind}: {fault.message}", file=sys.stderr)
        if audited.newest is not None:
            satisfied = audited.satisfied.label() if audited.satisfied else "none"
            print(f"the ledger satisfies: {satisfied} ({against})", file=sys.stderr)
        return 1
    print(f"chain intact: {len(streams)} directive(s) verified, {against}")
    if audited.unwitnessed:
        print(f"{audited.unwitnessed} event(s) after it are not checkpointed yet")
    if audited.superseded:
        print(
            f"superseded by a recorded restore: {', '.join(c.label() for c in audited.superseded)}"
        )
    return 0


def _publish(config: Settings, checkpoint: Checkpoint) -> list[str]:
    append_to_log(config.checkpoint_log_path, checkpoint)
    where = [str(config.checkpoint_log_path)]
    if os.environ.get("PREFECT_API_URL"):
        try:
            asyncio.run(publish_to_prefect(checkpoint))
            where.append("the Prefect server")
        except Exception as e:  # the file witness has it; say what is missing
            print(f"chidao: not published to the Prefect server: {e}", file=sys.stderr)
    else:
        print("note: PREFECT_API_URL is not set: published to the file only", file=sys.stderr)
    return where


def run_checkpoint(args: argparse.Namespace) -> int:
    config = settings()
    engine = _engine()
    try:
        key = config.checkpoint_key()
    except KeyProblem as e:
        raise CliError(str(e)) from e
    sources, notes = _witnessed(config, with_database=None)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    newest = newest_of(c for _, found in sources for c in found)
    now = SystemClock().now()
    try:
        if args.record_restore:
            return _record_restore(args, config, engine, key, newest, now)
        checkpoint, made = make_checkpoint(engine, key, now, witnessed=newest)
    except CheckpointError as e:
        raise CliError(str(e)) from e
    if not made:
        print(f"nothing appended since {checkpoint.label()}: no new checkpoint")
        return 0
    where = _publish(config, checkpoint)
    print(
        f"{checkpoint.label()}: {checkpoint.size} events up to position {checkpoint.position}, "
        f"root {checkpoint.root}; published to {' and '.join(where)}"
    )
    return 0


def _record_restore(
    args: argparse.Namespace,
    config: Settings,
    engine: Engine,
    key: Ed25519PrivateKey,
    newest: Checkpoint | None,
    now: dt.datetime,
) -> int:
    if not args.operator or not args.reason:
        raise CliError("--record-restore needs --operator ID and --reason TEXT")
    if newest is None:
        raise CliError("the witnesses hold no checkpoint: there is no restore to record")
    sources, _ = _witnessed(config, with_database=None)
    merged = merge(sources, AuditReport())
    report = audit(engine, merged, trusted_keys=_trusted_keys(config))
    record = record_restore(
        engine,
        key,
        now,
        witnessed=newest,
        satisfies=report.satisfied,
        operator=args.operator,
        reason=args.reason,
    )
    where = _publish(config, record)
    kept = report.satisfied.label() if report.satisfied else "no checkpoint"
    print(
        f"{record.label()} by {args.operator}: the ledger satisfies {kept}; checkpoints "
        f"{', '.join(f'#{s}' for s in record.restore['superseded']) if record.restore else ''} "
        f"are superseded; published to {' and '.join(where)}"
    )
    return 0
