"""Launching a directive: validate its definition, record issuance in the ledger, start its first run.

Used by `chidao launch` and by the `launch` deployment, whose parameter form in the Prefect
UI takes a definition's path or its YAML pasted, and the catch-up policy. Nothing is recorded
unless the definition validates; launching a directive already in the ledger is refused, not a
second lifecycle; launching one whose report dates have passed needs a catch-up policy
(`lifecycle.catchup`), and without one records nothing and shows the preview and the choices.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from prefect import flow
from prefect.deployments.flow_runs import arun_deployment

from chidao.settings import load_settings
from definitions.calendar import TIMEZONE, default_calendar
from definitions.loader import load_definition, load_directory
from definitions.resolve import ResolvedDirective, resolve
from flows.clock import SystemClock
from i18n.times import person_time
from ledger.directives import Directives
from lifecycle.catchup import (
    POLICIES,
    CatchUp,
    Preview,
    current_of,
    launch_commands,
    needs_policy,
    passed_cycles,
    preview,
)
from lifecycle.commands import operator
from tasks.runtime import directives_for
from tasks.schedule import DIRECTIVE_DEPLOYMENT, ISSUED, run_name

# Who launched from the Prefect UI is Prefect's to know; without CHIDAO_OPERATOR it is this.
PREFECT_UI_OPERATOR = "prefect-ui"


class LaunchRefused(Exception):
    """The directive cannot be launched; the message says why."""


@dataclass(frozen=True)
class Launched:
    directive: str
    reference: str
    version: int


def resolve_file(path: Path) -> ResolvedDirective:
    directory = load_directory()
    return resolve(load_definition(path, directory), directory)


class PolicyNeeded(LaunchRefused):
    """The directive's dates have passed and no catch-up policy was given; nothing recorded."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.text = text


def describe(resolved: ResolvedDirective, shown: Preview) -> str:
    """The preview for people: cycles opened and left out, how many notices of each kind, and
    every escalation with its level and to whom."""
    lines = [
        f"{resolved.definition.reference} ({resolved.definition.id}), launched "
        f"{shown.at.astimezone(TIMEZONE):%d/%m/%Y %H:%M} under catch-up policy "
        f"{shown.policy or 'full'}:",
        f"  cycles opened: {', '.join(shown.opened) or '-'}",
    ]
    if shown.not_tracked:
        lines.append(f"  cycles recorded as not tracked: {', '.join(shown.not_tracked)}")
    lines.append(f"  notices at once: {len(shown.actions)}")
    lines.extend(f"    {kind}: {count}" for kind, count in sorted(shown.by_kind().items()))
    escalations = shown.escalations()
    if escalations:
        lines.append(f"  escalations ({len(escalations)}):")
        lines.extend(
            f"    {a.cycle} {a.agency} level {a.level} → {a.recipient}" for a in escalations
        )
    return "\n".join(lines)


def choices_text(resolved: ResolvedDirective, now: dt.datetime) -> str:
    passed = passed_cycles(resolved, now)
    current = current_of(resolved, now)
    return (
        f"{resolved.definition.reference}: the report dates of {len(passed)} cycles "
        f"({', '.join(c.id for c in passed)}) have passed; nothing was recorded. Choose:\n"
        f"  --catch-up current   open only the current cycle ({current.id}); the earlier ones are "
        "recorded as not tracked\n"
        "  --catch-up full      track every cycle since issuance: all the reminders and "
        "escalations above, at once"
    )


def check_policy(
    resolved: ResolvedDirective, at: dt.datetime, policy: CatchUp | None
) -> Preview:
    """The preview of this launch; PolicyNeeded when its dates passed and no policy was given."""
    shown = preview(resolved, at, default_calendar(), policy)
    if policy is None and needs_policy(resolved, at):
        full = describe(resolved, shown)
        raise PolicyNeeded(f"{full}\n\n{choices_text(resolved, at)}")
    return shown


def record_issuance(
    directives: Directives,
    resolved: ResolvedDirective,
    at: dt.datetime,
    policy: CatchUp | None = None,
    *,
    actor: str,
) -> Launched:
    """Issuance recorded once, by `actor` (`operator:<id>`), with the catch-up policy's
    choices; a second launch of the same directive is refused, and so is one past its dates
    without a policy (nothing recorded)."""
    directive_id = resolved.definition.id
    if directives.exists(directive_id):
        state = directives.state(directive_id)
        issued = person_time(state.issued_at) if state.issued_at else "earlier"
        raise LaunchRefused(
            f"{resolved.definition.reference} ({directive_id}) was already launched on {issued}; "
            "use `chidao amend` to change it"
        )
    check_policy(resolved, at, policy)
    commands = launch_commands(resolved, at, policy, actor)
    with directives.transaction() as tx:  # the issuance and its policy, or nothing
        outcome = directives.execute(
            directive_id, commands[0], at, key=f"issue:{directive_id}", conn=tx
        )
        for command in commands[1:]:
            outcome = directives.execute(
                directive_id, command, at, key=f"launch:{directive_id}:{command.kind}", conn=tx
            )
    return Launched(directive_id, resolved.definition.reference, outcome.state.version)


async def start_first_run(directive_id: str, reference: str, at: dt.datetime) -> str:
    """A run of the directive flow now; returns its id."""
    name = run_name(reference, None, ISSUED, at)
    run = await arun_deployment(
        name=DIRECTIVE_DEPLOYMENT,
        parameters={"directive_id": directive_id, "label": name},
        flow_run_name=name,
        timeout=0,
        idempotency_key=f"{directive_id}-launch",
        tags=[f"directive:{directive_id}"],
        as_subflow=False,
    )
    return str(run.id)


def policy_of(value: str | None) -> CatchUp | None:
    if not value:
        return None
    if value not in POLICIES:
        raise LaunchRefused(f"catch-up policy {value!r}: give one of {', '.join(POLICIES)}")
    return cast(CatchUp, value)


@flow(name="launch", persist_result=False)
async def launch(
    definition_path: str = "", definition_yaml: str = "", catch_up: str = ""
) -> dict[str, str]:
    """Launch a directive from the Prefect UI: give its definition's path, or paste its YAML.

    `catch_up` (`current` or `full`) is needed when the directive's dates have passed; without
    it such a launch records nothing and fails with the preview and the choices."""
    policy = policy_of(catch_up)
    if bool(definition_path) == bool(definition_yaml):
        raise LaunchRefused("give either definition_path or definition_yaml, not both or neither")
    if definition_yaml:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "definition.yaml"
            path.write_text(definition_yaml, encoding="utf-8")
            resolved = resolve_file(path)
    else:
        resolved = resolve_file(Path(definition_path))
    settings = load_settings()
    now = SystemClock().now()
    launched = record_issuance(
        directives_for(settings.resolved_database_url),
        resolved,
        now,
        policy,
        actor=operator(settings.operator or PREFECT_UI_OPERATOR),
    )
    run_id = await start_first_run(launched.directive, launched.reference, now)
    return {"directive": launched.directive, "flow_run": run_id}
