"""`chidao import`: from a directive's text (or an edXML message) to a draft definition.

Reads a directive (clean or OCR text, DOCX, PDF with a text layer, or an edXML message) and
writes a draft definition; every value says where it came from, and what the text does not
give is a TODO.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

from cyclopts import Parameter

from chidao.cli.common import CliError
from i18n import _


def run(
    input: Annotated[
        Path, Parameter(name="TEXT|EDXML", help=_("the directive to read"))
    ],
    /,
    *,
    output: Annotated[
        Path | None,
        Parameter(name=["--output", "-o"], help=_("write the draft here instead of stdout")),
    ] = None,
    json: Annotated[bool, Parameter(help=_("JSON with definition and provenance"))] = False,
    directory: Annotated[
        Path | None, Parameter(help=_("agency directory (YAML file or folder)"))
    ] = None,
) -> int:
    from importer.agencies import load_directory_file
    from importer.api import import_file
    from importer.errors import ImportFailed

    try:
        agencies = load_directory_file(directory)
        draft = import_file(input, directory=agencies)
    except ImportFailed as e:
        raise CliError(str(e).splitlines()[0] if str(e) else type(e).__name__) from e
    text = draft.to_json_text() + "\n" if json else draft.to_yaml()
    if output:
        try:
            output.write_text(text, encoding="utf-8")
        except OSError as e:
            raise CliError(f"cannot write {output}: {e.strerror or e}") from e
    else:
        sys.stdout.write(text)
    for warning in draft.warnings:
        print(f"chidao import: warning: {warning}", file=sys.stderr)
    return 0
