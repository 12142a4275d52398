"""`chidao history`, `replay`, `verify`, `checkpoint` and `keys rotate`: the ledger's trust commands."""

from __future__ import annotations

import asyncio
import base64
import csv as csv_module
import datetime as dt
import json as json_module
import os
import sys
from pathlib import Path
from typing import Annotated, Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cyclopts import Parameter
from sqlalchemy import Engine

from chidao.cli.common import CliError, print_json, settings
from chidao.settings import (
    KEY_FILE_NAME,
    KeyProblem,
    Settings,
    as_fernet_key,
    check_key,
    create_exclusively,
    link_key_for,
)
from definitions.calendar import TIMEZONE
from flows.clock import SystemClock
from i18n import _, current_language
from i18n.times import person_date, person_time
from ledger.checkpoint import (
    Checkpoint,
    CheckpointError,
    append_to_log,
    make_checkpoint,
    newest_of,
    public_key_hex,
    read_log,
    stored_checkpoints,
)
from ledger.checkpoint import record_restore as restore_record
from ledger.definitions_store import check_definitions
from ledger.directives import DirectiveNotFound, Directives
from ledger.errors import LedgerError
from ledger.projections import check as check_projections
from ledger.projections import rebuild
from ledger.projections import refresh as refresh_projections
from ledger.snapshots import check_snapshots
from ledger.store import EventStore, StoredEvent
from ledger.witnessed import AuditReport, audit, merge
from lifecycle.status import (
    agency_rows,
    cycle_status_label,
    directive_status_label,
    event_label,
    standing_label,
)
from tasks.runtime import engine_for


def _engine() -> Engine:
    try:
        return engine_for(settings().resolved_database_url)
    except LedgerError as e:
        raise CliError(str(e)) from e


def _require(directives: Directives, directive_id: str) -> None:
    if not directives.exists(directive_id):
        known = ", ".join(directives.ids()) or _("none")
        raise CliError(
            _("no directive {directive} in the ledger (known: {known})").format(
                directive=directive_id, known=known
            )
        )


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
            when = person_time(e.business_time)
            what = event_label(e.type, current_language())
            by = _("by {actor}").format(actor=e.actor)
            print(f"{e.version:>5}  {when}  {what:<32} {_summary(e):<40} {by}")
    return 0


