"""`chidao launch`, `status`, `amend` and `simulate`: running directives as flows."""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path
from typing import Annotated, Any, Literal

from cyclopts import Parameter

from chidao.cli.common import CliError, operator_actor, print_json, said, settings
from definitions.calendar import TIMEZONE, default_calendar
from definitions.errors import DefinitionError
from flows.clock import SystemClock
from i18n import _, current_language
from i18n.times import local, person_date, person_time
from ledger.directives import DirectiveNotFound, Directives
from ledger.errors import LedgerError
from lifecycle import Refused, next_wakeup, pending_actions
from lifecycle.state import DirectiveState
from lifecycle.status import (
    action_label,
    counts,
    current_rows,
    directive_status_label,
    event_label,
    standing_label,
)

DEFINITION = Annotated[Path, Parameter(name="DEFINITION", help=_("the definition file"))]
DIRECTIVE = Annotated[str, Parameter(help=_("the directive's id, e.g. qn-2810-ubnd-kgvx-2023"))]
JSON = Annotated[bool, Parameter(help=_("machine-readable output"))]
OPERATOR_ID = Annotated[
    str | None,
    Parameter(
        name="--operator",
        help=_("who does this, recorded as operator:ID (default CHIDAO_OPERATOR, else the login)"),
    ),
]


def _directives(database_url: str | None = None) -> Directives:
    from tasks.runtime import directives_for

    try:
        return directives_for(database_url or settings().resolved_database_url)
    except LedgerError as e:
        raise CliError(str(e)) from e


def _load_resolved(path: Path) -> Any:
    from flows.launch import resolve_file

    try:
        return resolve_file(path)
    except DefinitionError as e:
        raise CliError(_("the definition is invalid; nothing was recorded:") + f"\n{e}") from e


def _ui_url(run_id: str) -> str:
    from prefect.settings import PREFECT_UI_URL

    base = PREFECT_UI_URL.value() or "http://127.0.0.1:4200"
    return f"{base.rstrip('/')}/runs/flow-run/{run_id}"


def _prefect_answers() -> tuple[str | None, bool]:
    """The configured Prefect API URL and whether it answers now (at most 2 s; no temporary
    server is ever started: without PREFECT_API_URL there is no server to ask)."""
    import httpx
    from prefect.settings import PREFECT_API_URL

    url = PREFECT_API_URL.value()
    if not url:
        return None, False
    try:
        return url, httpx.get(f"{str(url).rstrip('/')}/health", timeout=2.0).status_code == 200
    except httpx.HTTPError:
        return url, False


def run_launch(
    definition: DEFINITION,
    /,
    *,
    no_run: Annotated[bool, Parameter(help=_("record issuance only; start no flow run"))] = False,
    dry_run: Annotated[
        bool,
        Parameter(
            help=_("print what launching would do (cycles, notices, escalations, to whom); record nothing")
        ),
    ] = False,
    catch_up: Annotated[
        Literal["current", "summary", "full"] | None,
        Parameter(
            help=_(
                "for a directive whose dates have passed: open only the current cycle, the "
                "current one and a digest per agency of what is overdue, or all"
            )
        ),
    ] = None,
    operator: OPERATOR_ID = None,
) -> int:
    from flows.launch import (
        LaunchRefused,
        PolicyNeeded,
        check_policy,
        choices_text,
        describe,
        record_issuance,
        start_first_run,
    )
    from lifecycle.catchup import needs_policy

    actor = operator_actor(operator)
    resolved = _load_resolved(definition)
    now = SystemClock().now()
    if dry_run:
        try:
            shown = check_policy(resolved, now, catch_up)
        except PolicyNeeded as e:
            print(e.text)
            return 0
        print(describe(resolved, shown))
        if catch_up is None and needs_policy(resolved, now):
            print(choices_text(resolved, now))
        print(_("dry run: nothing was recorded, nothing sent"))
        return 0
    try:
        check_policy(resolved, now, catch_up)  # before the ledger is even opened
        launched = record_issuance(_directives(), resolved, now, catch_up, actor=actor)
    except PolicyNeeded as e:
        print(e.text)
        return 2  # a choice to make, not an error: the same from a script, CI or a terminal
    except LaunchRefused as e:
        raise CliError(str(e)) from e
    print(
        _("directive: {directive} ({reference}) issued").format(
            directive=launched.directive, reference=launched.reference
        )
    )
    if no_run:
        return 0
    url, answers = _prefect_answers()
    where = (
        _("the Prefect server at {url} does not answer").format(url=url)
        if url
        else _("PREFECT_API_URL is not set")
    )
    if answers:
        try:
            import asyncio  # here, not at the top: `status` needs no event loop

            run_id = asyncio.run(start_first_run(launched.directive, launched.reference, now))
        except Exception as e:  # no deployment yet, or the server went away meanwhile
            where = _("the Prefect server at {url} did not take the first run ({error})").format(
                url=url, error=e.__class__.__name__
            )
        else:
            print(_("flow run: {run_id}").format(run_id=run_id) + f"\n{_ui_url(run_id)}")
            return 0
    print(
        _(
            "{where}: issuance is recorded in the ledger, and the first run will be created when "
            "the server is back (the sweeper of `chidao up` starts every directive that has "
            "none).\ncheck: `chidao status {directive}` (the ledger, now), and once the server "
            "runs, its runs in the UI (tag directive:{directive})"
        ).format(where=where, directive=launched.directive),
        file=sys.stderr,
    )
    return 0


