"""The `chidao` command: one argparse parser, each command group registered by its own module.

A user's mistake ends with a message on stderr and exit status 1 or 2, never a traceback.
When the reader of stdout goes away (`chidao show … | head`), the command stops quietly
with status 141 (128 + SIGPIPE), as a command killed by SIGPIPE would.
"""

from __future__ import annotations

import argparse
import importlib
import os
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
    "chidao.cli.call_cmd",
    "chidao.cli.flow_cmd",
    "chidao.cli.up_cmd",
)
EXIT_BROKEN_PIPE = 128 + 13  # SIGPIPE: the reader of stdout went away


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
        status = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return status
    except CliError as e:
        print(f"chidao: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the flush at exit does not fail on the closed pipe again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass  # stdout is not a real file (a test's capture): nothing is flushed to a pipe


if __name__ == "__main__":
    raise SystemExit(main())
