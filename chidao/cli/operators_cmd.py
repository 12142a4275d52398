"""`chidao operators …`: who the operators are (ledger stream `operators`) and their links;
`chidao explain ask`: an operator asks a late agency to explain itself.

`add ID --name … --role issuer|overseer|consolidator`, `remove ID --reason …` and `list` keep
the operators in the ledger (`ledger.operators`); `link ID` prints a signed sign-in link to the
dashboard, valid `--hours` (default 12), or with `--api` an API key (`Authorization: Bearer`),
valid `--days` (default 90). A link or key stops working when it expires or when the operator
is removed.
"""

from __future__ import annotations

import datetime as dt
import sys
from typing import Annotated, Any, Literal

from cyclopts import Parameter

from chidao.cli.common import CliError, operator_actor, print_json, settings
from chidao.cli.flow_cmd import DIRECTIVE, OPERATOR_ID
from i18n import _

Role = Literal["issuer", "overseer", "consolidator"]
OPERATOR = Annotated[str, Parameter(name="ID", help=_("the operator's id, e.g. nguyen.van.a"))]


def _engine() -> Any:
    from ledger.db import ensure_schema, make_engine
    from ledger.errors import LedgerError

    try:
        engine = make_engine(settings().resolved_database_url)
        ensure_schema(engine)
    except LedgerError as e:
        raise CliError(str(e)) from e
    return engine


def _registry(engine: Any) -> Any:
    from ledger.operators import Operators
    from ledger.store import EventStore

    return Operators(EventStore(engine))


def _now() -> dt.datetime:
    from flows.clock import SystemClock

    return SystemClock().now()


def run_add(
    operator_id: OPERATOR,
    /,
    *,
    name: Annotated[str, Parameter(help=_("the operator's full name"))],
    role: Annotated[Role, Parameter(help=_("issuer, overseer or consolidator"))],
    operator: OPERATOR_ID = None,
) -> int:
    from ledger.errors import LedgerError
    from ledger.operators import OperatorError

    actor = operator_actor(operator)
    engine = _engine()
    try:
        added = _registry(engine).add(operator_id, name=name, role=role, at=_now(), actor=actor)
    except OperatorError as e:
        raise CliError(str(e), exit_code=2 if "must be" in str(e) else 1) from e
    except LedgerError as e:
        raise CliError(str(e)) from e
    finally:
        engine.dispose()
    print(_("operator {id} added ({role}): {name}").format(id=added.id, role=added.role,
                                                         name=added.name))  # fmt: skip
    return 0


def run_remove(
    operator_id: OPERATOR,
    /,
    *,
    reason: Annotated[str, Parameter(help=_("why the operator is removed"))],
    operator: OPERATOR_ID = None,
) -> int:
    from ledger.errors import LedgerError
    from ledger.operators import OperatorError

    actor = operator_actor(operator)
    engine = _engine()
    try:
        _registry(engine).remove(operator_id, reason=reason, at=_now(), actor=actor)
    except OperatorError as e:
        raise CliError(str(e)) from e
    except LedgerError as e:
        raise CliError(str(e)) from e
    finally:
        engine.dispose()
    print(_("operator {id} removed; their links and keys no longer work").format(id=operator_id))
    return 0


def run_list(
    *,
    json: Annotated[bool, Parameter(help=_("print JSON (ISO 8601 dates)"))] = False,
    all_: Annotated[bool, Parameter(name="--all", help=_("removed operators too"))] = False,
) -> int:
    from i18n.times import person_time
    from ledger.errors import LedgerError

    engine = _engine()
    try:
        found = [o for o in _registry(engine).all().values() if all_ or o.active]
    except LedgerError as e:
        raise CliError(str(e)) from e
    finally:
        engine.dispose()
    if json:
        rows = [
            {"id": o.id, "name": o.name, "role": o.role, "added_at": o.added_at.isoformat(),
             "added_by": o.added_by,
             "removed_at": o.removed_at.isoformat() if o.removed_at else None}
            for o in found
        ]  # fmt: skip
        print_json(rows)
        return 0
    if not found:
        print(_("no operators yet: add one with `chidao operators add ID --name … --role …`"))
    for o in found:
        gone = "  " + _("removed {at}").format(at=person_time(o.removed_at)) if o.removed_at else ""
        print(f"{o.id}  {o.role}  {o.name}  {person_time(o.added_at)}{gone}")
    return 0