def status_as_json(state: DirectiveState, now: dt.datetime) -> dict[str, Any]:
    cycle, rows = current_rows(state, now)
    calendar = default_calendar()
    upcoming = pending_actions(state, calendar)
    wake = next_wakeup(state, now, calendar)
    return {
        "directive": state.id,
        "reference": state.definition.definition.reference,
        "status": state.status,
        "as_of": now.isoformat(),
        "cycle": cycle,
        "cycles": {k: v.status for k, v in state.cycles.items()},
        "counts": counts(rows),
        "agencies": [r.model_dump(mode="json") for r in rows],
        "failed_notifications": [
            {"key": n.key, "kind": n.kind, "recipient": n.recipient, "error": n.detail}
            for n in state.notifications.values()
            if n.status == "failed"
        ],
        "next": {
            "at": wake.isoformat() if wake else None,
            "actions": [
                {
                    "kind": a.kind,
                    "agency": a.agency,
                    "cycle": a.cycle,
                    "due_at": a.due_at.isoformat(),
                }
                for a in upcoming
                if wake is not None and a.due_at == wake
            ],
        },
    }


def projected_status(
    engine: Any, directive_id: str, now: dt.datetime, *, fresh: bool = False
) -> dict[str, Any] | None:
    """What `status_as_json` says of the directive, read from the projections (its row and
    its current cycle's works) instead of its state; None when there is no such directive.
    With `fresh`, the caller has just brought the rows up to date (`projections.refresh`)."""
    from ledger.works import directive_summary, rows_for_directive, status_rows

    summary = directive_summary(engine, directive_id, fresh=fresh)
    if summary is None or summary.status == "new":
        return None
    cycle = summary.current_cycle
    rows = status_rows(rows_for_directive(engine, directive_id, cycle, fresh=True), now) if cycle else []
    wake, actions = summary.next_wakeup(now)
    return {
        "directive": summary.directive,
        "reference": summary.reference,
        "status": summary.status,
        "as_of": now.isoformat(),
        "cycle": cycle,
        "cycles": dict(summary.cycles),
        "counts": counts(rows),
        "agencies": [r.model_dump(mode="json") for r in rows],
        "failed_notifications": summary.failed_notifications,
        "next": {
            "at": wake.isoformat() if wake else None,
            "actions": [
                {
                    "kind": a["kind"],
                    "agency": a["agency"],
                    "cycle": a["cycle"],
                    "due_at": dt.datetime.fromisoformat(a["due_at"]).isoformat(),
                }
                for a in actions
            ],
        },
    }


