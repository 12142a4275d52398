"""The `chidao` command: one argparse parser, each command group registered by its own module.

A user's mistake ends with a message on stderr and exit status 1 or 2, never a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from chidao.cli.common import CliError

# Each module defines `register(subparsers)`; a command's handler is stored as `func`
# and returns the process exit status.
COMMAND_MODULES = (
    "chidao.cli.definitions_cmd",
    "chidao.cli.ledger_cmd",
    "chidao.cli.import_cmd",
    "chidao.cli.notifications_cmd",
    "chidao.cli.webhook_cmd",
    "chidao.cli.flow_cmd",
    "chidao.cli.up_cmd",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="chidao",
        description="Carry a directive from issuance to its last consolidated report.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name == name:
                continue  # that command group is not built yet
            raise
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except CliError as e:
        print(f"chidao: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