def run_link(
    operator_id: OPERATOR,
    /,
    *,
    api: Annotated[bool, Parameter(help=_("an API key instead of a sign-in link"))] = False,
    hours: Annotated[float, Parameter(help=_("how long a sign-in link is valid"))] = 12,
    days: Annotated[float, Parameter(help=_("how long an API key is valid"))] = 90,
) -> int:
    from chidao.webhook.operator_auth import operator_key, sign_token
    from i18n.times import person_time
    from ledger.errors import LedgerError

    if hours <= 0 or days <= 0:
        raise CliError(_("--hours and --days must be positive"), exit_code=2)
    engine = _engine()
    try:
        found = _registry(engine).get(operator_id)
    except LedgerError as e:
        raise CliError(str(e)) from e
    finally:
        engine.dispose()
    if found is None:
        raise CliError(
            _("no operator {id}: add them with `chidao operators add`").format(id=operator_id)
        )
    config = settings()
    try:
        key = operator_key(config.link_key())
    except OSError as e:
        raise CliError(f"cannot open the webhook secret key: {e}") from e
    expires = _now() + (dt.timedelta(days=days) if api else dt.timedelta(hours=hours))
    token = sign_token(key, found.id, "api" if api else "dashboard", expires)
    print(_("valid until {at}").format(at=person_time(expires)), file=sys.stderr)
    if api:
        print(token)
    else:
        print(f"{config.webhook_base_url.rstrip('/')}/ops/signin?token={token}")
    return 0


def _day(text: str, where: str) -> dt.date:
    for parse in (lambda t: dt.datetime.strptime(t, "%d/%m/%Y").date(), dt.date.fromisoformat):
        try:
            return parse(text.strip())
        except ValueError:
            continue
    raise CliError(
        _("{where} {text!r} is not a date (dd/mm/yyyy or yyyy-mm-dd)").format(where=where, text=text),
        exit_code=2,
    )


def run_ask(
    directive: DIRECTIVE,
    agency: Annotated[str, Parameter(help=_("the agency asked to explain"))],
    /,
    *,
    cycle: Annotated[str, Parameter(help=_("the reporting cycle whose report is late"))],
    due: Annotated[str, Parameter(help=_("the day to answer by (dd/mm/yyyy)"))],
    text: Annotated[str, Parameter(help=_("what is asked"))] = (
        "Đề nghị cơ quan giải trình bằng văn bản lý do chậm báo cáo kết quả thực hiện."
    ),
    operator: OPERATOR_ID = None,
) -> int:
    from ledger.directives import DirectiveNotFound
    from ledger.errors import LedgerError
    from lifecycle import Refused
    from lifecycle import commands as c
    from tasks.runtime import directives_for

    actor = operator_actor(operator)
    day = _day(due, "--due")
    try:
        command = c.RequestExplanation(actor=actor, agency=agency, cycle=cycle, due=day, text=text)
    except ValueError as e:
        raise CliError(f"--text: {e}", exit_code=2) from e
    import secrets

    try:
        directives = directives_for(settings().resolved_database_url)
        if not directives.exists(directive):
            raise DirectiveNotFound(directive)
        outcome = directives.execute(
            directive, command, _now(), key=f"explain:{directive}:{agency}:{cycle}:"
            f"{secrets.token_hex(8)}", live=True,
        )  # fmt: skip
    except DirectiveNotFound as e:
        raise CliError(_("no directive {id!r} in the ledger").format(id=directive)) from e
    except Refused as e:
        raise CliError(str(e)) from e
    except LedgerError as e:
        raise CliError(str(e)) from e
    if not outcome.events:
        print(_("nothing new to record"))
        return 0
    print(
        _("{agency} is asked to explain the late report of cycle {cycle} by {due}").format(
            agency=agency, cycle=cycle, due=day.strftime("%d/%m/%Y")
        )
    )
    return 0
