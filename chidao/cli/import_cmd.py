"""`chidao import`: from a directive's text (or an edXML message) to a draft definition."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from chidao.cli.common import CliError


def register(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "import",
        help="draft a definition from a directive's text, DOCX/PDF, or edXML message",
        description=(
            "Read a directive (clean or OCR text, DOCX, PDF with a text layer, or an edXML "
            "message) and write a draft definition; every value says where it came from, and "
            "what the text does not give is a TODO."
        ),
    )
    p.add_argument("input", metavar="TEXT|EDXML", type=Path, help="the directive to read")
    p.add_argument("-o", "--output", type=Path, help="write the draft here instead of stdout")
    p.add_argument("--json", action="store_true", help="JSON with definition and provenance")
    p.add_argument("--directory", type=Path, help="agency directory (YAML file or folder)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from importer.agencies import load_directory_file
    from importer.api import import_file
    from importer.errors import ImportFailed

    try:
        directory = load_directory_file(args.directory)
        draft = import_file(args.input, directory=directory)
    except ImportFailed as e:
        raise CliError(str(e).splitlines()[0] if str(e) else type(e).__name__) from e
    text = draft.to_json_text() + "\n" if args.json else draft.to_yaml()
    if args.output:
        try:
            args.output.write_text(text, encoding="utf-8")
        except OSError as e:
            raise CliError(f"cannot write {args.output}: {e.strerror or e}") from e
    else:
        sys.stdout.write(text)
    for warning in draft.warnings:
        print(f"chidao import: warning: {warning}", file=sys.stderr)
    return 0