def _print_status(data: dict[str, Any]) -> None:
    """One directive's status for the operator: their language, Vietnam's dates and times."""
    lang = current_language()
    print(
        _("{reference} ({directive}) — {status}, cycle {cycle}").format(
            reference=data["reference"], directive=data["directive"],
            status=directive_status_label(data["status"], lang), cycle=data["cycle"] or "—",
        )
    )  # fmt: skip
    print("  " + ", ".join(f"{standing_label(k, lang)}: {v}" for k, v in data["counts"].items() if v))
    width = max((len(standing_label(k, lang)) for k in data["counts"]), default=18)
    for row in data["agencies"]:
        line = _("{agency}  {standing}  due {due}  items {done}/{assigned}").format(
            agency=f"{row['agency']:<24}", standing=f"{standing_label(row['status'], lang):<{width}}",
            due=person_date(dt.date.fromisoformat(row["due"])), done=row["items_done"],
            assigned=row["items_assigned"],
        )  # fmt: skip
        if row["escalation_level"]:
            line += "  " + _("escalation level {level}").format(level=row["escalation_level"])
        print("  " + line)
    for failed in data["failed_notifications"]:
        print("  ! " + _("mail {kind} to {recipient} failed: {error}").format(**failed))
    nxt = data["next"]
    if nxt["at"]:
        kinds = ", ".join(sorted({action_label(a["kind"], lang) for a in nxt["actions"]}))
        when = person_time(dt.datetime.fromisoformat(nxt["at"]))
        print("  " + _("next: {at} ({kinds})").format(at=when, kinds=kinds))


def run_status(
    directive: Annotated[
        str | None, Parameter(help=_("one directive's id (default: every directive)"))
    ] = None,
    /,
    *,
    json: JSON = False,
    as_of: Annotated[
        dt.datetime | None, Parameter(help=_("business time to judge deadlines at"))
    ] = None,
) -> int:
    from ledger.projections import refresh
    from ledger.works import directive_ids

    directives = _directives()
    engine = directives.store.engine
    now = as_of or SystemClock().now()
    if now.tzinfo is None:
        now = now.replace(tzinfo=TIMEZONE)
    ids = [directive] if directive else directive_ids(engine)  # (brings the rows up to date)
    if directive:
        refresh(engine)
    found = []
    for directive_id in ids:
        shown = projected_status(engine, directive_id, now, fresh=True)
        if shown is None:
            raise CliError(str(DirectiveNotFound(directive_id)))
        found.append(shown)
    if json:
        print_json(found[0] if directive else found)
    elif not found:
        print(_("no directive in the ledger; launch one with `chidao launch DEFINITION`"))
    else:
        for data in found:
            _print_status(data)
    return 0


def run_simulate(
    definition: DEFINITION,
    /,
    *,
    scenario: Annotated[
        Path | None, Parameter(help=_("scenario YAML (default: the packaged one)"))
    ] = None,
    until: Annotated[dt.date | None, Parameter(help=_("last simulated day (ISO date)"))] = None,
    json: Annotated[bool, Parameter(help=_("print the ledger timeline as JSON"))] = False,
    database: Annotated[
        str | None,
        Parameter(help=_("ledger URL (default: a new SQLite file under CHIDAO_HOME/simulations)")),
    ] = None,
    mail_dir: Annotated[
        Path | None,
        Parameter(help=_("write mail here instead of sending (default under the simulation folder)")),
    ] = None,
    smtp: Annotated[
        bool, Parameter(help=_("send mail through the configured SMTP server"))
    ] = False,
    directive_id: Annotated[
        str | None,
        Parameter(help=_("record the directive under this id instead of its own (the demo's `demo-…`)")),
    ] = None,
) -> int:
    from flows.simulate import load_scenario, packaged_scenario

    resolved = _load_resolved(definition)
    scenario_path = scenario or packaged_scenario(resolved.definition.id)
    if not scenario_path.exists():
        raise CliError(
            _("no scenario for {directive}: give one with --scenario").format(
                directive=resolved.definition.id
            )
        )
    try:
        loaded = load_scenario(scenario_path)
    except DefinitionError as e:
        raise CliError(_("the scenario is invalid:") + f"\n{e}") from e
    if directive_id:
        resolved, loaded = _renamed(resolved, loaded, directive_id)
    current = settings()
    stamp = local(SystemClock().now()).strftime("%Y%m%d-%H%M%S")
    folder = current.ensure_home() / "simulations" / f"{resolved.definition.id}-{stamp}"
    folder.mkdir(parents=True, exist_ok=True)
    database_url = database or f"sqlite:///{folder / 'ledger.db'}"
    os.environ["CHIDAO_DATABASE_URL"] = database_url
    if not smtp:
        os.environ["CHIDAO_MAIL_DRY_RUN_DIR"] = str(mail_dir or folder / "mail")
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    import asyncio

    entries = asyncio.run(_simulate(resolved, loaded, database_url, until, quiet=json))
    if json:
        print_json([e.model_dump(mode="json") for e in entries])
    else:
        for entry in entries:
            when = person_time(entry.at)
            who = " ".join(x for x in (entry.cycle, entry.agency) if x)
            what = event_label(entry.type, current_language())
            print(f"{when}  {entry.kind:<7} {what:<32} {who} {entry.detail}".rstrip())
        mail = os.environ.get("CHIDAO_MAIL_DRY_RUN_DIR") or _("sent by SMTP")
        print("\n" + _("ledger: {url}").format(url=database_url))
        print(_("mail: {where}").format(where=mail))
    return 0


