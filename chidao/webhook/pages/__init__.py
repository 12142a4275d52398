"""The operators' pages: the red-first dashboard and each agency's work and history.

- `GET /ops/signin?token=…` (the link of `chidao operators link ID`): checks the token, keeps it
  in an HttpOnly, SameSite=Strict cookie scoped to `/ops` and sends the browser to the
  dashboard, so the token leaves the address bar. An expired, altered or revoked link is
  refused (401) with how to get a new one.
- `GET /ops/` the dashboard: overdue duties first (most days late, then highest escalation
  level), then those due within `within` working days, each directive's progress; filters
  `agency`, `directive`, `period` (2024-11, 2024-Q4, 2024-H2, 2024); `lang=en` for English.
- `GET /ops/directives/{d}/agencies/{a}`: the agency's work in each cycle, the explanations
  asked and answered, its history; with a form to ask for an explanation of a late report.
- `POST /ops/directives/{d}/agencies/{a}/explain`: that form, recorded under the operator's
  actor `operator:<id>`; `POST /ops/signout` forgets the cookie.

No script and no external asset (the CSS is inline); every form post carries a token derived
from the session's (a forged cross-site post has none) and a one-time form id (a double click
records once). Words through the catalogue, dates dd/mm/yyyy in Vietnam's time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import unicodedata
from collections.abc import Callable
from pathlib import Path as FilePath
from typing import Any
from urllib.parse import parse_qs, urlencode

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from chidao.webhook import schemas
from chidao.webhook.errors import WebhookError
from chidao.webhook.operator_auth import (
    COOKIE,
    OperatorAuth,
    OperatorGone,
    TokenExpired,
    TokenInvalid,
)
from chidao.webhook.reading import names, progress, rows, states
from chidao.webhook.service import Caller, Service, request_digest
from definitions.calendar import default_calendar
from i18n import LANGUAGES, N_, gettext, language_of, translator
from i18n.times import person_date, person_time
from ledger.operators import Operator
from lifecycle import commands as cmd
from lifecycle.stats import StatsError, period_of
from lifecycle.status import event_label, standing, standing_label, work_status_label

PREFIX = "/ops"
ASKERS = ("issuer", "overseer")
MAX_FORM_BYTES = 64_000
FORM_ID = re.compile(r"^[A-Za-z0-9_-]{8,80}$")
HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}
FLASHES = {"asked": N_("Recorded: the agency is asked to explain itself.")}
DEFAULT_ASK = "Đề nghị cơ quan giải trình bằng văn bản lý do chậm báo cáo kết quả thực hiện."


def _environments() -> dict[str, Environment]:
    envs: dict[str, Environment] = {}
    for lang in LANGUAGES:
        env = Environment(
            loader=FileSystemLoader(FilePath(__file__).parent.parent / "templates"),
            autoescape=select_autoescape(["html"], default=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=["jinja2.ext.i18n"],
        )
        env.install_gettext_translations(translator(lang), newstyle=True)  # type: ignore[attr-defined]
        env.filters["date"] = lambda day, lang=lang: person_date(day, lang, empty="—")
        env.filters["time"] = lambda moment, lang=lang: person_time(moment, lang, empty="—")
        envs[lang] = env
    return envs


class PageProblem(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def install_pages(
    app: FastAPI, *, service: Service, auth: OperatorAuth, poke: Callable[[str], None]
) -> None:
    envs = _environments()
    calendar = default_calendar()

    def html(template: str, status: int, lang: str, **context: Any) -> HTMLResponse:
        rendered = envs[lang].get_template(template).render(lang=lang, prefix=PREFIX, **context)
        return HTMLResponse(
            unicodedata.normalize("NFC", rendered), status_code=status, headers=HEADERS
        )

    def refused(error: TokenInvalid, lang: str) -> HTMLResponse:
        reason = (
            "expired" if isinstance(error, TokenExpired)
            else "removed" if isinstance(error, OperatorGone)
            else "missing" if "no token" in error.detail
            else "invalid"
        )  # fmt: skip
        response = html("ops/refused.html", 401, lang, reason=reason)
        response.delete_cookie(COOKIE, path=PREFIX)
        return response

    def lang_of(request: Request) -> str:
        return language_of(request.query_params.get("lang"))

    def signed_in(request: Request) -> tuple[Operator, str]:
        token = request.cookies.get(COOKIE)
        return auth.authenticate(token, "dashboard"), token or ""

    def csrf(token: str) -> str:
        assert auth.key is not None
        return hmac.new(auth.key, b"form\n" + token.encode(), hashlib.sha256).hexdigest()[:40]

    @app.get(f"{PREFIX}/signin", include_in_schema=False)
    async def signin(request: Request, token: str | None = None) -> Response:
        lang = lang_of(request)
        try:
            operator = await run_in_threadpool(auth.authenticate, token, "dashboard")
        except TokenInvalid as e:
            return refused(e, lang)
        target = f"{PREFIX}/" + (f"?lang={lang}" if lang != "vi" else "")
        response = RedirectResponse(target, status_code=303, headers=HEADERS)
        assert token is not None
        response.set_cookie(
            COOKIE, token, httponly=True, samesite="strict", path=PREFIX,
            secure=request.url.scheme == "https",
        )  # fmt: skip
        del operator
        return response

    @app.post(f"{PREFIX}/signout", include_in_schema=False)
    async def signout(request: Request) -> Response:
        response = html("ops/signed_out.html", 200, lang_of(request))
        response.delete_cookie(COOKIE, path=PREFIX)
        return response

    def dashboard_context(
        operator: Operator, lang: str, agency: str | None, directive: str | None,
        period: str | None, within: int,
    ) -> dict[str, Any]:  # fmt: skip
        found = states(service.directives)
        named = names(found)
        problems = []
        span = None
        if period:
            try:
                span = period_of(period)
            except StatsError:
                problem = gettext(
                    "{value!r} is not a period; give 2024-11, 2024-Q4, 2024-H2 or 2024", lang
                )
                problems.append(problem.format(value=period))
        if agency and agency not in named:
            problems.append(gettext("no agency {id!r} is tracked by any directive", lang).format(id=agency))
        if directive and directive not in {s.id for s in found}:
            problems.append(gettext("no directive {id!r} in the ledger", lang).format(id=directive))
        now = service.now()
        overdue, soon = rows(found, now, calendar, within=within, agency=agency or None,
                             directive=directive or None, period=span)  # fmt: skip
        by_id = {s.id: s for s in found}
        agencies = sorted(
            {a.id: a.name for s in found for a in s.definition.tracked}.items(),
            key=lambda pair: pair[1],
        )
        return {
            "operator": operator, "now": now, "overdue": overdue, "soon": soon,
            "progress": progress(found, now), "names": named, "states": by_id,
            "agencies": agencies, "directives": [(s.id, named[s.id]) for s in found],
            "filters": {"agency": agency or "", "directive": directive or "",
                        "period": period or "", "within": within},
            "problems": problems,
            "work_url": lambda d, a: f"{PREFIX}/directives/{d}/agencies/{a}"
            + (f"?lang={lang}" if lang != "vi" else ""),
            "other_lang": "en" if lang == "vi" else "vi",
            "query": lambda **kw: urlencode({k: v for k, v in kw.items() if v}),
        }  # fmt: skip

    @app.get(f"{PREFIX}/", include_in_schema=False)
    async def dashboard(
        request: Request,
        agency: str | None = None,
        directive: str | None = None,
        period: str | None = None,
        within: int = 5,
    ) -> Response:
        lang = lang_of(request)
        try:
            operator, _token = await run_in_threadpool(signed_in, request)
        except TokenInvalid as e:
            return refused(e, lang)
        within = max(0, min(within, 60))
        context = await run_in_threadpool(
            dashboard_context, operator, lang, agency, directive, period, within
        )
        return html("ops/dashboard.html", 422 if context["problems"] else 200, lang, **context)

    @app.get(f"{PREFIX}", include_in_schema=False)
    async def dashboard_bare(request: Request) -> Response:
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"{PREFIX}/{query}", status_code=307, headers=HEADERS)

    def agency_context(
        operator: Operator, token: str, lang: str, directive: str, agency: str
    ) -> dict[str, Any]:
        try:
            state = service.state(directive)
        except WebhookError as e:
            raise PageProblem(404 if e.status_code == 404 else 503,
                              gettext("no directive {id!r} in the ledger", lang).format(id=directive)) from e  # fmt: skip
        tracked = state.definition.agency(agency)
        if tracked is None and not any(agency in c.works for c in state.cycles.values()):
            raise PageProblem(
                404, gettext("{agency} has no work under this directive", lang).format(agency=agency)
            )
        now = service.now()
        works = []
        for cycle in state.cycles.values():
            work = cycle.works.get(agency)
            if work is None:
                continue
            late = standing(work, now) in ("overdue", "completed_late")
            works.append({
                "cycle": cycle.id, "work": work, "standing": standing(work, now),
                "standing_label": standing_label(standing(work, now), lang),
                "status_label": work_status_label(work.status, lang),
                "can_ask": operator.role in ASKERS and late and work.pending_explanation is None
                and state.status == "active" and not cycle.not_tracked,
                "default_due": (now + dt.timedelta(days=5)).date().isoformat(),
            })  # fmt: skip
        history = [e for e in service.directives.events(directive) if _concerns(e.payload, agency)]
        return {
            "operator": operator, "state": state, "directive": state.definition.definition,
            "agency": {"id": agency, "name": tracked.name if tracked else agency},
            "works": works,
            "history": [
                {"at": e.business_time, "label": event_label(e.type, lang), "type": e.type,
                 "actor": e.actor, "cycle": e.payload.get("cycle"),
                 "detail": _detail(e.payload, lang)}
                for e in reversed(history)
            ],
            "csrf": csrf(token),
            "form_id": secrets.token_urlsafe(12),
            "default_text": DEFAULT_ASK,
            "back": f"{PREFIX}/" + (f"?lang={lang}" if lang != "vi" else ""),
            "post_url": f"{PREFIX}/directives/{directive}/agencies/{agency}/explain"
            + (f"?lang={lang}" if lang != "vi" else ""),
        }  # fmt: skip

    def agency_page(
        operator: Operator, token: str, lang: str, directive: str, agency: str,
        status: int = 200, *, flash: str | None = None, error: str | None = None,
    ) -> HTMLResponse:  # fmt: skip
        try:
            context = agency_context(operator, token, lang, directive, agency)
        except PageProblem as e:
            return html("ops/message.html", e.status, lang, message=e.message, back=f"{PREFIX}/")
        message = gettext(FLASHES[flash], lang) if flash in FLASHES else None
        return html("ops/agency.html", status, lang, flash=message, error=error, **context)

    @app.get(f"{PREFIX}/directives/{{directive}}/agencies/{{agency}}", include_in_schema=False)
    async def agency_work(
        request: Request, directive: str, agency: str, flash: str | None = None
    ) -> Response:
        lang = lang_of(request)
        try:
            operator, token = await run_in_threadpool(signed_in, request)
        except TokenInvalid as e:
            return refused(e, lang)
        return await run_in_threadpool(
            lambda: agency_page(operator, token, lang, directive, agency, flash=flash)
        )

    @app.post(f"{PREFIX}/directives/{{directive}}/agencies/{{agency}}/explain", include_in_schema=False)
    async def explain(request: Request, directive: str, agency: str) -> Response:
        lang = lang_of(request)
        try:
            operator, token = await run_in_threadpool(signed_in, request)
        except TokenInvalid as e:
            return refused(e, lang)
        body = await _body(request)
        fields = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace"),
                                               keep_blank_values=True, max_num_fields=20).items()}  # fmt: skip

        def again(status: int, error: str) -> HTMLResponse:
            return agency_page(operator, token, lang, directive, agency, status, error=error)

        if not hmac.compare_digest(fields.get("csrf", ""), csrf(token)):
            return await run_in_threadpool(
                again, 403, gettext("The form is out of date; please open the page again.", lang)
            )
        if operator.role not in ASKERS:
            return await run_in_threadpool(
                again, 403, gettext("Only an issuer or an overseer asks for an explanation.", lang)
            )
        form_id = fields.get("form_id", "")
        try:
            if not FORM_ID.match(form_id):
                raise ValueError("form id")
            asked = schemas.ExplanationRequestIn.model_validate(
                {"due": fields.get("due"), "text": fields.get("text", "").strip()}
            )
            command = cmd.RequestExplanation(
                actor=operator.actor, agency=agency, cycle=fields.get("cycle", ""),
                due=asked.due, text=asked.text,
            )  # fmt: skip
        except (ValidationError, ValueError) as e:
            detail = "; ".join(f"{'.'.join(map(str, p['loc']))}: {p['msg']}" for p in e.errors()) if isinstance(e, ValidationError) else str(e)  # fmt: skip
            return await run_in_threadpool(
                again, 422, gettext("Please check what was entered", lang) + f": {detail}"
            )
        caller = Caller(
            agency=operator.actor, webhook_id=f"page-{form_id}",
            request_sha256=request_digest("POST", request.url.path, "", body),
        )  # fmt: skip
        try:
            answer = await run_in_threadpool(service.handle, caller, directive, command)
        except WebhookError as e:
            return await run_in_threadpool(again, 503, e.detail)
        if answer.status >= 400:
            detail = str(answer.body.get("detail", ""))
            return await run_in_threadpool(
                again, answer.status, gettext("Not recorded", lang) + f": {detail}"
            )
        if answer.status == 201 and not answer.replayed:
            poke(directive)
        query = urlencode({"flash": "asked", **({"lang": lang} if lang != "vi" else {})})
        return RedirectResponse(
            f"{PREFIX}/directives/{directive}/agencies/{agency}?{query}", status_code=303,
            headers=HEADERS,
        )  # fmt: skip


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_FORM_BYTES):
        raise _TooLarge()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise _TooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


class _TooLarge(WebhookError):
    status_code = 413
    code = "payload_too_large"

    def __init__(self) -> None:
        super().__init__(f"the form is over {MAX_FORM_BYTES} bytes")


def _concerns(payload: dict[str, Any], agency: str) -> bool:
    return agency in (payload.get("agency"), payload.get("to"), payload.get("consolidator"))


def _detail(payload: dict[str, Any], lang: str) -> str:
    """A short line of what an event says, for the history (texts cut at 300 characters)."""
    parts = []
    for key in ("level", "due", "new_due", "proposed_due", "reason", "text", "to"):
        value = payload.get(key)
        if value not in (None, ""):
            text = str(value)
            if key in ("due", "new_due", "proposed_due"):
                try:
                    text = person_date(dt.date.fromisoformat(text), lang)
                except ValueError:
                    pass
            parts.append(text if len(text) <= 300 else text[:299] + "…")
    return " · ".join(parts)


__all__ = ["install_pages"]
