"""`chidao amend` and `chidao close`: changing a live directive, and ending it early.

`close ID --reason … [--superseded-by OTHER]` withdraws the open work with the reason, closes
the directive and, in the same transaction, records on OTHER that it supersedes ID.

`amend` records a changed definition with its reason and author; `--transfer FROM=TO,…`
(or `FROM=successors`) hands an ended agency's open work over, as of `--on`; `--dry-run`
prints what would change for each agency and records nothing.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated, Any

from cyclopts import Parameter

from chidao.cli.common import CliError, operator_actor, print_json, said
from chidao.cli.flow_cmd import DIRECTIVE, JSON, OPERATOR_ID, _directives
from definitions.errors import DefinitionError
from definitions.handover import HandoverSpec
from definitions.loader import load_definition, load_directory
from flows.clock import SystemClock
from i18n import _
from ledger.directives import DirectiveNotFound
from lifecycle import Refused
from lifecycle import commands as c
from lifecycle.amendment import amend_command, amendment_effect


def _day(text: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as e:
        raise CliError(f"{option}: not a date (YYYY-MM-DD): {text!r}", 2) from e


def _spec(text: str) -> HandoverSpec:
    source, sep, targets = text.partition("=")
    if not sep or not source.strip() or not targets.strip():
        raise CliError(f"--transfer: expected FROM=TO[,TO…] or FROM=successors, not {text!r}", 2)
    to: Any = "successors" if targets.strip() == "successors" else tuple(
        t.strip() for t in targets.split(",") if t.strip()
    )
    return HandoverSpec.model_validate({"from": source.strip(), "to": to})


def run_amend(
    directive: DIRECTIVE,
    definition: Annotated[Path, Parameter(name="DEFINITION", help=_("the definition file"))],
    /,
    *,
    reason: Annotated[str, Parameter(help=_("why, recorded with the amendment"))] = (
        "Người vận hành cập nhật định nghĩa."
    ),
    author: Annotated[str, Parameter(help=_("who decided it, recorded with the amendment"))] = "",
    transfer: Annotated[
        tuple[str, ...],
        Parameter(
            consume_multiple=False,
            help=_("hand an agency's open work over: FROM=TO[,TO…] or FROM=successors"),
        ),
    ] = (),
    on: Annotated[
        str | None, Parameter(help=_("the day the hand-overs take effect (default: today)"))
    ] = None,
    dry_run: Annotated[
        bool, Parameter(help=_("print what would change for each agency; record nothing"))
    ] = False,
    json: JSON = False,
    operator: OPERATOR_ID = None,
) -> int:
    actor = operator_actor(operator)
    directives = _directives()
    now = SystemClock().now()
    day = _day(on, "--on") if on else now.date()
    try:
        directory = load_directory()
        changed = load_definition(definition, directory)
        if changed.id != directive:
            raise CliError(
                _("{path} defines {found}, not {directive}").format(
                    path=definition, found=changed.id, directive=directive
                )
            )
        state = directives.state(directive)
        command = amend_command(
            state,
            changed,
            directory,
            tuple(_spec(t) for t in transfer),
            day,
            reason,
            author or actor,
            actor,
        )
        effect = amendment_effect(state, command, now)
    except DefinitionError as e:
        raise CliError(f"the amendment is invalid; nothing was recorded:\n{e}") from e
    except (Refused, DirectiveNotFound) as e:
        raise CliError(_("{reason}; nothing was recorded").format(reason=said(e))) from e
    if dry_run:
        _print_effect(directive, effect.agencies, effect.general, json)
        return 0
    try:
        outcome = directives.execute(
            directive, command, now, key=f"amend:{directive}:{now.isoformat()}", live=True
        )
    except (Refused, DirectiveNotFound) as e:
        raise CliError(_("{reason}; nothing was recorded").format(reason=said(e))) from e
    transfers = sum(1 for e in outcome.events if e.type == "WorkTransferred")
    print(
        _("{directive}: amendment recorded as event {version}; it takes effect from the next run")
        .format(directive=directive, version=outcome.state.version)
        + (f" ({transfers} hand-overs)" if transfers else "")
    )
    return 0


def _print_effect(directive: str, agencies: list[Any], general: list[str], json: bool) -> None:
    if json:
        print_json(
            {
                "directive": directive,
                "agencies": {c.agency: c.lines for c in agencies},
                "general": general,
            }
        )
        return
    print(f"{directive}: the amendment would change (nothing recorded):")
    for line in general:
        print(f"  {line}")
    for change in agencies:
        print(f"  {change.agency}")
        for line in change.lines:
            print(f"    {line}")
    if not agencies and not general:
        print("  nothing")


def run_close(
    directive: DIRECTIVE,
    /,
    *,
    reason: Annotated[str, Parameter(help=_("why it closes early, recorded with every withdrawal"))],
    superseded_by: Annotated[
        str | None, Parameter(help=_("the directive in the ledger that replaces it"))
    ] = None,
    operator: OPERATOR_ID = None,
) -> int:
    actor = operator_actor(operator)
    directives = _directives()
    now = SystemClock().now()
    if superseded_by is not None and not directives.exists(superseded_by):
        raise CliError(f"no directive {superseded_by} in the ledger; nothing was recorded")
    try:
        with directives.transaction() as tx:
            outcome = directives.execute(
                directive,
                c.CloseDirective(actor=actor, reason=reason, superseded_by=superseded_by),
                now,
                key=f"close:{directive}:{now.isoformat()}",
                conn=tx,
                live=True,
            )
            if superseded_by is not None:
                directives.execute(
                    superseded_by,
                    c.LinkSupersession(actor=actor, previous=directive, reason=reason),
                    now,
                    key=f"supersedes:{superseded_by}:{directive}",
                    conn=tx,
                    live=True,
                )
    except (Refused, DirectiveNotFound) as e:
        raise CliError(_("{reason}; nothing was recorded").format(reason=said(e))) from e
    withdrawn = sum(1 for e in outcome.events if e.type == "TaskWithdrawn")
    after = f", superseded by {superseded_by}" if superseded_by else ""
    print(f"{directive}: closed ({withdrawn} agencies' open work withdrawn){after}")
    return 0
