"""The operators' API: the statistics as JSON, and explanation requests, for systems.

Every call carries `Authorization: Bearer <key>` (`chidao operators link ID --api`), checked by
`chidao.webhook.operator_auth`: a genuine key, not expired, of an operator still in the ledger.

- `GET /ops/api/v1/stats?period=…|from=…&to=…&agency=…&directive=…&by=agency|directive|month`:
  the figures of `chidao stats --json`, for the roles issuer and overseer.
- `POST /ops/api/v1/directives/{d}/agencies/{a}/cycles/{c}/explanation-request`
  `{"due", "text"}` with an `Idempotency-Key` header: asks the agency to explain its late
  report; recorded under the operator's actor `operator:<id>` (issuer and overseer).

Errors have the webhook's shape, `{"error", "detail", "fields"}`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import FastAPI, Header, Path, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from chidao.webhook import schemas
from chidao.webhook.errors import NotFound, WebhookError
from chidao.webhook.operator_auth import OperatorAuth, TokenInvalid, require_role
from chidao.webhook.reading import names, states
from chidao.webhook.service import Caller, Service, request_digest
from definitions.calendar import default_calendar
from ledger.operators import Operator
from lifecycle import commands as cmd
from lifecycle.stats import Period, StatsError, duties, period_of, tally

PREFIX = "/ops/api/v1"
READERS = ("issuer", "overseer")
ASKERS = ("issuer", "overseer")
IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


def _error(description: str) -> dict[str, Any]:
    return {"model": schemas.ErrorBody, "description": description}


RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _error("`unauthorized`: no key, a key not valid (altered, expired, another use) or an "
                "operator no longer registered."),
    403: _error("`forbidden`: the operator's role does not allow it."),
    404: _error("`not_found`: unknown directive, agency or cycle."),
    409: _error("`conflict`: refused by the lifecycle (the detail says why), or "
                "`idempotency_key_reused`."),
    422: _error("`invalid`: a bad period, date, range or field."),
    503: _error("`busy` or `unavailable`: resend later."),
}  # fmt: skip


class Invalid(WebhookError):
    status_code = 422
    code = "invalid"


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def _date(text: str | None, where: str) -> dt.date | None:
    if text is None:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError as e:
        raise Invalid(f"{where}: {text!r} is not a date (YYYY-MM-DD)") from e


def span_of(period: str | None, start: str | None, end: str | None, now: dt.datetime) -> Period:
    """The period asked for, as `chidao stats` reads it; Invalid saying what is wrong."""
    first, last = _date(start, "from"), _date(end, "to")
    if period is not None and (first or last):
        raise Invalid("give period or from/to, not both")
    if first and last and last < first:
        raise Invalid(f"to {last} is before from {first}")
    try:
        if period is not None:
            return period_of(period)
        return Period(first or dt.date(1900, 1, 1), last or dt.date(now.year + 100, 12, 31))
    except StatsError as e:
        raise Invalid(f"period: {e}") from e


def statistics(
    service: Service, span: Period, now: dt.datetime, *, by: str, agency: str | None,
    directive: str | None,
) -> dict[str, Any]:  # fmt: skip
    """The figures `chidao stats --json` prints, over the same duties."""
    directives = service.directives
    moment = span.as_of(now)
    past = moment if moment < now else None
    if directive is not None and not directives.exists(directive):
        raise NotFound(f"no directive {directive}")
    found = [s for s in states(directives, as_of=past) if directive is None or s.id == directive]
    known = names(states(directives))
    if agency is not None and agency not in known:
        raise NotFound(f"no agency {agency} is tracked by any directive")
    counted = [d for s in found for d in duties(s)]
    figures = tally(counted, span, now, default_calendar(), by=by, agency=agency,  # type: ignore[arg-type]
                    directive=directive)  # fmt: skip
    return {
        "from": span.start.isoformat(), "to": span.end.isoformat(), "as_of": moment.isoformat(),
        "by": by, "reports": [f.as_dict() for f in figures["report"]],
        "consolidated_reports": [f.as_dict() for f in figures["consolidation"]],
    }  # fmt: skip


def install_operator_api(
    app: FastAPI, *, service: Service, auth: OperatorAuth, poke: Callable[[str], None]
) -> None:
    def operator_of(request: Request, *roles: str) -> Operator:
        operator = auth.authenticate(_bearer(request), "api")
        require_role(operator, *roles)
        return operator

    @app.get(
        f"{PREFIX}/stats", tags=["operators"], responses=RESPONSES,
        summary="The statistics of `chidao stats` (issuer, overseer)",
    )  # fmt: skip
    async def stats(
        request: Request,
        period: Annotated[str | None, Query(max_length=10)] = None,
        from_: Annotated[str | None, Query(alias="from", max_length=10)] = None,
        to: Annotated[str | None, Query(max_length=10)] = None,
        agency: Annotated[str | None, Query(pattern=schemas.ID_PATTERN, max_length=80)] = None,
        directive: Annotated[str | None, Query(pattern=schemas.ID_PATTERN, max_length=80)] = None,
        by: Annotated[str, Query(pattern="^(agency|directive|month)$")] = "agency",
    ) -> JSONResponse:
        await run_in_threadpool(operator_of, request, *READERS)
        now = service.now()
        span = span_of(period, from_, to, now)
        data = await run_in_threadpool(
            lambda: statistics(service, span, now, by=by, agency=agency, directive=directive)
        )
        return JSONResponse(data, headers={"Cache-Control": "no-store"})

    @app.post(
        f"{PREFIX}/directives/{{directive}}/agencies/{{agency}}/cycles/{{cycle}}/explanation-request",
        tags=["operators"],
        status_code=201,
        response_model=schemas.Recorded,
        responses={200: {"model": schemas.Recorded, "description": "Nothing new."}, **RESPONSES},
        summary="Ask an agency to explain its late report (yêu cầu giải trình)",
    )
    async def ask(
        request: Request,
        body: schemas.ExplanationRequestIn,
        directive: Annotated[str, Path(pattern=schemas.ID_PATTERN, max_length=80)],
        agency: Annotated[str, Path(pattern=schemas.ID_PATTERN, max_length=80)],
        cycle: Annotated[str, Path(pattern=schemas.CYCLE_PATTERN, max_length=20)],
        idempotency_key: Annotated[str, Header(max_length=128)],
    ) -> JSONResponse:
        operator = await run_in_threadpool(operator_of, request, *ASKERS)
        if not IDEMPOTENCY_KEY.match(idempotency_key):
            raise Invalid("Idempotency-Key: 8-128 letters, digits, '.', '_', ':' or '-'")
        raw = await request.body()
        caller = Caller(
            agency=operator.actor,
            webhook_id=idempotency_key,
            request_sha256=request_digest("POST", request.url.path, "", raw),
        )
        command = cmd.RequestExplanation(
            actor=operator.actor, agency=agency, cycle=cycle, due=body.due, text=body.text
        )
        answer = await run_in_threadpool(service.handle, caller, directive, command)
        if answer.status == 201 and not answer.replayed:
            poke(directive)
        headers = {"x-chidao-replayed": "true"} if answer.replayed else None
        return JSONResponse(answer.body, status_code=answer.status, headers=headers)


__all__ = ["TokenInvalid", "install_operator_api"]
