"""`python -m ledger.migrations --url URL <alembic command …>`: the alembic CLI without an ini file.

For developers writing new revisions (`revision --autogenerate -m …`) or inspecting a
database (`current`, `history`); programs call `ledger.db.ensure_schema` instead.
"""

from __future__ import annotations

import sys

from alembic.config import CommandLine

from ledger.migrations.runner import alembic_config


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    url: str | None = None
    if "--url" in args:
        i = args.index("--url")
        url = args[i + 1]
        del args[i : i + 2]
    cli = CommandLine(prog="python -m ledger.migrations")
    options = cli.parser.parse_args(args)
    if not hasattr(options, "cmd"):
        cli.parser.error("too few arguments")
    cli.run_cmd(alembic_config(url), options)


if __name__ == "__main__":
    main()
