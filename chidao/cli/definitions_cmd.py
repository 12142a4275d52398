"""`chidao validate`, `show` and `schema`: definitions checked, resolved and described."""

from __future__ import annotations

import json as json_module
import sys
from pathlib import Path
from typing import Annotated, Any

from cyclopts import Parameter

from chidao.cli.common import CliError, print_json
from definitions.errors import DefinitionError
from definitions.loader import load_definition, load_directory
from definitions.resolve import ResolvedDirective, resolve
from definitions.schema import Directive, Directory
from i18n import _


def _definition_files(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(path.glob("*.yaml")) + sorted(path.glob("*.yml")))
        else:
            files.append(path)
    return files


def run_validate(
    paths: Annotated[list[Path], Parameter(help=_("definition files or folders"))], /
) -> int:
    try:
        directory = load_directory()
    except DefinitionError as e:
        raise CliError(f"the agency directory is invalid:\n{e}") from e
    failed = 0
    files = _definition_files(paths)
    for path in files:
        try:
            load_definition(path, directory)
        except DefinitionError as e:
            failed += 1
            for problem in e.problems:
                print(problem, file=sys.stderr)
        else:
            print(f"{path}: ok")
    if failed:
        print(f"{failed} of {len(files)} definitions invalid", file=sys.stderr)
    return 1 if failed else 0


def load_resolved(path: Path) -> ResolvedDirective:
    """A definition file loaded, checked and resolved, or a CliError listing its problems."""
    try:
        directory = load_directory()
        return resolve(load_definition(path, directory), directory)
    except DefinitionError as e:
        raise CliError(str(e)) from e


def resolved_as_json(resolved: ResolvedDirective) -> dict[str, Any]:
    d = resolved.definition
    return {
        "id": d.id,
        "reference": d.reference,
        "kind": d.kind,
        "issuer": {"id": resolved.issuer.id, "name": resolved.issuer.name},
        "issued_on": d.issued_on.isoformat(),
        "subject": d.subject,
        "signer": d.signer.model_dump(mode="json"),
        "reporting": {
            "to": resolved.reporting_to,
            "recurrence": d.reporting.recurrence,
            "source": d.reporting.source,
            "operator_set": dict(d.reporting.operator_set),
        },
        "consolidation": (
            {
                "by": resolved.consolidator,
                "to": resolved.consolidation_to,
                "source": d.consolidation.source,
            }
            if d.consolidation
            else None
        ),
        "tracked_agencies": [
            {
                "id": a.id,
                "name": a.name,
                "role": a.role,
                "reports": a.reports,
                "sections": list(a.sections),
                "items": [
                    {"id": i.id, "text": i.text, "coordinate_with": list(i.coordinate_with)}
                    for i in a.items
                ],
                "email": a.email,
                "answers_to": a.answers_to,
            }
            for a in resolved.tracked
        ],
        "cycles": [
            {
                "id": c.id,
                "period": [c.period_start.isoformat(), c.period_end.isoformat()],
                "report_due": c.report_due.isoformat(),
                "report_due_stated": c.report_due_stated.isoformat(),
                "consolidation_due": c.consolidation_due.isoformat()
                if c.consolidation_due
                else None,
                "consolidation_due_stated": (
                    c.consolidation_due_stated.isoformat() if c.consolidation_due_stated else None
                ),
            }
            for c in resolved.cycles
        ],
        "distribution": list(d.distribution),
    }


def _print_text(resolved: ResolvedDirective) -> None:
    d = resolved.definition
    print(f"{d.kind} số {d.reference} ngày {d.issued_on:%d/%m/%Y} — {resolved.issuer.name}")
    print(d.subject)
    print(f"\n{len(resolved.tracked)} tracked agencies:")
    for a in resolved.tracked:
        sections = ", ".join(str(s) for s in a.sections)
        print(f"  {a.id:<24} {a.role:<10} §{sections:<6} {len(a.items)} items  {a.name}")
    print(f"\nreports to {resolved.reporting_to}, {d.reporting.recurrence} ({d.reporting.source})")
    if resolved.consolidator:
        print(f"consolidated by {resolved.consolidator} for {resolved.consolidation_to}")
    print("\ncycle      reports due   consolidation due")
    for c in resolved.cycles:
        moved = "*" if c.report_due != c.report_due_stated else " "
        cons = f"{c.consolidation_due:%d/%m/%Y}" if c.consolidation_due else "—"
        moved_c = "*" if c.consolidation_due != c.consolidation_due_stated else " "
        print(f"{c.id:<10} {c.report_due:%d/%m/%Y}{moved}   {cons}{moved_c}")
    print("* moved from a day off to the next working day")


def run_show(
    path: Annotated[Path, Parameter(help=_("the definition file"))],
    /,
    *,
    json: Annotated[bool, Parameter(help=_("machine-readable output"))] = False,
) -> int:
    resolved = load_resolved(path)
    if json:
        print_json(resolved_as_json(resolved))
    else:
        _print_text(resolved)
    return 0


def run_schema(
    *, directory: Annotated[bool, Parameter(help=_("the agency directory's schema instead"))] = False
) -> int:
    model: type[Directive] | type[Directory] = Directory if directory else Directive
    json_module.dump(model.model_json_schema(), sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0
