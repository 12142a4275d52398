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
from chidao.webhook.uploads import (
    DEFAULT_LIMIT,
    AttachmentRefused,
    attachment_response,
    is_multipart,
    parse_multipart,
    take_files,
)
from flows.clock import SystemClock
from i18n import LANGUAGES, N_, gettext, translator
from i18n.times import person_date
from ledger.attachments import Blob
from lifecycle import DirectiveState
from lifecycle import commands as cmd
from lifecycle.inbox import item_standing
from lifecycle.status import current_cycle, standing, standing_label, work_status_label
from notifications.compose import cycle_label
from notifications.links import (
    LinkExpired,
    LinkInvalid,
    inbox_path,
    page_path,
    verify_any_link,
)

log = logging.getLogger("chidao.webhook")

PAGE_ROUTE = "/v1/directives/{directive}/agencies/{agency}"
INBOX_ROUTE = "/v1/agencies/{agency}"
FILE_ROUTE = "/v1/directives/{directive}/agencies/{agency}/attachments/{sha256}"
DRAFT_ROUTE = "/v1/directives/{directive}/agencies/{agency}/draft/{cycle}.{ext}"
POST_ROUTE = "/v1/directives/{directive}/agencies/{agency}/form/{action}"
# What the signature gate lets through unsigned (the token is checked here instead).
PAGE_PATH = re.compile(r"^/v1/directives/[^/]+/agencies/[^/]+$")
INBOX_PAGE_PATH = re.compile(r"^/v1/agencies/[^/]+$")
FILE_PATH = re.compile(r"^/v1/directives/[^/]+/agencies/[^/]+/attachments/[0-9a-f]{64}$")
DRAFT_PATH = re.compile(r"^/v1/directives/[^/]+/agencies/[^/]+/draft/[^/]+\.(docx|html)$")
PAGE_PATHS = (PAGE_PATH, INBOX_PAGE_PATH, FILE_PATH, DRAFT_PATH)
POST_PATH = re.compile(r"^/v1/directives/[^/]+/agencies/[^/]+/form/[^/]+$")
ACTIONS = ("acknowledge", "item", "report", "extension", "consolidated", "explanation")
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

