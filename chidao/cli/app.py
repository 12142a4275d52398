"""The `chidao` app: which command runs which function, registered lazily (cyclopts).

Each command is one small function in its group's module (`chidao/cli/<group>_cmd.py`),
taking its arguments as typed parameters and returning the exit status. This module only
names them: nothing here imports a command's module, so `chidao validate` loads the
definitions code and not the ledger's or Prefect's, and a test checks `sys.modules` for that.

To add a command (e.g. `call`, `checkpoint`, `stats`, `keys rotate`):

1. Write the function in the module of its group (or a new `chidao/cli/<group>_cmd.py`):

       def call(directive: str, /, *, json: Annotated[bool, Parameter(help=_("…"))] = False) -> int:
           from flows.something import heavy   # imports inside the body: keep start-up light
           ...
           return 0

   Positional parameters go before `/`, options after `*`; a parameter `as_of` is `--as-of`.
   A user's mistake is `raise CliError(_("…"), exit_code=1)` (2 for a wrong command line).
   Person-facing words go through `_()` from `i18n` (the msgid in English, its Vietnamese in
   `i18n/locale/vi/LC_MESSAGES/chidao.po`, then `python -m i18n.catalogue compile`).
2. Add one line to `COMMANDS` below (or to a group's table, for `agencies keygen`):
   `("call", "chidao.cli.x_cmd:call", N_("one line of help"))`.
3. A new group: add a table like `AGENCIES` and a line to `GROUPS`.

`run(tokens)` parses and calls; the error handling and exit codes are in `chidao.cli.main`.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

from cyclopts import App, CycloptsError, Group, Parameter

from chidao.cli.common import CliError
from i18n import N_, _

# (name, "module:function", help) — the help is a catalogue id, translated when the app is built.
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("validate", "chidao.cli.definitions_cmd:run_validate",
     N_("check definition files; every problem at once")),
    ("show", "chidao.cli.definitions_cmd:run_show",
     N_("print a definition resolved: agencies, items, due dates")),
    ("schema", "chidao.cli.definitions_cmd:run_schema",
     N_("print the JSON Schema of the definition format")),
    ("history", "chidao.cli.ledger_cmd:run_history", N_("every event of a directive, in order")),
    ("replay", "chidao.cli.ledger_cmd:run_replay", N_("a directive as it stood at a moment")),
    ("verify", "chidao.cli.ledger_cmd:run_verify",
     N_("walk the hash chain; name the first event altered")),
    ("checkpoint", "chidao.cli.ledger_cmd:run_checkpoint",
     N_("sign a checkpoint of the ledger and publish it to the witnesses")),
    ("import", "chidao.cli.import_cmd:run",
     N_("draft a definition from a directive's text, DOCX/PDF, or edXML message")),
    ("serve", "chidao.cli.webhook_cmd:run_serve", N_("run the agency webhook (uvicorn)")),
    ("call", "chidao.cli.call_cmd:run_call",
     N_("send a signed request to the webhook as an agency (the reference client)")),
    ("launch", "chidao.cli.flow_cmd:run_launch",
     N_("validate a definition, record issuance, start its flow")),
    ("status", "chidao.cli.flow_cmd:run_status",
     N_("every directive, or one: each agency's status")),
    ("amend", "chidao.cli.amend_cmd:run_amend",
     N_("record a changed definition; it takes effect from the next run")),
    ("close", "chidao.cli.amend_cmd:run_close",
     N_("close a directive early, withdrawing its open work; name what supersedes it")),
    ("simulate", "chidao.cli.flow_cmd:run_simulate",
     N_("run a directive's flow in simulated time")),
    ("up", "chidao.cli.up_cmd:run_up",
     N_("start the Prefect server, the deployments and the webhook; Ctrl-C stops all")),
    ("record-report", "chidao.cli.operator_cmd:run_record_report",
     N_("enter a report an agency delivered earlier (e.g. on paper)")),
    ("stats", "chidao.cli.stats_cmd:run_stats", N_("the four-way counts of reporting duties")),
    ("timeline", "chidao.cli.timeline_cmd:run_timeline",
     N_("a directive's timeline: a bar per agency per cycle (HTML, SVG, PDF)")),
    ("attachment", "chidao.cli.timeline_cmd:run_attachment",
     N_("save a file attached to a report, by its SHA-256")),
)
NOTIFICATIONS: tuple[tuple[str, str, str], ...] = (
    ("preview", "chidao.cli.notifications_cmd:run_preview",
     N_("print a rendered message for an agency")),
    ("outbox", "chidao.cli.notifications_cmd:run_outbox", N_("list pending and failed messages")),
)
PROJECTIONS: tuple[tuple[str, str, str], ...] = (
    ("rebuild", "chidao.cli.ledger_cmd:run_projections_rebuild",
     N_("recompute the read side's tables from the events")),
)
AGENCIES: tuple[tuple[str, str, str], ...] = (
    ("secret", "chidao.cli.webhook_cmd:run_secret",
     N_("make an agency's webhook secret (printed once) or rotate it")),
    ("keygen", "chidao.cli.webhook_cmd:run_keygen", N_("make an Ed25519 key pair for an agency")),
    ("register-key", "chidao.cli.webhook_cmd:run_register_key",
     N_("register an agency's Ed25519 public key (a ledger event)")),
    ("revoke-key", "chidao.cli.webhook_cmd:run_revoke_key",
     N_("end an agency's key (a ledger event); earlier answers stay valid")),
    ("keys", "chidao.cli.webhook_cmd:run_keys", N_("registered keys and their validity")),
)
KEYS: tuple[tuple[str, str, str], ...] = (
    ("rotate", "chidao.cli.ledger_cmd:run_keys_rotate",
     N_("re-encrypt every stored secret under a new key, then switch to it")),
)
REPORT: tuple[tuple[str, str, str], ...] = (
    ("periodic", "chidao.cli.report_cmd:run_periodic",
     N_("the periodic report of a month, quarter, half-year or year (DOCX, XLSX, HTML, PDF)")),
    ("draft", "chidao.cli.report_cmd:run_draft",
     N_("the draft of a cycle's consolidated report (DOCX, HTML, PDF)")),
)
OPERATORS: tuple[tuple[str, str, str], ...] = (
    ("add", "chidao.cli.operators_cmd:run_add",
     N_("add an operator (issuer, overseer or consolidator), a ledger event")),
    ("remove", "chidao.cli.operators_cmd:run_remove",
     N_("remove an operator; their links and keys stop working")),
    ("list", "chidao.cli.operators_cmd:run_list", N_("the operators and their roles")),
    ("link", "chidao.cli.operators_cmd:run_link",
     N_("a signed, expiring sign-in link to the dashboard, or an API key (--api)")),
)
EXPLAIN: tuple[tuple[str, str, str], ...] = (
    ("ask", "chidao.cli.operators_cmd:run_ask",
     N_("ask an agency whose report is late to explain itself (yêu cầu giải trình)")),
)
# (group name, help, its commands)
GROUPS: tuple[tuple[str, str, tuple[tuple[str, str, str], ...]], ...] = (
    ("notifications", N_("preview messages; list the outbox"), NOTIFICATIONS),
    ("agencies", N_("agencies' webhook secrets and signing keys"), AGENCIES),
    ("projections", N_("the tables the inbox and status read"), PROJECTIONS),
    ("keys", N_("the secret key stored secrets are encrypted under"), KEYS),
    ("report", N_("the reports a provincial office presents"), REPORT),
    ("operators", N_("who the operators are, and their sign-in links"), OPERATORS),
    ("explain", N_("explanation requests (yêu cầu giải trình)"), EXPLAIN),
)


class _Formatter:
    """cyclopts' default help formatter (imported only when help is shown), with its
    `Usage:` label in the chosen language."""

    def __init__(self) -> None:
        self._inner: Any = None

    def _default(self) -> Any:
        if self._inner is None:
            from cyclopts.help.formatters import DefaultFormatter

            self._inner = DefaultFormatter()
        return self._inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._default(), name)

    def __call__(self, console: Any, options: Any, panel: Any) -> Any:
        """The panel, its `[required]` and `[choices: …]` marks in the chosen language."""
        import attrs

        entries = []
        for entry in panel.entries:
            marks = []
            if entry.choices:
                marks.append(_("[choices: {choices}]").format(choices=", ".join(entry.choices)))
            if entry.required:
                marks.append(_("[required]"))
            if marks:
                description = entry.description
                if hasattr(description, "append"):  # cyclopts' InlineText: marks follow inline
                    from rich.text import Text

                    description.append(Text(" ".join(marks)))
                else:
                    description = " ".join([str(description or ""), *marks]).strip()
                entry = attrs.evolve(entry, description=description, choices=None, required=False)
            entries.append(entry)
        return self._default()(console, options, attrs.evolve(panel, entries=entries))

    def render_usage(self, console: Any, options: Any, usage: Any) -> None:
        if not usage:
            return
        from rich.text import Text

        line = usage if isinstance(usage, Text) else Text(str(usage))
        console.print(Text(_("Usage:") + " ", style="cyclopts.usage") + line)


# cyclopts' own words for a wrong command line, and ours in the chosen language.
_CYCLOPTS_ERRORS: tuple[tuple[str, str], ...] = (
    (r'^Command "(?P<command>.+)" parameter (?P<name>\S+) requires an argument\.$',
     N_("{command}: the argument {name} is missing")),
    (r'^Parameter (?P<name>\S+) requires an argument\.$', N_("{name} needs a value")),
    (r'^Unknown option: "?(?P<option>[^"]+?)"?\.$', N_("unknown option: {option}")),
    (r'^Invalid value for (?P<name>\S+): unable to convert "(?P<value>.*)" into (?P<type>\w+)\.$',
     N_("{name}: {value!r} is not a valid value")),
    (r'^Invalid value "(?P<value>.*)" for (?P<name>\S+)\. Choose from: (?P<choices>.+)\.$',
     N_("{name}: {value!r} is not one of {choices}")),
    (r"^Unused Tokens: (?P<tokens>.+)\.$", N_("unexpected arguments: {tokens}")),
    (r"^Parameter (?P<name>\S+) specified multiple times\.$",
     N_("{name} is given more than once")),
)


def _said(error: CycloptsError) -> str:
    """A wrong command line, in the chosen language (cyclopts' English when not known)."""
    import re

    message = str(error).strip() or type(error).__name__
    for pattern, msgid in _CYCLOPTS_ERRORS:
        found = re.match(pattern, message, re.S)
        if found:
            return _(msgid).format(**found.groupdict())
    return message


def _app(name: str, help_text: str) -> App:
    app = App(
        name=name,
        help=help_text,
        help_formatter=_Formatter(),
        version_flags=[],
        # `--json` is a flag; no `--no-json` beside it
        default_parameter=Parameter(negative=(), show_default=False),
        group_commands=Group(_("Commands"), sort_key=0),
        group_arguments=Group(_("Arguments"), sort_key=1),
        group_parameters=Group(_("Options"), sort_key=2),
        exit_on_error=False,
        print_error=False,
        help_on_error=False,
        result_action="return_value",
    )
    app["--help"].help = _("show this help and exit")
    return app


def _missing_command(root: App, chain: list[str]) -> Any:
    """A group called without a command (or with an unknown one): its help on stderr, status 2."""

    def usage(*tokens: Annotated[str, Parameter(show=False, allow_leading_hyphen=True)]) -> int:
        if tokens:
            from difflib import get_close_matches

            app = root[chain[-1]] if chain else root
            known = [n for n in app if not n.startswith("-")]
            close = get_close_matches(tokens[0], known, n=1)
            hint = _("; did you mean {name!r}?").format(name=close[0]) if close else ""
            raise CliError(
                _("no command {name!r}{hint}\nsee `{usage} --help`").format(
                    name=tokens[0], hint=hint, usage=" ".join(["chidao", *chain])
                ),
                exit_code=2,
            )
        root.help_print(chain, console=_stderr_console())
        return 2

    return usage


def _stderr_console() -> Any:
    from rich.console import Console

    return Console(file=sys.stderr)


def build_app() -> App:
    root = _app(
        "chidao",
        _("Carry a directive from issuance to its last consolidated report.")
        + "\n\n"
        + _("Language: --lang vi|en, or CHIDAO_LANG (default vi)."),
    )
    root.default(_missing_command(root, []))
    for name, target, help_id in COMMANDS:
        root.command(target, name=name, help=_(help_id))
    for group_name, group_help, commands in GROUPS:
        group = _app(group_name, _(group_help))
        for name, target, help_id in commands:
            group.command(target, name=name, help=_(help_id))
        root.command(group)
        group.default(_missing_command(root, [group_name]))
    return root


def run(tokens: list[str]) -> int:
    """Parse `tokens`, run the command, return its exit status (2 for a wrong command line)."""
    app = build_app()
    try:
        result = app(tokens)
    except CycloptsError as e:
        message = _said(e)
        usage = " ".join(["chidao", *(e.command_chain or ())])
        raise CliError(
            message + "\n" + _("see `{usage} --help`").format(usage=usage), exit_code=2
        ) from e
    return int(result or 0)
