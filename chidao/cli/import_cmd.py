"""`chidao import`: from a directive's text (or an edXML message) to a draft definition.

Reads a directive (clean or OCR text, DOCX, PDF with a text layer, or an edXML message) and
writes a draft definition; every value says where it came from, and what the text does not
give is a TODO. Several files at once go into the folder given with `-o`, one draft each,
with a progress bar on stderr; a file that cannot be read is named and the others go on.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from cyclopts import Parameter

from chidao.cli.common import CliError
from i18n import _

if TYPE_CHECKING:
    from definitions.schema import Directory
    from importer.draft import Draft


def _agencies(directory: Path | None) -> Directory:
    from importer.agencies import load_directory_file
    from importer.errors import ImportFailed

    try:
        return load_directory_file(directory)
    except ImportFailed as e:
        raise CliError(str(e).splitlines()[0] if str(e) else type(e).__name__) from e


def _draft(path: Path, agencies: Directory) -> Draft:
    from importer.api import import_file
    from importer.errors import ImportFailed

    try:
        return import_file(path, directory=agencies)
    except ImportFailed as e:
        raise CliError(str(e).splitlines()[0] if str(e) else type(e).__name__) from e


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise CliError(
            _("cannot write {path}: {error}").format(path=path, error=e.strerror or e)
        ) from e


def _warn(draft: Draft, where: Path | None = None) -> None:
    for warning in draft.warnings:
        prefix = f"chidao import: {where}: " if where else "chidao import: "
        print(prefix + _("warning: {text}").format(text=warning), file=sys.stderr)


def _many(inputs: list[Path], folder: Path, agencies: Directory, as_json: bool) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CliError(_("cannot write {path}: {error}").format(path=folder, error=e)) from e
    failed = 0
    console = Console(stderr=True)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  console=console, transient=True) as progress:  # fmt: skip
        bar = progress.add_task(_("importing"), total=len(inputs))
        for path in inputs:
            progress.update(bar, description=_("importing {name}").format(name=path.name))
            try:
                draft = _draft(path, agencies)
                suffix = ".json" if as_json else ".yaml"
                text = draft.to_json_text() + "\n" if as_json else draft.to_yaml()
                _write(folder / f"{path.stem}{suffix}", text)
                _warn(draft, path)
            except CliError as e:
                failed += 1
                progress.console.print(f"chidao import: {path}: {e}", markup=False, highlight=False)
            progress.advance(bar)
    print(
        _("{done} of {total} drafts written to {folder}").format(
            done=len(inputs) - failed, total=len(inputs), folder=folder
        ),
        file=sys.stderr,
    )
    return 1 if failed else 0


def run(
    inputs: Annotated[
        list[Path], Parameter(name="TEXT|EDXML", help=_("the directives to read"))
    ],
    /,
    *,
    output: Annotated[
        Path | None,
        Parameter(
            name=["--output", "-o"],
            help=_("write the draft here instead of stdout (a folder, for several files)"),
        ),
    ] = None,
    json: Annotated[bool, Parameter(help=_("JSON with definition and provenance"))] = False,
    directory: Annotated[
        Path | None, Parameter(help=_("agency directory (YAML file or folder)"))
    ] = None,
) -> int:
    if len(inputs) > 1:
        if output is None:
            raise CliError(_("several files need a folder to write to: -o FOLDER"), exit_code=2)
        return _many(inputs, output, _agencies(directory), json)
    draft = _draft(inputs[0], _agencies(directory))
    text = draft.to_json_text() + "\n" if json else draft.to_yaml()
    if output:
        _write(output, text)
    else:
        sys.stdout.write(text)
    _warn(draft)
    return 0
