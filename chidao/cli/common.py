"""What every command shares: the CLI error type, settings and ledger access, output helpers."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chidao.settings import Settings


class CliError(Exception):
    """A user's mistake or an unavailable resource: printed as one line, no traceback."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def said(error: Exception) -> str:
    """An error's text for the operator: a lifecycle refusal in the CLI's language."""
    in_language = getattr(error, "in_language", None)
    return str(in_language()) if callable(in_language) else str(error)


def settings() -> Settings:
    from chidao.settings import load_settings

    return load_settings()


def operator_actor(given: str | None) -> str:
    """The actor of an operator's command, `operator:<id>`: the --operator given, else
    CHIDAO_OPERATOR, else the login name."""
    import getpass

    from i18n import _
    from lifecycle.commands import operator

    candidate = given or settings().operator
    if not candidate:
        try:
            candidate = getpass.getuser()
        except (KeyError, OSError) as e:
            raise CliError(_("who is the operator? give --operator ID or set CHIDAO_OPERATOR")) from e
    try:
        return operator(candidate)
    except ValueError as e:
        where = "--operator" if given else "CHIDAO_OPERATOR" if settings().operator else "login"
        raise CliError(f"{where}: {e}") from e


def print_json(value: Any) -> None:
    json.dump(value, sys.stdout, ensure_ascii=False, indent=2, default=str)
    sys.stdout.write("\n")
