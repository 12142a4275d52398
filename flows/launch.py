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
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import cast

from prefect import flow
from prefect.deployments.flow_runs import arun_deployment

from chidao.settings import load_settings
from definitions.calendar import default_calendar
from definitions.loader import load_definition, load_directory
from definitions.resolve import ResolvedDirective, resolve
from flows.clock import SystemClock
from i18n import N_, gettext
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
from lifecycle.planner import Action
from notifications.compose import KIND_LABELS
from tasks.runtime import directives_for
from tasks.schedule import DIRECTIVE_DEPLOYMENT, ISSUED, run_name

# Who launched from the Prefect UI is Prefect's to know; without CHIDAO_OPERATOR it is this.
PREFECT_UI_OPERATOR = "prefect-ui"


# What each planner action sends, for the preview's counts (catalogue ids).
ACTION_LABELS: dict[str, str] = {
    "issue_notice": N_("notice of assignment"),
    "remind": N_("deadline reminder"),
    "escalate": N_("overdue escalation"),
    "request_consolidation": N_("request to consolidate the reports"),
    "close_cycle": N_("notice that a reporting cycle closed"),
    "open_cycle": N_("a new cycle opened"),
    "close_directive": N_("notice that the directive closed"),
    "notice": N_("notice"),
    "delivery_failed": N_("notice of a failed delivery"),
}


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


def describe(resolved: ResolvedDirective, shown: Preview, lang: str | None = None) -> str:
    """The preview for people, in `lang` (default: the process's): cycles opened and left out,
    how many notices of each kind, every escalation with its level and to whom, and under
    `summary` the digests."""
    policy = shown.policy or "full"
    lines = [
        gettext(
            "{reference} ({directive}), launched {at} under catch-up policy {policy}:", lang
        ).format(
            reference=resolved.definition.reference,
            directive=resolved.definition.id,
            at=person_time(shown.at),
            policy=policy,
        ),
        "  " + gettext("cycles opened: {cycles}", lang).format(cycles=", ".join(shown.opened) or "-"),
    ]
    if shown.not_tracked:
        lines.append(
            "  " + gettext("cycles recorded as not tracked: {cycles}", lang).format(
                cycles=", ".join(shown.not_tracked)
            )
        )
    lines.append("  " + gettext("notices at once: {count}", lang).format(count=len(shown.actions)))
    counted = Counter(_kind_label(a, lang) for a in shown.actions)
    lines.extend(f"    {kind}: {count}" for kind, count in sorted(counted.items()))
    escalations = shown.escalations()
    if escalations:
        lines.append("  " + gettext("escalations ({count}):", lang).format(count=len(escalations)))
        lines.extend(
            "    " + gettext("{cycle} {agency} level {level} → {recipient}", lang).format(
                cycle=a.cycle, agency=a.agency, level=a.level, recipient=a.recipient
            )
            for a in escalations
        )
    digests = shown.digests()
    if digests:
        lines.append(
            "  " + gettext("overdue digests, one per agency ({count}): {agencies}", lang).format(
                count=len(digests), agencies=", ".join(str(a.recipient) for a in digests)
            )
        )
    return "\n".join(lines)


def _kind_label(action: Action, lang: str | None) -> str:
    """What a notice is, in `lang`: the planner's action kind, or the notice's own kind."""
    if action.kind == "notice" and action.notice_kind in KIND_LABELS:
        return gettext(KIND_LABELS[action.notice_kind], lang)
    return gettext(ACTION_LABELS[action.kind], lang)


def choices_text(resolved: ResolvedDirective, now: dt.datetime, lang: str | None = None) -> str:
    passed = passed_cycles(resolved, now)
    current = current_of(resolved, now)
    ahead = next((c for c in resolved.cycles if c not in passed), None)
    return "\n".join(
        [
            gettext(
                "{reference}: the report dates of {count} cycles ({cycles}) have passed; "
                "nothing was recorded. Choose:",
                lang,
            ).format(
                reference=resolved.definition.reference,
                count=len(passed),
                cycles=", ".join(c.id for c in passed),
            ),
            "  --catch-up current   "
            + gettext(
                "open only the current cycle ({cycle}); the earlier ones are recorded as not "
                "tracked",
                lang,
            ).format(cycle=current.id),
            "  --catch-up summary   "
            + gettext(
                "every cycle whose report is overdue is left untracked, and each agency gets "
                "one digest of what it owed in them, instead of their escalations; tracking "
                "starts with the next report ahead ({cycle})",
                lang,
            ).format(cycle=ahead.id if ahead else "-"),
            "  --catch-up full      "
            + gettext(
                "track every cycle since issuance: all the reminders and escalations above, "
                "at once",
                lang,
            ),
        ]
    )


def check_policy(
    resolved: ResolvedDirective, at: dt.datetime, policy: CatchUp | None, lang: str | None = None
) -> Preview:
    """The preview of this launch; PolicyNeeded when its dates passed and no policy was given."""
    shown = preview(resolved, at, default_calendar(), policy)
    if policy is None and needs_policy(resolved, at):
        full = describe(resolved, shown, lang)
        raise PolicyNeeded(f"{full}\n\n{choices_text(resolved, at, lang)}")
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
        issued = person_time(state.issued_at) if state.issued_at else gettext("earlier")
        raise LaunchRefused(
            gettext(
                "{reference} ({directive}) was already launched on {at}; use `chidao amend` to "
                "change it"
            ).format(reference=resolved.definition.reference, directive=directive_id, at=issued)
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
        raise LaunchRefused(
            gettext("catch-up policy {value!r}: give one of {policies}").format(
                value=value, policies=", ".join(POLICIES)
            )
        )
    return cast(CatchUp, value)


@flow(name="launch", persist_result=False)
async def launch(
    definition_path: str = "", definition_yaml: str = "", catch_up: str = ""
) -> dict[str, str]:
    """Launch a directive from the Prefect UI: give its definition's path, or paste its YAML.

    `catch_up` (`current`, `summary` or `full`) is needed when the directive's dates have passed; without
    it such a launch records nothing and fails with the preview and the choices."""
    policy = policy_of(catch_up)
    if bool(definition_path) == bool(definition_yaml):
        raise LaunchRefused(
            gettext("give either definition_path or definition_yaml, not both or neither")
        )
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