TEXT: dict[str, str] = {  # the page's words, as catalogue ids
    "acknowledge": N_("Recorded: receipt of the directive is acknowledged."),
    "item": N_("Recorded: the item is marked done."),
    "report": N_("Recorded: the report of this cycle was submitted."),
    "extension": N_("Recorded: the extension request; the decision will come by mail."),
    "consolidated": N_("Recorded: the consolidated report of this cycle was submitted."),
    "explanation": N_("Recorded: the explanation was sent."),
    "nothing": N_("Nothing new to record: this was already done."),
    "refused": N_("Not recorded"),
    "invalid": N_("Please check what was entered"),
    "unavailable": N_("The system cannot record this right now; please try again shortly."),
    "not_found": N_("No such directive."),
    "other_agency": N_("This link belongs to another agency; it cannot act for it."),
    "not_tracked": N_("This agency has no work under this directive."),
    "heading": N_("The agency's work"),
    "ack_heading": N_("Receipt"),
    "ack_prompt": N_("Confirm that the agency received this directive."),
    "ack_button": N_("Acknowledge receipt"),
    "acknowledged_on": N_("Receipt acknowledged on"),
    "tasks_heading": N_("Assigned tasks"),
    "section": N_("Section"),
    "done_on": N_("Done on"),
    "not_done": N_("Not done yet"),
    "note": N_("Note (optional)"),
    "mark_done": N_("Mark done"),
    "cycle_heading": N_("Reporting cycle"),
    "due": N_("Report due"),
    "standing": N_("Standing"),
    "status": N_("Report"),
    "returned_reason": N_("Returned because"),
    "pending_extension": N_("An extension awaits a decision, to"),
    "report_heading": N_("Submit the report"),
    "report_text": N_("Text of the report"),
    "report_button": N_("Submit the report"),
    "extension_heading": N_("Ask for more time"),
    "reason": N_("Reason"),
    "proposed_due": N_("Proposed date"),
    "extension_button": N_("Ask for the extension"),
    "no_cycle": N_("No reporting cycle is open yet."),
    "no_report_owed": N_("The agency owes no report in this cycle."),
    "closed": N_("The directive is closed; nothing more can be recorded."),
    "footer": N_("This link is for the agency the mail was sent to; please do not forward it."),
}
INBOX_KINDS: dict[str, str] = {  # what an inbox entry asks, as catalogue ids
    "acknowledge": N_("Acknowledge receipt of the directive"),
    "complete_items": N_("Mark the assigned items done"),
    "report": N_("Submit the report"),
    "review_report": N_("Accept or return a report"),
    "consolidate": N_("Submit the consolidated report"),
    "decide_extension": N_("Decide an extension request"),
    "explain": N_("Explain the late report in writing"),
}
FIELD_NAMES: dict[str, str] = {  # a form's fields, named in its error messages
    "text": N_("report text"),
    "note": N_("note"),
    "reason": N_("reason"),
    "proposed_due": N_("proposed date"),
    "item": N_("item"),
    "cycle": N_("cycle"),
    "form_id": N_("form id"),
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


_REAL_CLOCK = SystemClock()


def _invalid(field: str, lang: str) -> str:
    return gettext("{field}: invalid", lang).format(field=gettext(FIELD_NAMES[field], lang))


def _page_date(day: dt.date | dt.datetime, lang: str = "vi") -> str:
    """A date on the page: Vietnam's (a moment at 20:30 UTC is already the next day there)."""
    return person_date(day, lang)


def _environment() -> dict[str, Environment]:
    """One jinja2 environment per language, with the catalogue installed (jinja2.ext.i18n)."""
    envs: dict[str, Environment] = {}
    for lang in LANGUAGES:
        env = Environment(
            loader=FileSystemLoader(FilePath(__file__).parent / "templates"),
            autoescape=select_autoescape(["html"], default=True),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=["jinja2.ext.i18n"],
        )
        env.install_gettext_translations(translator(lang), newstyle=True)  # type: ignore[attr-defined]
        env.filters["date"] = _page_date
        envs[lang] = env
    return envs


def _html(
    envs: dict[str, Environment], template: str, status: int, *, lang: str, **context: Any
) -> HTMLResponse:
    env = envs.get(lang, envs["vi"])
    rendered = env.get_template(template).render(lang=lang, **context)
    return HTMLResponse(unicodedata.normalize("NFC", rendered), status_code=status, headers=HEADERS)


def _parse_form(body: bytes) -> dict[str, str]:
    try:
        text = body.decode("utf-8")
        parsed = parse_qs(text, keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError) as e:
        raise FormProblem(422, "form body is not UTF-8 form data") from e
    return {key: values[0] for key, values in parsed.items()}


def _validation_message(error: ValidationError, language: str) -> str:
    parts = []
    for problem in error.errors():
        where = [str(p) for p in problem.get("loc", ()) if isinstance(p, str)]
        name = where[-1] if where else ""
        field = gettext(FIELD_NAMES[name], language) if name in FIELD_NAMES else name
        parts.append(f"{field}: {problem.get('msg', 'invalid')}" if field else problem["msg"])
    return "; ".join(parts)


def install_form(
    app: FastAPI,
    *,
    service: Service,
    poke: Callable[[str], None],
    link_key: bytes | None,
    now: Callable[[], dt.datetime] = _REAL_CLOCK.now,
    max_attachment_bytes: int = DEFAULT_LIMIT,
) -> None:
    """Add the browser form's routes to `app`. Without `link_key` every link is refused.

    `now` is the real time links expire against (not the business clock of the calls).
    """
    env = _environment()

    def check(token: str | None, directive: str | None, agency: str) -> Link | None:
        """The link if `token` is genuine, live and for `agency` (on `directive`, unless it
        is the agency's own token, good for every directive that tracks it)."""
        if not token or link_key is None:
            return None
        try:
            found_directive, found_agency = verify_any_link(link_key, token, now())
        except LinkInvalid:  # LinkExpired included
            return None
        if found_agency != agency:
            return None
        if found_directive is not None and found_directive != directive:
            return None
        return Link(directive or "", agency, token)

    def invalid_link(token: str | None) -> HTMLResponse:
        expired = False
        if token and link_key is not None:
            try:
                verify_any_link(link_key, token, now())
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
        context = _page_context(state, link, flash, error)
        return _html(env, "page.html", status, **context)

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
        cycle = None
        if cycle_id is not None:
            cycle = {
                "id": cycle_id,
                "label": cycle_label(resolved, cycle_id, lang),
                "closed": state.cycles[cycle_id].status == "closed",
                "work": work,
                "standing": standing_label(standing(work, at), lang) if work else None,
                "status": work_status_label(work.status, lang) if work else None,
                "open": work is not None and work.status in ("assigned", "returned"),
            }
        explanations = [
            {"cycle": c.id, "label": cycle_label(resolved, c.id, lang), "asked": x}
            for c in state.cycles.values()
            for w in [c.works.get(link.agency)] if w is not None
            for x in w.explanations
        ]  # fmt: skip
        consolidation = None
        if cycle_id is not None and resolved.consolidator == link.agency:
            token_q = quote(link.token, safe="")
            base = page_path(link.directive, link.agency)
            consolidation = {
                "cycle": cycle_id,
                "label": cycle_label(resolved, cycle_id, lang),
                "open": state.cycles[cycle_id].status == "consolidation_requested",
                "docx": f"{base}/draft/{cycle_id}.docx?token={token_q}",
                "html": f"{base}/draft/{cycle_id}.html?token={token_q}",
            }
        token_q = quote(link.token, safe="")
        files = [
            {
                "cycle": cycle_label(resolved, file_cycle, lang),
                "name": ref.name,
                "size": ref.size,
                "url": f"{page_path(link.directive, link.agency)}/attachments/{ref.sha256}"
                f"?token={token_q}",
            }
            for file_cycle, ref in service.sent_files(link.directive, link.agency)
        ]
        page_id = secrets.token_urlsafe(12)
        return {
            "explanations": explanations,
            "lang": lang,
            "consolidation": consolidation,
            "files": files,
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
            "flash": gettext(TEXT[flash], lang) if flash in FLASHES else None,
            "error": error,
        }

    def state_for(link: Link, language: str = "vi") -> DirectiveState:
        try:
            state = service.state(link.directive)
        except WebhookError as e:
            status = 404 if e.status_code == 404 else 503
            raise FormProblem(
                status, gettext(TEXT["not_found" if status == 404 else "unavailable"], language)
            ) from e
        if not state.resolved or state.definition.agency(link.agency) is None:
            raise FormProblem(404, gettext(TEXT["not_tracked"], language))
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
        return await run_in_threadpool(page, link, state, flash=flash)

    def inbox_context(agency: str, token: str, flash: str | None) -> dict[str, Any] | None:
        """The agency's open work on every directive, read from the inbox projection."""
        try:
            entries = service.inbox_entries(agency)
        except WebhookError:
            return None
        at = service.now()
        groups: list[dict[str, Any]] = []
        lang = "vi"
        name = agency
        for directive_id in dict.fromkeys(e.directive for e in entries):
            try:
                state = service.state(directive_id)
            except WebhookError:
                continue
            resolved = state.definition
            tracked = resolved.agency(agency)
            if tracked is not None:
                lang, name = tracked.language, tracked.name
            d = resolved.definition
            rows = []
            for entry in (e for e in entries if e.directive == directive_id):
                standing_code = item_standing(entry, at)
                about = resolved.agency(entry.agency)
                rows.append(
                    {
                        "kind": entry.kind,
                        "what": INBOX_KINDS.get(entry.kind, entry.kind),
                        "cycle": entry.cycle,
                        "cycle_label": cycle_label(resolved, entry.cycle, lang) if entry.cycle else "",
                        "due": entry.due,
                        "standing": standing_code,
                        "standing_label": standing_label(standing_code, lang) if standing_code else "",
                        "about": entry.agency,
                        "about_name": about.name if about else entry.agency,
                        "detail": entry.detail,
                    }
                )  # fmt: skip
            rows.sort(key=lambda r: r["standing"] != "overdue")  # stable: the overdue first
            overdue = any(r["standing"] == "overdue" for r in rows)
            groups.append(
                {
                    "id": directive_id,
                    "reference": d.reference,
                    "kind": d.kind,
                    "subject": d.subject,
                    "issued_on": d.issued_on,
                    "page": page_path(directive_id, agency) + f"?token={quote(token, safe='')}",
                    "action_url": (lambda action, did=directive_id:
                                   page_path(did, agency) + f"/form/{action}"),
                    "draft_url": (lambda cycle, ext, did=directive_id:
                                  f"{page_path(did, agency)}/draft/{cycle}.{ext}"
                                  f"?token={quote(token, safe='')}"),
                    "rows": rows,
                    "overdue": overdue,
                }
            )  # fmt: skip
        groups.sort(key=lambda g: (not g["overdue"], min((r["due"] for r in g["rows"] if r["due"]),
                                                         default=dt.date.max)))  # fmt: skip
        page_id = secrets.token_urlsafe(12)
        return {
            "lang": lang,
            "agency": {"id": agency, "name": name},
            "groups": groups,
            "today": at,
            "token": token,
            "form_id": lambda label: f"{page_id}-{label}",
            "flash": gettext(TEXT[flash], lang) if flash in FLASHES else None,
        }

    @app.get(INBOX_ROUTE, include_in_schema=False, response_class=HTMLResponse)
    async def inbox_page(agency: str, token: str | None = None, flash: str | None = None) -> Response:
        link = check_agency(token, agency)
        if link is None:
            return invalid_link(token)
        context = await run_in_threadpool(inbox_context, agency, link.token, flash)
        if context is None:
            return message(503, gettext(TEXT["unavailable"], "vi"))
        return _html(env, "inbox.html", 200, **context)

    def check_agency(token: str | None, agency: str) -> Link | None:
        """An agency token for `agency` (only: a directive's token opens that directive)."""
        if not token or link_key is None:
            return None
        try:
            found = verify_any_link(link_key, token, now())
        except LinkInvalid:
            return None
        return Link("", agency, token) if found == (None, agency) else None

    @app.get(FILE_ROUTE, include_in_schema=False)
    async def agency_file(directive: str, agency: str, sha256: str, token: str | None = None) -> Response:
        link = check(token, directive, agency)
        if link is None:
            return invalid_link(token)
        try:
            blob = await run_in_threadpool(service.attachment, agency, directive, sha256)
        except WebhookError as e:
            return message(e.status_code if e.status_code < 500 else 503, e.detail)
        return attachment_response(blob, sha256)

    @app.get(DRAFT_ROUTE, include_in_schema=False)
    async def agency_draft(
        directive: str, agency: str, cycle: str, ext: str, token: str | None = None
    ) -> Response:
        link = check(token, directive, agency)
        if link is None:
            return invalid_link(token)
        try:
            token_q = quote(link.token, safe="")

            def file_url(ref: Any) -> str:
                return f"{page_path(directive, agency)}/attachments/{ref.sha256}?token={token_q}"

            made = await run_in_threadpool(
                service.draft, agency, directive, cycle, ext, file_url
            )
        except WebhookError as e:
            return message(e.status_code if e.status_code < 500 else 503, e.detail)
        content, media_type, filename = made
        headers = {**HEADERS, "Content-Disposition": (
            f"{'inline' if ext == 'html' else 'attachment'}; filename*=UTF-8''{filename}")}
        return Response(content, media_type=media_type, headers=headers)

    @app.post(POST_ROUTE, include_in_schema=False, response_class=HTMLResponse)
    async def agency_form(request: Request, directive: str, agency: str, action: str) -> Response:
        body = await request.body()
        blobs: list[Blob] = []
        refs: tuple[Any, ...] = ()
        content_type = request.headers.get("content-type", "")
        files_error: str | None = None
        try:
            if is_multipart(content_type):
                parts = parse_multipart(content_type, body)
                fields = {
                    p.name: p.content.decode("utf-8")
                    for p in parts
                    if p.filename is None and p.name not in ("file", "files")
                }
                try:
                    blobs, refs = take_files(parts, max_attachment_bytes)
                except AttachmentRefused as e:
                    files_error = e.detail  # shown once the link is known to be genuine
            else:
                fields = _parse_form(body)
        except (FormProblem, AttachmentRefused, UnicodeDecodeError) as e:
            detail = getattr(e, "message", None) or getattr(e, "detail", None) or str(e)
            return message(getattr(e, "status", 422), detail)
        token = fields.get("token")
        link = check(token, directive, agency)
        if link is None:
            if token and link_key is not None:
                # A genuine, live link of this directive used on another agency's page.
                try:
                    owner = verify_any_link(link_key, token, now())
                except LinkInvalid:
                    owner = None
                if owner is not None and owner[0] in (directive, None) and owner[1] != agency:
                    return message(403, gettext(TEXT["other_agency"], "vi"))
            return invalid_link(token)
        try:
            state = await run_in_threadpool(state_for, link)
        except FormProblem as e:
            return message(e.status, e.message)
        lang = state.definition.agency(agency).language  # type: ignore[union-attr]
        try:
            if files_error is not None:
                raise FormProblem(422, files_error)
            form_id = fields.get("form_id", "")
            if not FORM_ID.match(form_id):
                raise FormProblem(422, _invalid("form_id", lang))
            command = _command(action, agency, fields, lang, refs)
        except FormProblem as e:
            return await run_in_threadpool(page, link, state, e.status, error=f"{gettext(TEXT['invalid'], lang)}: {e.message}")
        caller = Caller(
            agency=agency,
            webhook_id=f"form-{form_id}",
            request_sha256=request_digest("POST", request.url.path, "", body),
        )
        try:
            answer: Answer = await run_in_threadpool(
                service.handle, caller, directive, command, blobs
            )
        except WebhookError as e:
            status = e.status_code if e.status_code < 500 else 503
            detail = e.detail if status < 500 else gettext(TEXT["unavailable"], lang)
            state = await run_in_threadpool(state_for, link, lang)
            return await run_in_threadpool(page, link, state, status, error=f"{gettext(TEXT['refused'], lang)}: {detail}")
        if answer.status >= 400:
            state = await run_in_threadpool(state_for, link, lang)
            detail = (
                answer.refusal.in_language(lang)
                if answer.refusal is not None
                else str(answer.body.get("detail", ""))
            )
            return await run_in_threadpool(page, link, state, answer.status, error=f"{gettext(TEXT['refused'], lang)}: {detail}")
        if answer.status == 201 and not answer.replayed:
            poke(directive)
        flash = action if answer.body.get("events") else "nothing"
        target = f"{page_path(directive, agency)}?token={quote(link.token, safe='')}&flash={flash}"
        if fields.get("back") == "inbox" and check_agency(link.token, agency) is not None:
            target = (f"{inbox_path(agency)}?token={quote(link.token, safe='')}&flash={flash}"
                      f"#d-{directive}")  # fmt: skip
        return RedirectResponse(target, status_code=303, headers=HEADERS)


def _command(
    action: str, agency: str, fields: dict[str, str], lang: str, refs: tuple[Any, ...] = ()
) -> cmd.AnyCommand:
    """The lifecycle command a form post asks for, its fields checked like the signed API's."""
    try:
        if action == "acknowledge":
            return cmd.Acknowledge(actor=agency, agency=agency)
        if action == "item":
            item = fields.get("item", "")
            if not re.match(schemas.ITEM_PATTERN, item):
                raise FormProblem(422, _invalid("item", lang))
            done = schemas.ItemDone(note=fields.get("note", ""))
            return cmd.CompleteItem(actor=agency, agency=agency, item=item, note=done.note)
        cycle = fields.get("cycle", "")
        if not re.match(schemas.CYCLE_PATTERN, cycle) or len(cycle) > 20:
            raise FormProblem(422, _invalid("cycle", lang))
        if action == "report":
            report = schemas.ReportIn(text=fields.get("text", "").strip())
            return cmd.SubmitReport(
                actor=agency, agency=agency, cycle=cycle, text=report.text, attachments=refs
            )
        if action == "consolidated":
            whole = schemas.ConsolidatedIn(text=fields.get("text", "").strip())
            return cmd.SubmitConsolidatedReport(
                actor=agency, cycle=cycle, text=whole.text, attachments=refs
            )
        if action == "explanation":
            given = schemas.ExplanationIn(text=fields.get("text", "").strip())
            return cmd.GiveExplanation(actor=agency, agency=agency, cycle=cycle, text=given.text)
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
