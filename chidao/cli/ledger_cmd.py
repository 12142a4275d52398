"""`chidao history`, `replay` and `verify`: what auditors run against the ledger."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import sys
from typing import Any

from sqlalchemy import Engine

from chidao.cli.common import CliError, print_json, settings
from definitions.calendar import TIMEZONE
from ledger.directives import DirectiveNotFound, Directives
from ledger.errors import LedgerError
from ledger.store import EventStore, StoredEvent
from ledger.verify import verify
from lifecycle.status import STANDING_VI, agency_rows
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
        "verify", help="walk the hash chain; name the first event altered"
    )
    check.add_argument("directive", nargs="?")
    check.add_argument(
        "--signatures",
        action="store_true",
        help="also re-check every agency answer against the key it had registered then",
    )
    check.set_defaults(func=run_verify)


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


def run_verify(args: argparse.Namespace) -> int:
    engine = _engine()
    if args.directive:
        _require(Directives.over(engine), args.directive)
    faults = verify(engine, args.directive)
    if faults:
        for fault in faults:
            print(f"{fault.kind}: {fault.message}", file=sys.stderr)
        if getattr(args, "signatures", False):
            # Answers are checked anyway: a writer who also recomputed the chain is caught here.
            verify_signatures(engine, args.directive)
        return 1
    streams = [args.directive] if args.directive else Directives.over(engine).ids()
    print(f"chain intact: {len(streams)} directive(s) verified")
    if getattr(args, "signatures", False):
        return verify_signatures(engine, args.directive)
    return 0


def verify_signatures(engine: Engine, directive: str | None) -> int:
    """`verify --signatures`: every agency answer against its signed request and key, offline."""
    from ledger.answers import check_answers

    report = check_answers(EventStore(engine), directive)
    for failure in report.failures:
        print(f"forged or altered answer: {failure}", file=sys.stderr)
    print(
        f"signatures: {report.agency_signed} answer(s) signed by the agency's own key verified; "
        f"{report.server_attested} server-attested ({report.form} through the browser form, "
        f"{report.hmac_signed} under a shared HMAC secret), not provable"
    )
    return 1 if report.failures else 0