def _renamed(resolved: Any, scenario: Any, directive_id: str) -> tuple[Any, Any]:
    """The definition and its scenario under another id (same directive, a ledger stream of its own)."""
    from pydantic import TypeAdapter, ValidationError

    from definitions.schema import Slug

    try:
        TypeAdapter(Slug).validate_python(directive_id)
    except ValidationError as e:
        raise CliError(
            f"--directive-id {directive_id!r}: lowercase letters, digits and dashes only"
        ) from e
    definition = resolved.definition.model_copy(update={"id": directive_id})
    return (
        resolved.model_copy(update={"definition": definition}),
        scenario.model_copy(update={"directive": directive_id}),
    )


def _simulated_label(directives: Directives, directive_id: str, now: dt.datetime) -> str:
    """A simulated run's name, by the pattern of every run: what falls due then, or an answer."""
    from flows.directive import reference_of
    from lifecycle import due_actions
    from lifecycle.planner import label
    from lifecycle.status import current_cycle
    from tasks.schedule import AGENCY_ANSWERED, run_name

    state = directives.state(directive_id)
    due = due_actions(state, now, default_calendar())
    if due:
        return run_name(reference_of(state), due[0].cycle or current_cycle(state), label(due[0]), now)
    return run_name(reference_of(state), current_cycle(state), AGENCY_ANSWERED, now)


async def _simulate(
    resolved: Any, scenario: Any, database_url: str, until: dt.date | None, *, quiet: bool
) -> Any:
    from prefect import tags
    from rich.progress import BarColumn, Progress, TextColumn

    from flows.directive import directive
    from flows.simulate import shared_prefect_clients, simulate

    directives = _directives(database_url)
    first = resolved.definition.issued_on
    last = until or scenario.until or first
    total = max((last - first).days, 1)

    async def run_flow(directive_id: str, now: dt.datetime) -> Any:
        # tagged like the scheduled runs, so the UI filters one directive's whole simulated life
        with tags(f"directive:{directive_id}", "simulated"):
            return await directive(
                directive_id=directive_id,
                at=now,
                schedule_next=False,
                label=_simulated_label(directives, directive_id, now),
            )

    with Progress(
        TextColumn("{task.description}"), BarColumn(), disable=quiet, transient=True
    ) as progress:
        bar = progress.add_task(_("simulating"), total=total)

        def on_tick(now: dt.datetime) -> None:
            day = now.astimezone(TIMEZONE).date()
            progress.update(
                bar,
                completed=(day - first).days,
                description=_("simulated date {day}").format(day=person_date(day)),
            )

        try:
            async with shared_prefect_clients():
                return await simulate(
                    resolved, scenario, directives, run_flow, until=until, on_tick=on_tick
                )
        except Refused as e:
            raise CliError(said(e)) from e
