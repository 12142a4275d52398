"""`chidao validate`, `show` and `schema`: definitions checked, resolved and described."""

from __future__ import annotations

import datetime as dt
import json as json_module
import sys
from pathlib import Path
from typing import Annotated, Any

from cyclopts import Parameter

from chidao.cli.common import CliError, print_json
from definitions.errors import DefinitionError
from definitions.loader import load_definition, load_directory, packaged_definitions
from definitions.resolve import ResolvedDirective, expand, predecessors, resolve
from definitions.schema import Directive, Directory
from i18n import _, current_language
from i18n.times import person_date


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
        raise CliError(_("the agency directory is invalid:") + f"\n{e}") from e
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
            print(_("{path}: ok").format(path=path))
    if failed:
        print(
            _("{failed} of {total} definitions invalid").format(failed=failed, total=len(files)),
            file=sys.stderr,
        )
    return 1 if failed else 0


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as e:
        raise CliError(f"--as-of: not a date (YYYY-MM-DD): {text!r}", 2) from e


def definition_path(target: str | Path) -> Path:
    """A definition file, or the packaged definition whose id (or number) is `target`."""
    path = Path(target)
    if path.exists() or path.suffix in (".yaml", ".yml"):
        return path
    text = str(target)
    found = [
        p for p in packaged_definitions() if p.stem == text or p.stem.split("-")[1:2] == [text]
    ]
    if len(found) == 1:
        return found[0]
    known = ", ".join(p.stem for p in packaged_definitions())
    raise CliError(f"no definition file or packaged definition '{text}' (packaged: {known})")


def load_resolved(path: str | Path, as_of: dt.date | None = None) -> ResolvedDirective:
    """A definition file loaded, checked and resolved, or a CliError listing its problems."""
    try:
        directory = load_directory()
        return resolve(load_definition(definition_path(path), directory), directory, as_of=as_of)
    except DefinitionError as e:
        raise CliError(str(e)) from e


def _succession_json(resolved: ResolvedDirective, directory: Directory) -> dict[str, Any]:
    """As of the resolution's date: each recipient's members, and whom each tracked agency
    stands for."""
    as_of = resolved.as_of
    d = resolved.definition
    recipients = [
        {
            "agency": r.agency,
            "text": r.text,
            "members": list(expand(directory, r.agency, as_of)),
        }
        for r in d.recipients
    ]
    listed = tuple(
        member
        for assignment in d.assignments
        for assigned in assignment.agencies
        for member in expand(directory, assigned.agency)
    )
    return {
        "recipients": recipients,
        "succeeds": predecessors(directory, listed, as_of) if as_of else {},
    }


def resolved_as_json(
    resolved: ResolvedDirective, directory: Directory | None = None
) -> dict[str, Any]:
    d = resolved.definition
    succession = _succession_json(resolved, directory) if directory is not None else None
    succeeds = succession["succeeds"] if succession else {}
    return {
        "id": d.id,
        "as_of": resolved.as_of.isoformat() if resolved.as_of else None,
        **({"recipients": succession["recipients"]} if succession else {}),
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
                "valid_from": a.valid_from.isoformat() if a.valid_from else None,
                "valid_until": a.valid_until.isoformat() if a.valid_until else None,
                "succeeds": succeeds.get(a.id, []),
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


def _print_text(resolved: ResolvedDirective, directory: Directory) -> None:
    from lifecycle.status import (  # labels; the lifecycle is not needed to validate a file
        document_kind_label,
        recurrence_label,
        role_label,
        source_label,
    )

    d = resolved.definition
    lang = current_language()
    print(
        _("{kind} No. {reference} of {date} — {issuer}").format(
            kind=document_kind_label(d.kind, lang), reference=d.reference,
            date=person_date(d.issued_on), issuer=resolved.issuer.name,
        )
    )  # fmt: skip
    print(d.subject)
    succeeds = _succession_json(resolved, directory)["succeeds"]
    as_of = (
        " " + _("as of {date}").format(date=person_date(resolved.as_of)) if resolved.as_of else ""
    )
    print("\n" + _("{count} tracked agencies:").format(count=len(resolved.tracked)) + as_of)
    for a in resolved.tracked:
        sections = ", ".join(str(s) for s in a.sections)
        items = _("{count} items").format(count=len(a.items))
        after = (
            "  (" + _("succeeds {agencies}").format(agencies=", ".join(succeeds[a.id])) + ")"
            if a.id in succeeds
            else ""
        )
        print(
            f"  {a.id:<24} {role_label(a.role, lang):<14} §{sections:<6} {items}  {a.name}{after}"
        )
    print(
        "\n" + _("reports to {agency}, {recurrence} ({source})").format(
            agency=resolved.reporting_to, recurrence=recurrence_label(d.reporting.recurrence, lang),
            source=source_label(d.reporting.source, lang),
        )
    )  # fmt: skip
    if resolved.consolidator:
        print(
            _("consolidated by {agency} for {to}").format(
                agency=resolved.consolidator, to=resolved.consolidation_to
            )
        )
    print("\n" + _("cycle      reports due   consolidation due"))
    for c in resolved.cycles:
        moved = "*" if c.report_due != c.report_due_stated else " "
        cons = person_date(c.consolidation_due) if c.consolidation_due else "—"
        moved_c = "*" if c.consolidation_due != c.consolidation_due_stated else " "
        print(f"{c.id:<10} {person_date(c.report_due)}{moved}   {cons}{moved_c}")
    print(_("* moved from a day off to the next working day"))


def run_show(
    path: Annotated[
        str, Parameter(help=_("a definition file, or a packaged definition's id or number"))
    ],
    /,
    *,
    json: Annotated[bool, Parameter(help=_("machine-readable output"))] = False,
    as_of: Annotated[
        str | None,
        Parameter(
            help=_("read the directory as of that day (YYYY-MM-DD): ended agencies stand for "
                   "their successors")
        ),
    ] = None,
) -> int:
    resolved = load_resolved(path, _date(as_of) if as_of else None)
    directory = load_directory()
    if json:
        print_json(resolved_as_json(resolved, directory))
    else:
        _print_text(resolved, directory)
    return 0


def run_schema(
    *, directory: Annotated[bool, Parameter(help=_("the agency directory's schema instead"))] = False
) -> int:
    model: type[Directive] | type[Directory] = Directory if directory else Directive
    json_module.dump(model.model_json_schema(), sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0
