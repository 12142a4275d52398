"""Launching a directive: validate its definition, record issuance in the ledger, start its first run.

Used by `chidao launch` and by the `launch` deployment, whose parameter form in the Prefect
UI takes a definition's path or its YAML pasted. Nothing is recorded unless the definition
validates; launching a directive already in the ledger is refused, not a second lifecycle.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass
from pathlib import Path

from prefect import flow
from prefect.deployments.flow_runs import arun_deployment

from chidao.settings import load_settings
from definitions.loader import load_definition, load_directory
from definitions.resolve import ResolvedDirective, resolve
from flows.clock import SystemClock
from i18n.times import person_time
from ledger.directives import Directives
from lifecycle import commands as c
from lifecycle.commands import operator
from tasks.runtime import directives_for
from tasks.schedule import DIRECTIVE_DEPLOYMENT

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


def record_issuance(
    directives: Directives, resolved: ResolvedDirective, at: dt.datetime, *, actor: str
) -> Launched:
    """Issuance recorded once, by `actor` (`operator:<id>`); a second launch is refused."""
    directive_id = resolved.definition.id
    if directives.exists(directive_id):
        state = directives.state(directive_id)
        issued = person_time(state.issued_at) if state.issued_at else "earlier"
        raise LaunchRefused(
            f"{resolved.definition.reference} ({directive_id}) was already launched on {issued}; "
            "use `chidao amend` to change it"
        )
    outcome = directives.execute(
        directive_id,
        c.Issue(actor=actor, resolved=resolved.model_dump(mode="json")),
        at,
        key=f"issue:{directive_id}",
    )
    return Launched(directive_id, resolved.definition.reference, outcome.state.version)


async def start_first_run(directive_id: str, reference: str) -> str:
    """A run of the directive flow now; returns its id."""
    run = await arun_deployment(
        name=DIRECTIVE_DEPLOYMENT,
        parameters={"directive_id": directive_id, "label": f"{reference} · ban hành"},
        flow_run_name=f"{reference} · ban hành",
        timeout=0,
        idempotency_key=f"{directive_id}-launch",
        tags=[f"directive:{directive_id}"],
        as_subflow=False,
    )
    return str(run.id)


@flow(name="launch", persist_result=False)
async def launch(definition_path: str = "", definition_yaml: str = "") -> dict[str, str]:
    """Launch a directive from the Prefect UI: give its definition's path, or paste its YAML."""
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
    launched = record_issuance(
        directives_for(settings.resolved_database_url),
        resolved,
        SystemClock().now(),
        actor=operator(settings.operator or PREFECT_UI_OPERATOR),
    )
    run_id = await start_first_run(launched.directive, launched.reference)
    return {"directive": launched.directive, "flow_run": run_id}