def _parse_moment(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError as e:
        raise CliError(
            _("--as-of {text!r} is not an ISO date-time (e.g. 2023-11-29T12:00)").format(text=text)
        ) from e
    return moment if moment.tzinfo else moment.replace(tzinfo=TIMEZONE)


def run_replay(
    directive: DIRECTIVE,
    /,
    *,
    as_of: Annotated[str, Parameter(help=_("ISO date-time (Asia/Ho_Chi_Minh when no offset)"))],
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
        raise CliError(
            _("{directive} had not been issued by {at}").format(
                directive=directive, at=person_time(moment)
            )
        )
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
    lang = current_language()
    print(
        _("{reference} ({directive}) as of {at}: {status}, {count} events").format(
            reference=state.definition.definition.reference, directive=state.id,
            at=person_time(moment), status=directive_status_label(state.status, lang),
            count=state.version,
        )
    )  # fmt: skip
    for cycle_id, cycle_data in cycles.items():
        print(
            _("cycle {cycle} ({status}), reports due {due}").format(
                cycle=cycle_id, status=cycle_status_label(cycle_data["status"], lang),
                due=person_date(dt.date.fromisoformat(cycle_data["report_due"])),
            )
        )  # fmt: skip
        for row in cycle_data["agencies"]:
            print(f"  {row['agency']:<24} {standing_label(row['status'], lang)}")
        if cycle_data["overdue"]:
            overdue = ", ".join(cycle_data["overdue"])
            print("  " + _("overdue then: {agencies}").format(agencies=overdue))
    return 0


def run_keys_rotate(
    *,
    new_key_file: Annotated[
        Path | None,
        Parameter(
            help=_(
                "the new key (needed when CHIDAO_SECRET_KEY is set); default: a fresh random "
                "key replaces the key file"
            )
        ),
    ] = None,
) -> int:
    """Re-encrypt every stored secret under a new key, then switch to it."""
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
    if new_key_file is not None:
        try:
            text = new_key_file.read_text(encoding="ascii").strip()
            check_key(text, f"the new key file {new_key_file}")
        except (OSError, UnicodeDecodeError) as e:
            raise CliError(f"cannot read --new-key-file {new_key_file}: {e}") from e
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
    from notifications.outbox import Outbox, OutboxError

    store = SecretStore(engine, old)
    try:
        count = store.rekey(new)
        bodies = Outbox(engine, body_key=link_key_for(old)).reseal(link_key_for(new))
    except (SecretStoreError, OutboxError) as e:
        staged.unlink(missing_ok=True)
        raise CliError(getattr(e, "detail", str(e))) from e
    if new_key_file is None:
        os.replace(staged, key_file)
        print(f"the new key is in {key_file}", file=sys.stderr)
    else:
        print("now set CHIDAO_SECRET_KEY (or the key file) to the new key", file=sys.stderr)
    print(
        f"re-encrypted {count} agency secret(s) and {bodies} outbox message(s) under the new "
        f"key; links already mailed no "
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
        from tasks.checkpoint import read_from_prefect  # Prefect loads only when it is asked

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


def run_verify(
    directive: Annotated[
        str | None, Parameter(help=_("one directive's id (default: every directive)"))
    ] = None,
    /,
    *,
    checkpoint: Annotated[
        Path | None,
        Parameter(
            help=_(
                "check against the checkpoints in FILE (one an auditor kept) instead of the witnesses"
            )
        ),
    ] = None,
    signatures: Annotated[
        bool,
        Parameter(
            help=_("also re-check every agency answer against the key it had registered then")
        ),
    ] = False,
) -> int:
    config = settings()
    engine = _engine()
    if directive:
        _require(Directives.over(engine), directive)
    if checkpoint is not None:
        if not checkpoint.is_file():
            raise CliError(f"--checkpoint {checkpoint}: no such file")
        found, notes = read_log(checkpoint)
        if not found:
            raise CliError(
                f"--checkpoint {checkpoint}: no signed checkpoint in it ({'; '.join(notes) or 'empty'})"
            )
        sources = [(str(checkpoint), found)]
    else:
        sources, notes = _witnessed(config, with_database=engine)
    report = AuditReport()
    merged = merge(sources, report)
    trusted = _trusted_keys(config)
    audited = audit(engine, merged, trusted_keys=trusted, stream=directive)
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
    streams = [directive] if directive else Directives.over(engine).ids()
    against = (
        _("against {checkpoint}").format(checkpoint=audited.newest.label())
        if audited.newest is not None
        else _("no checkpoint found to check against")
    )
    if audited.faults:
        for fault in audited.faults:
            print(f"{fault.kind}: {fault.message}", file=sys.stderr)
        if audited.newest is not None:
            satisfied = audited.satisfied.label() if audited.satisfied else "none"
            print(f"the ledger satisfies: {satisfied} ({against})", file=sys.stderr)
        if signatures:
            # Answers are checked anyway: a writer who also recomputed the chain is caught here.
            verify_signatures(engine, directive)
        return 1
    # the definitions the events name by hash are part of the record: edited or missing, the
    # directives naming them cannot be replayed, so the caches are not checked against them
    defined = check_definitions(engine, directive)
    for bad in defined:
        print(f"definition: {bad.message}", file=sys.stderr)
    if defined:
        return 1
    caches = check_snapshots(engine, directive)
    for cache in caches:
        print(
            f"snapshot: {cache.stream} at version {cache.version}: {cache.message}",
            file=sys.stderr,
        )
    for lagging in refresh_projections(engine):
        print(
            f"note: projections of {lagging} were at another version or calendar: rebuilt",
            file=sys.stderr,
        )
    projected = check_projections(engine, directive)
    for lag in projected:
        print(f"projection: {lag.directive}: {lag.message}", file=sys.stderr)
    from ledger.attachments import check as check_attachments

    files = check_attachments(engine, directive)
    for problem in files:
        print(f"attachment: {problem}", file=sys.stderr)
    if caches or projected or files:
        return 1
    print(
        _("chain intact: {count} directive(s) verified, {against}").format(
            count=len(streams), against=against
        )
    )
    print(_("snapshots and projections agree with replay"))
    if audited.unwitnessed:
        print(f"{audited.unwitnessed} event(s) after it are not checkpointed yet")
    if audited.superseded:
        print(
            f"superseded by a recorded restore: {', '.join(c.label() for c in audited.superseded)}"
        )
    if signatures:
        return verify_signatures(engine, directive)
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


def _publish(config: Settings, checkpoint: Checkpoint) -> list[str]:
    append_to_log(config.checkpoint_log_path, checkpoint)
    where = [str(config.checkpoint_log_path)]
    if os.environ.get("PREFECT_API_URL"):
        from tasks.checkpoint import publish_to_prefect

        try:
            asyncio.run(publish_to_prefect(checkpoint))
            where.append("the Prefect server")
        except Exception as e:  # the file witness has it; say what is missing
            print(f"chidao: not published to the Prefect server: {e}", file=sys.stderr)
    else:
        print("note: PREFECT_API_URL is not set: published to the file only", file=sys.stderr)
    return where


def run_checkpoint(
    *,
    record_restore: Annotated[
        bool,
        Parameter(
            help=_(
                "record (signed) that the ledger was restored from a backup, before work goes on"
            )
        ),
    ] = False,
    operator: Annotated[
        str | None, Parameter(help=_("who records the restore (your operator id)"))
    ] = None,
    reason: Annotated[str | None, Parameter(help=_("why the ledger was restored"))] = None,
) -> int:
    """Sign a checkpoint of the ledger and publish it to the witnesses."""
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
        if record_restore:
            return _record_restore(operator, reason, config, engine, key, newest, now)
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
    operator: str | None,
    reason: str | None,
    config: Settings,
    engine: Engine,
    key: Ed25519PrivateKey,
    newest: Checkpoint | None,
    now: dt.datetime,
) -> int:
    if not operator or not reason:
        raise CliError("--record-restore needs --operator ID and --reason TEXT")
    if newest is None:
        raise CliError("the witnesses hold no checkpoint: there is no restore to record")
    sources, _ = _witnessed(config, with_database=None)
    merged = merge(sources, AuditReport())
    report = audit(engine, merged, trusted_keys=_trusted_keys(config))
    record = restore_record(
        engine,
        key,
        now,
        witnessed=newest,
        satisfies=report.satisfied,
        operator=operator,
        reason=reason,
    )
    where = _publish(config, record)
    kept = report.satisfied.label() if report.satisfied else "no checkpoint"
    print(
        f"{record.label()} by {operator}: the ledger satisfies {kept}; checkpoints "
        f"{', '.join(f'#{s}' for s in record.restore['superseded']) if record.restore else ''} "
        f"are superseded; published to {' and '.join(where)}"
    )
    return 0


def run_projections_rebuild() -> int:
    engine = _engine()
    count = rebuild(engine)
    print(_("projections rebuilt from the events of {count} directive(s)").format(count=count))
    return 0
