"""`chidao history`, `replay` and `verify`: what auditors run against the ledger."""

from __future__ import annotations

import csv as csv_module
import datetime as dt
import json as json_module
import sys
from typing import Annotated, Any

from cyclopts import Parameter
from sqlalchemy import Engine

from chidao.cli.common import CliError, print_json, settings
from definitions.calendar import TIMEZONE
from i18n import _
from ledger.directives import DirectiveNotFound, Directives
from ledger.errors import LedgerError
from ledger.store import EventStore, StoredEvent
from ledger.verify import verify
from lifecycle.status import STANDING_VI, agency_rows
from tasks.runtime import engine_for


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


DIRECTIVE = Annotated[str, Parameter(help=_("the directive's id, e.g. qn-2810-ubnd-kgvx-2023"))]
JSON = Annotated[bool, Parameter(help=_("machine-readable output"))]


def run_history(
    directive: DIRECTIVE,
    /,
    *,
    json: JSON = False,
    csv: Annotated[bool, Parameter(help=_("CSV, one event a line"))] = False,
) -> int:
    if json and csv:
        raise CliError(_("--json and --csv cannot be used together"), exit_code=2)
    directives = Directives.over(_engine())
    _require(directives, directive)
    events = directives.events(directive)
    if json:
        print_json([event_row(e) for e in events])
    elif csv:
        writer = csv_module.DictWriter(sys.stdout, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for e in events:
            row = event_row(e)
            row["payload"] = json_module.dumps(e.payload, ensure_ascii=False, sort_keys=True)
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


def run_replay(
    directive: DIRECTIVE,
    /,
    *,
    as_of: Annotated[
        str, Parameter(help=_("ISO date-time (Asia/Ho_Chi_Minh when no offset)"))
    ],
    json: JSON = False,
) -> int:
    moment = _parse_moment(as_of)
    directives = Directives.over(_engine())
    _require(directives, directive)
    try:
        state = directives.state(directive, as_of=moment)
    except DirectiveNotFound as e:
        raise CliError(str(e)) from e
    if state.status == "new":
        raise CliError(f"{directive} had not been issued by {moment.isoformat()}")
    cycles: dict[str, dict[str, Any]] = {}
    for cycle_id, cycle in state.cycles.items():
        rows = agency_rows(state, cycle_id, moment)
        cycles[cycle_id] = {
            "status": cycle.status,
            "report_due": cycle.report_due.isoformat(),
            "agencies": [r.model_dump(mode="json") for r in rows],
            "overdue": [r.agency for r in rows if r.status == "overdue"],
        }
    data = {
        "directive": state.id,
        "as_of": moment.isoformat(),
        "version": state.version,
        "status": state.status,
        "cycles": cycles,
    }
    if json:
        print_json(data)
        return 0
    print(
        f"{state.definition.definition.reference} ({state.id}) as of {moment.isoformat()}: {state.status}, {state.version} events"
    )
    for cycle_id, cycle_data in cycles.items():
        print(f"cycle {cycle_id} ({cycle_data['status']}), reports due {cycle_data['report_due']}")
        for row in cycle_data["agencies"]:
            print(f"  {row['agency']:<24} {STANDING_VI[row['status']]}")
        if cycle_data["overdue"]:
            print(f"  overdue then: {', '.join(cycle_data['overdue'])}")
    return 0


def run_verify(
    directive: Annotated[
        str | None, Parameter(help=_("one directive's id (default: every directive)"))
    ] = None,
    /,
) -> int:
    engine = _engine()
    if directive:
        _require(Directives.over(engine), directive)
    faults = verify(engine, directive)
    if faults:
        for fault in faults:
            print(f"{fault.kind}: {fault.message}", file=sys.stderr)
        return 1
    streams = [directive] if directive else EventStore(engine).streams()
    print(f"chain intact: {len(streams)} directive(s) verified")
    return 0
