"""The browser form: a person with the link from a mail answers for their agency without signing.

The link in each mail to a tracked agency (`notifications.links`) carries a token naming the
directive and the agency, with an expiry, signed with a key derived from the system's secret.
`GET /v1/directives/{d}/agencies/{a}?token=…` shows that agency's work on that directive, in
its language, with a form for each thing it may do; each form posts to
`/v1/directives/{d}/agencies/{a}/form/{action}` with the token and a one-time form id in
hidden fields. A post is decided by the same `Service` as the signed API, under the ledger
key `wh:{agency}:form-{id}`, so a double click records once; then the browser is sent back
(303) to the page with a short message. A refusal is shown on the page, with its status.

No cookies: the token in the body is what a forged cross-site post lacks. The token is in
the URL of the page, so pages are sent with `Referrer-Policy: no-referrer` and `no-store`.
None of these routes is in the OpenAPI document: they are for people, not systems.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path as FilePath
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from chidao.webhook import schemas
from chidao.webhook.errors import WebhookError
from chidao.webhook.service import Answer, Caller, Service, request_digest
from lifecycle import DirectiveState
from lifecycle import commands as cmd
from lifecycle.status import STANDING_VI, current_cycle, standing
from notifications.compose import STANDING_EN, cycle_label
from notifications.links import LinkExpired, LinkInvalid, page_path, verify_link
from notifications.render import format_date

log = logging.getLogger("chidao.webhook")

PAGE_ROUTE = "/v1/directives/{directive}/agencies/{agency}"
POST_ROUTE = "/v1/directives/{directive}/agencies/{agency}/form/{action}"
# What the signature gate lets through unsigned (the token is checked here instead).
PAGE_PATH = re.compile(r"^/v1/directives/[^/]+/agencies/[^/]+$")
POST_PATH = re.compile(r"^/v1/directives/[^/]+/agencies/[^/]+/form/[^/]+$")
ACTIONS = ("acknowledge", "item", "report", "extension")
FLASHES = frozenset({*ACTIONS, "nothing"})
FORM_ID = re.compile(r"^[A-Za-z0-9_-]{8,80}$")
MAX_FIELDS = 20

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

TEXT: dict[str, dict[str, str]] = {
    "vi": {
        "acknowledge": "Đã ghi nhận: cơ quan đã xác nhận tiếp nhận văn bản.",
        "item": "Đã ghi nhận: nhiệm vụ được đánh dấu hoàn thành.",
        "report": "Đã ghi nhận báo cáo kết quả thực hiện của kỳ này.",
        "extension": "Đã ghi nhận đề nghị gia hạn; kết quả sẽ được thông báo qua thư.",
        "nothing": "Không có gì mới để ghi nhận: việc này đã được thực hiện trước đó.",
        "refused": "Không ghi nhận được",
        "invalid": "Thông tin chưa hợp lệ",
        "unavailable": "Hệ thống tạm thời không ghi nhận được; vui lòng thử lại sau ít phút.",
        "not_found": "Không tìm thấy văn bản này.",
        "other_agency": "Đường dẫn này dành cho cơ quan khác; không thể thực hiện thay.",
        "not_tracked": "Cơ quan này không được giao nhiệm vụ theo văn bản này.",
        "heading": "Nhiệm vụ của cơ quan, đơn vị",
        "ack_heading": "Tiếp nhận văn bản",
        "ack_prompt": "Xác nhận cơ quan đã tiếp nhận văn bản này.",
        "ack_button": "Xác nhận đã tiếp nhận",
        "acknowledged_on": "Đã xác nhận tiếp nhận ngày",
        "tasks_heading": "Các nhiệm vụ được giao",
        "section": "Mục",
        "done_on": "Đã hoàn thành ngày",
        "not_done": "Chưa hoàn thành",
        "note": "Ghi chú (không bắt buộc)",
        "mark_done": "Đánh dấu hoàn thành",
        "cycle_heading": "Kỳ báo cáo",
        "due": "Hạn báo cáo",
        "standing": "Tình trạng",
        "status": "Báo cáo",
        "returned_reason": "Lý do trả lại",
        "pending_extension": "Đang chờ quyết định gia hạn đến ngày",
        "report_heading": "Gửi báo cáo kết quả thực hiện",
        "report_text": "Nội dung báo cáo",
        "report_button": "Gửi báo cáo",
        "extension_heading": "Đề nghị gia hạn",
        "reason": "Lý do",
        "proposed_due": "Đề nghị gia hạn đến ngày",
        "extension_button": "Gửi đề nghị gia hạn",
        "no_cycle": "Chưa có kỳ báo cáo nào được mở.",
        "no_report_owed": "Cơ quan không phải nộp báo cáo trong kỳ này.",
        "closed": "Văn bản đã kết thúc theo dõi; không thể ghi nhận thêm.",
        "footer": "Đường dẫn này chỉ dành cho cơ quan nhận thư; vui lòng không chuyển tiếp.",
    },
    "en": {
        "acknowledge": "Recorded: receipt of the directive is acknowledged.",
        "item": "Recorded: the item is marked done.",
        "report": "Recorded: the report of this cycle was submitted.",
        "extension": "Recorded: the extension request; the decision will come by mail.",
        "nothing": "Nothing new to record: this was already done.",
        "refused": "Not recorded",
        "invalid": "Please check what was entered",
        "unavailable": "The system cannot record this right now; please try again shortly.",
        "not_found": "No such directive.",
        "other_agency": "This link belongs to another agency; it cannot act for it.",
        "not_tracked": "This agency has no work under this directive.",
        "heading": "The agency's work",
        "ack_heading": "Receipt",
        "ack_prompt": "Confirm that the agency received this directive.",
        "ack_button": "Acknowledge receipt",
        "acknowledged_on": "Receipt acknowledged on",
        "tasks_heading": "Assigned tasks",
        "section": "Section",
        "done_on": "Done on",
        "not_done": "Not done yet",
        "note": "Note (optional)",
        "mark_done": "Mark done",
        "cycle_heading": "Reporting cycle",
        "due": "Report due",
        "standing": "Standing",
        "status": "Report",
        "returned_reason": "Returned because",
        "pending_extension": "An extension awaits a decision, to",
        "report_heading": "Submit the report",
        "report_text": "Report",
        "report_button": "Submit the report",
        "extension_heading": "Ask for more time",
        "reason": "Reason",
        "proposed_due": "Proposed date",
        "extension_button": "Ask for the extension",
        "no_cycle": "No reporting cycle is open yet.",
        "no_report_owed": "The agency owes no report in this cycle.",
        "closed": "The directive is closed; nothing more can be recorded.",
        "footer": "This link is for the agency the mail was sent to; please do not forward it.",
    },
}
FIELD_NAMES: dict[str, dict[str, str]] = {
    "vi": {
        "text": "nội dung báo cáo",
        "note": "ghi chú",
        "reason": "lý do",
        "proposed_due": "ngày đề nghị",
        "item": "nhiệm vụ",
        "cycle": "kỳ báo cáo",
        "form_id": "mã biểu mẫu",
    },
    "en": {
        "text": "report text",
        "note": "note",
        "reason": "reason",
        "proposed_due": "proposed date",
        "item": "item",
        "cycle": "cycle",
        "form_id": "form id",
    },
}
WORK_STATUS: dict[str, dict[str, str]] = {
    "vi": {
        "assigned": "chưa nộp báo cáo",
        "reported": "đã nộp báo cáo, đang chờ xem xét",
        "accepted": "báo cáo đã được chấp nhận",
        "returned": "báo cáo bị trả lại để bổ sung",
        "withdrawn": "đã rút nhiệm vụ",
    },
    "en": {
        "assigned": "report not submitted yet",
        "reported": "report submitted, awaiting review",
        "accepted": "report accepted",
        "returned": "report returned for more",
        "withdrawn": "task withdrawn",
    },
}


class FormProblem(Exception):
    """A form post that cannot be decided: shown on the page with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Link:
    directive: str
    agency: str
    token: str


