"""The `chidao` command: a cyclopts app (chidao/cli/app.py) whose commands load on first use.

A user's mistake ends with a message on stderr and exit status 1 (a command refused: bad file,
unknown directive) or 2 (the command line itself is wrong), never a traceback. When the reader
of stdout goes away (`chidao show … | head`), the command stops quietly with status 141
(128 + SIGPIPE), as a command killed by SIGPIPE would.

The language of what the operator reads is Vietnamese, or English with `CHIDAO_LANG=en` or
`--lang en` anywhere on the command line; it is chosen before the app is built, so the help
text is in it too. (`notifications preview --lang` also picks the message's language.)
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from chidao.cli.common import CliError
from i18n import UnknownLanguage, set_language

EXIT_BROKEN_PIPE = 128 + 13  # SIGPIPE: the reader of stdout went away
EXIT_USAGE = 2
# Commands that take `--lang` themselves (the language of what they show, and of the CLI).
OWN_LANG_OPTION = (("notifications", "preview"),)


def take_language(argv: list[str]) -> tuple[str | None, list[str]]:
    """The `--lang X` (or `--lang=X`) given, and the command line without it."""
    keep_own = any(tuple(argv[: len(path)]) == path for path in OWN_LANG_OPTION)
    lang: str | None = None
    rest: list[str] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        if token == "--":
            rest.extend(argv[i:])
            break
        if token == "--lang" and i + 1 < len(argv):
            lang = argv[i + 1]
            if keep_own:
                rest.extend(argv[i : i + 2])
            i += 2
            continue
        if token.startswith("--lang="):
            lang = token.split("=", 1)[1]
            if keep_own:
                rest.append(token)
            i += 1
            continue
        rest.append(token)
        i += 1
    return lang, rest


def main(argv: Sequence[str] | None = None) -> int:
    tokens = list(sys.argv[1:] if argv is None else argv)
    lang, tokens = take_language(tokens)
    try:
        set_language(lang or os.environ.get("CHIDAO_LANG"))
    except UnknownLanguage as e:
        print(f"chidao: {e}", file=sys.stderr)
        return EXIT_USAGE
    try:
        from chidao.cli.app import run

        status = run(tokens)
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