def _environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(FilePath(__file__).parent / "templates"),
        autoescape=select_autoescape(["html"], default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["date"] = format_date
    return env


def _html(env: Environment, template: str, status: int, **context: Any) -> HTMLResponse:
    rendered = env.get_template(template).render(**context)
    return HTMLResponse(unicodedata.normalize("NFC", rendered), status_code=status, headers=HEADERS)


def _parse_form(body: bytes) -> dict[str, str]:
    try:
        text = body.decode("utf-8")
        parsed = parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as e:
        raise FormProblem(422, "form body is not UTF-8 form data") from e
    return {key: values[0] for key, values in parsed.items()}


def _validation_message(error: ValidationError, language: str) -> str:
    names = FIELD_NAMES[language]
    parts = []
    for problem in error.errors():
        where = [str(p) for p in problem.get("loc", ()) if isinstance(p, str)]
        field = names.get(where[-1], where[-1]) if where else ""
        parts.append(f"{field}: {problem.get('msg', 'invalid')}" if field else problem["msg"])
    return "; ".join(parts)


def install_form(
    app: FastAPI,
    *,
    service: Service,
    poke: Callable[[str], None],
    link_key: bytes | None,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> None:
    """Add the browser form's routes to `app`. Without `link_key` every link is refused.

    `now` is the real time links expire against (not the business clock of the calls).
    """
    env = _environment()

    def check(token: str | None, directive: str, agency: str) -> Link | None:
        if not token or link_key is None:
            return None
        try:
            found = verify_link(link_key, token, now())
        except LinkExpired:
            return None
        except LinkInvalid:
            return None
        if found != (directive, agency):
            return None
        return Link(directive, agency, token)

    def invalid_link(token: str | None) -> HTMLResponse:
        expired = False
        if token and link_key is not None:
            try:
                verify_link(link_key, token, now())
            except LinkExpired:
                expired = True
            except LinkInvalid:
                pass
        return _html(env, "link_invalid.html", 401, lang="vi", expired=expired, given=bool(token))

    def page(
        link: Link,
        state: DirectiveState,
        status: int = 200,
        *,
        flash: str | None = None,
        error: str | None = None,
    ) -> HTMLResponse:
        return _html(env, "page.html", status, **_page_context(state, link, flash, error))

    def _page_context(
        state: DirectiveState, link: Link, flash: str | None, error: str | None
    ) -> dict[str, Any]:
        resolved = state.definition
        tracked = resolved.agency(link.agency)
        assert tracked is not None  # checked by the caller
        lang = tracked.language
        d = resolved.definition
        mine = state.agencies.get(link.agency)
        done = mine.items_done if mine else {}
        notes = mine.item_notes if mine else {}
        sections = []
        for assignment in d.assignments:
            if assignment.section not in tracked.sections:
                continue
            items = [i for i in tracked.items if i.section == assignment.section]
            sections.append(
                {
                    "number": assignment.section,
                    "heading": assignment.heading,
                    "lines": [
                        {
                            "id": i.id,
                            "text": " ".join(i.text.split()),
                            "done_at": done.get(i.id),
                            "note": notes.get(i.id, ""),
                        }
                        for i in items
                    ],
                }
            )
        at = service.now()
        cycle_id = current_cycle(state)
        work = state.cycles[cycle_id].works.get(link.agency) if cycle_id else None
        labels = STANDING_VI if lang == "vi" else STANDING_EN
        cycle = None
        if cycle_id is not None:
            cycle = {
                "id": cycle_id,
                "label": cycle_label(resolved, cycle_id, lang),
                "closed": state.cycles[cycle_id].status == "closed",
                "work": work,
                "standing": labels[standing(work, at)] if work else None,
                "status": WORK_STATUS[lang].get(work.status, work.status) if work else None,
                "open": work is not None and work.status in ("assigned", "returned"),
            }
        page_id = secrets.token_urlsafe(12)
        return {
            "lang": lang,
            "t": TEXT[lang],
            "directive": {
                "id": d.id,
                "reference": d.reference,
                "kind": d.kind,
                "subject": d.subject,
                "issued_on": d.issued_on,
                "active": state.status == "active",
            },
            "agency": {"id": tracked.id, "name": tracked.name},
            "acknowledged_at": mine.acknowledged_at if mine else None,
            "sections": sections,
            "cycle": cycle,
            "today": at.date(),
            "token": link.token,
            "action_url": lambda action: page_path(link.directive, link.agency) + f"/form/{action}",
            "form_id": lambda name: f"{page_id}-{name}",
            "flash": TEXT[lang].get(flash, None) if flash in FLASHES else None,
            "error": error,
        }

    def state_for(link: Link, language: str = "vi") -> DirectiveState:
        try:
            state = service.state(link.directive)
        except WebhookError as e:
            status = 404 if e.status_code == 404 else 503
            raise FormProblem(
                status, TEXT[language]["not_found" if status == 404 else "unavailable"]
            ) from e
        if not state.resolved or state.definition.agency(link.agency) is None:
            raise FormProblem(404, TEXT[language]["not_tracked"])
        return state

    def message(status: int, text: str, lang: str = "vi") -> HTMLResponse:
        return _html(env, "message.html", status, lang=lang, message=text)

    @app.get(PAGE_ROUTE, include_in_schema=False, response_class=HTMLResponse)
    async def agency_page(
        directive: str, agency: str, token: str | None = None, flash: str | None = None
    ) -> Response:
        link = check(token, directive, agency)
        if link is None:
            return invalid_link(token)
        try:
            state = await run_in_threadpool(state_for, link)
        except FormProblem as e:
            return message(e.status, e.message)
        return page(link, state, flash=flash)

    @app.post(POST_ROUTE, include_in_schema=False, response_class=HTMLResponse)
    async def agency_form(request: Request, directive: str, agency: str, action: str) -> Response:
        body = await request.body()
        try:
            fields = _parse_form(body)
        except FormProblem as e:
            return message(e.status, e.message)
        token = fields.get("token")
        link = check(token, directive, agency)
        if link is None:
            if token and link_key is not None:
                # A genuine, live link of this directive used on another agency's page.
                try:
                    owner = verify_link(link_key, token, now())
                except LinkInvalid:
                    owner = None
                if owner is not None and owner[0] == directive and owner[1] != agency:
                    return message(403, TEXT["vi"]["other_agency"])
            return invalid_link(token)
        try:
            state = await run_in_threadpool(state_for, link)
        except FormProblem as e:
            return message(e.status, e.message)
        lang = state.definition.agency(agency).language  # type: ignore[union-attr]
        try:
            form_id = fields.get("form_id", "")
            if not FORM_ID.match(form_id):
                raise FormProblem(422, f"{FIELD_NAMES[lang]['form_id']}: invalid")
            command = _command(action, agency, fields, lang)
        except FormProblem as e:
            return page(link, state, e.status, error=f"{TEXT[lang]['invalid']}: {e.message}")
        caller = Caller(
            agency=agency,
            webhook_id=f"form-{form_id}",
            request_sha256=request_digest("POST", request.url.path, "", body),
        )
        try:
            answer: Answer = await run_in_threadpool(service.handle, caller, directive, command)
        except WebhookError as e:
            status = e.status_code if e.status_code < 500 else 503
            detail = e.detail if status < 500 else TEXT[lang]["unavailable"]
            state = await run_in_threadpool(state_for, link, lang)
            return page(link, state, status, error=f"{TEXT[lang]['refused']}: {detail}")
        if answer.status >= 400:
            state = await run_in_threadpool(state_for, link, lang)
            detail = str(answer.body.get("detail", ""))
            return page(link, state, answer.status, error=f"{TEXT[lang]['refused']}: {detail}")
        if answer.status == 201 and not answer.replayed:
            poke(directive)
        flash = action if answer.body.get("events") else "nothing"
        target = f"{page_path(directive, agency)}?token={quote(link.token, safe='')}&flash={flash}"
        return RedirectResponse(target, status_code=303, headers=HEADERS)


def _command(action: str, agency: str, fields: dict[str, str], lang: str) -> cmd.AnyCommand:
    """The lifecycle command a form post asks for, its fields checked like the signed API's."""
    try:
        if action == "acknowledge":
            return cmd.Acknowledge(actor=agency, agency=agency)
        if action == "item":
            item = fields.get("item", "")
            if not re.match(schemas.ITEM_PATTERN, item):
                raise FormProblem(422, f"{FIELD_NAMES[lang]['item']}: invalid")
            done = schemas.ItemDone(note=fields.get("note", ""))
            return cmd.CompleteItem(actor=agency, agency=agency, item=item, note=done.note)
        cycle = fields.get("cycle", "")
        if not re.match(schemas.CYCLE_PATTERN, cycle) or len(cycle) > 20:
            raise FormProblem(422, f"{FIELD_NAMES[lang]['cycle']}: invalid")
        if action == "report":
            report = schemas.ReportIn(text=fields.get("text", "").strip())
            return cmd.SubmitReport(actor=agency, agency=agency, cycle=cycle, text=report.text)
        if action == "extension":
            asked = schemas.ExtensionIn.model_validate(
                {
                    "reason": fields.get("reason", "").strip(),
                    "proposed_due": fields.get("proposed_due"),
                }
            )
            return cmd.RequestExtension(
                actor=agency,
                agency=agency,
                cycle=cycle,
                reason=asked.reason,
                proposed_due=asked.proposed_due,
            )
    except ValidationError as e:
        raise FormProblem(422, _validation_message(e, lang)) from e
    raise FormProblem(404, f"no form action {action!r}")
