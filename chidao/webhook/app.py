"""The FastAPI application of the agency webhook.

Every path under `/v1` is signed with an HTTP Message Signature (RFC 9421) by the agency its
`keyid` names (`chidao.webhook.signing`); that agency becomes the actor of the command. A pure ASGI middleware
checks the size, then the signature, before anything else looks at the request, so an unsigned
request is a 401 whatever its body and a body over the limit is a 413 before it is read whole.
`/healthz`, `/readyz`, `/docs` and `/openapi.json` are open. So are the browser form's page
and posts (`chidao.webhook.form`), which carry a signed link token instead of a signature;
their bodies are still held to the size limit. Operators' pages (`/ops/…`,
`chidao.webhook.pages`) and API (`/ops/api/v1/…`, `chidao.webhook.api`) sit outside `/v1`:
they are authenticated by operators' signed tokens (`chidao.webhook.operator_auth`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path as FilePath
from typing import Annotated, Any, TypeVar

from fastapi import Body, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chidao.webhook import schemas
from chidao.webhook.api import install_operator_api
from chidao.webhook.errors import (
    Busy,
    Forbidden,
    PayloadTooLarge,
    SecretStoreError,
    Unauthorized,
    Unavailable,
    WebhookError,
)
from chidao.webhook.form import PAGE_PATHS, POST_PATH, install_form
from chidao.webhook.mailroom import install_mailroom
from chidao.webhook.operator_auth import OperatorAuth
from chidao.webhook.pages import install_pages
from chidao.webhook.secrets import SecretStore
from chidao.webhook.service import (
    INBOX_PAGE,
    INBOX_PAGE_MAX,
    Answer,
    Caller,
    Service,
    error_body,
    parse_inbox_cursor,
)
from chidao.webhook.signing import Authenticator
from chidao.webhook.uploads import DEFAULT_LIMIT as DEFAULT_ATTACHMENT_LIMIT
from chidao.webhook.uploads import (
    AttachmentRefused,
    attachment_response,
    is_multipart,
    parse_multipart,
    take_files,
)
from flows.clock import SystemClock
from ledger.agency_keys import AgencyKeys
from ledger.attachments import Blob
from ledger.operators import Operators
from ledger.store import EventStore
from lifecycle import commands as cmd
from lifecycle.events import Attachment as LedgerAttachment

log = logging.getLogger("chidao.webhook")

REPLAYED_HEADER = "x-chidao-replayed"
SIGNED_PREFIX = "/v1/"
OPERATOR_API_PREFIX = "/ops/api/"
OPERATOR_SCHEME = "operatorKey"  # `chidao operators link ID --api`, as `Authorization: Bearer`
Waker = Callable[[str], Awaitable[None]]
M = TypeVar("M", bound=BaseModel)
# The paths whose multipart bodies may carry files (the reports, by the API or the form).
WITH_FILES = re.compile(r"/(cycles/[^/]+/report|cycles/[^/]+/consolidated|form/report|form/consolidated)$")


# --- the signature gate ---------------------------------------------------------------------


def _error_response(error: WebhookError) -> JSONResponse:
    headers = {"Retry-After": str(error.retry_after)} if isinstance(error, Busy) else None
    return JSONResponse(
        error_body(error.code, error.detail), status_code=error.status_code, headers=headers
    )


class SignatureGate:
    """ASGI middleware: size limit and RFC 9421 verification for every /v1 request.

    The verified body is handed on unchanged to the application, with the `Caller` in
    `scope["state"]["caller"]`.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        authenticator: Authenticator,
        max_body_bytes: int,
        max_attachment_bytes: int = DEFAULT_ATTACHMENT_LIMIT,
    ) -> None:
        self.app = app
        self.authenticator = authenticator
        self.max_body_bytes = max_body_bytes
        self.max_attachment_bytes = max_attachment_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(SIGNED_PREFIX):
            await self.app(scope, receive, send)
            return
        if _is_form(scope):
            await self._form(scope, receive, send)
            return
        try:
            caller, body = await self._authenticate(scope, receive)
        except WebhookError as e:
            await _error_response(e)(scope, receive, send)
            return
        scope.setdefault("state", {})["caller"] = caller
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _form(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A browser form request: no signature (the form checks its link token), size limit."""
        if scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body = await self._read_body(scope, receive, headers)
        except WebhookError as e:
            await _error_response(e)(scope, receive, send)
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _read_body(self, scope: Scope, receive: Receive, headers: dict[str, str]) -> bytes:
        # A multipart body carries files: their own limit on top of the one of the fields.
        limit = self.max_body_bytes
        if is_multipart(headers.get("content-type", "")) and WITH_FILES.search(scope["path"]):
            limit += self.max_attachment_bytes
        declared = headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise PayloadTooLarge("Content-Length is not a number")
            if int(declared) > limit:
                raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise Unauthorized("the client went away before sending its body")
            chunk = message.get("body", b"")
            size += len(chunk)
            # Counted while streaming: a chunked body, or one lying about its length, stops
            # being read as soon as it passes the limit.
            if size > limit:
                raise PayloadTooLarge(f"the body is over the limit of {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    async def _authenticate(self, scope: Scope, receive: Receive) -> tuple[Caller, bytes]:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        body = await self._read_body(scope, receive, headers)
        if "signature-input" not in headers or "signature" not in headers:
            # Checked before any key is looked up, so unsigned noise costs no database read.
            raise Unauthorized(
                "missing Signature-Input and Signature headers: sign the request (RFC 9421)"
            )
        # The path as sent (percent-encoding and all), which is what the client signed.
        raw_path = scope.get("raw_path") or scope["path"].encode()
        path = raw_path.decode("latin-1").split("?", 1)[0]
        query = scope.get("query_string", b"").decode("latin-1")
        return (
            await run_in_threadpool(
                self.authenticator.authenticate, scope["method"], path, query, headers, body
            ),
            body,
        )


def _is_form(scope: Scope) -> bool:
    path: str = scope["path"]
    if scope["method"] in ("GET", "HEAD"):
        return any(p.match(path) is not None for p in PAGE_PATHS)
    return scope["method"] == "POST" and POST_PATH.match(path) is not None


# --- waking the flow ------------------------------------------------------------------------


class Wakeups:
    """Runs the waker in the background, at most one run per directive at a time.

    A burst of calls on one directive while a wake is under way leads to one more wake after
    it, not one each: the flow reconciles from the ledger, so one run sees them all.
    """

    def __init__(self, waker: Waker | None) -> None:
        self.waker = waker
        self._running: dict[str, asyncio.Task[None]] = {}
        self._again: set[str] = set()

    def poke(self, directive: str) -> None:
        if self.waker is None:
            return
        if directive in self._running:
            self._again.add(directive)
            return
        self._running[directive] = asyncio.get_running_loop().create_task(self._run(directive))

    async def _run(self, directive: str) -> None:
        assert self.waker is not None
        try:
            while True:
                self._again.discard(directive)
                try:
                    await self.waker(directive)
                except Exception:
                    # The event is in the ledger; the flow catches up on its next run.
                    log.warning("waking the flow of %s failed", directive, exc_info=True)
                if directive not in self._again:
                    return
        finally:
            self._running.pop(directive, None)

    async def drain(self, timeout: float = 5.0) -> None:
        tasks = list(self._running.values())
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()


# --- the application ------------------------------------------------------------------------

# Every `error` code the webhook answers with, and what a client should do about it.
ERROR_CODES: dict[str, str] = {
    "unauthorized": "401: missing, malformed, wrong or expired signature, or a key not valid now.",
    "forbidden": "403: another agency's work, or a role the signer lacks.",
    "not_found": "404: unknown directive, agency, cycle or item.",
    "conflict": "409: refused by the lifecycle (the detail says why); do not resend as is.",
    "nonce_reused": "409: a replayed signature; nothing was recorded. Sign again to retry.",
    "idempotency_key_reused": "409: the idempotency-key was used for a different request.",
    "payload_too_large": "413: body (or its attachments) over the size limit.",
    "attachment_refused": "422: an attachment of a type not allowed, empty, or whose content "
    "does not match its declared type; nothing was stored.",
    "invalid": "422: malformed JSON or an invalid field (named in `fields`).",
    "busy": "503 with Retry-After: other writers kept changing the directive; resend later "
    "(signed anew, same idempotency-key).",
    "unavailable": "503: the ledger or the key store does not answer; resend later.",
    "internal": "500: an unexpected error; nothing half-written.",
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": schemas.ErrorBody, "description": "`unauthorized`: missing, wrong or expired signature."},
    403: {"model": schemas.ErrorBody, "description": "`forbidden`: another agency's work, or a role it lacks."},
    404: {"model": schemas.ErrorBody, "description": "`not_found`: unknown directive, agency, cycle or item."},
    409: {
        "model": schemas.ErrorBody,
        "description": "`conflict` (refused by the lifecycle, with its reason), `nonce_reused` "
        "(a replay) or `idempotency_key_reused`.",
    },
    413: {"model": schemas.ErrorBody, "description": "`payload_too_large`."},
    422: {"model": schemas.ErrorBody, "description": "`invalid`: malformed JSON or an invalid field."},
    503: {
        "model": schemas.ErrorBody,
        "description": "`busy` (transient, with `Retry-After`) or `unavailable`.",
        "headers": {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds."}},
    },
}
_COMMAND_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": schemas.Recorded, "description": "Nothing new: it was already done."},
    **_ERRORS,
}

DirectiveId = Annotated[str, Path(pattern=schemas.ID_PATTERN, max_length=schemas.ID_MAX)]
AgencyId = Annotated[str, Path(pattern=schemas.ID_PATTERN, max_length=schemas.ID_MAX)]
CycleId = Annotated[str, Path(pattern=schemas.CYCLE_PATTERN, max_length=20)]
ItemId = Annotated[str, Path(pattern=schemas.ITEM_PATTERN, max_length=5)]

DESCRIPTION = """
Agencies acknowledge directives, complete items, submit reports and ask for extensions; the
consolidating department reviews reports; the issuer decides extensions.

**Signing.** Every `/v1` request carries an [HTTP Message Signature (RFC 9421)](https://www.rfc-editor.org/rfc/rfc9421)
in `Signature-Input` and `Signature`, one signature covering `@method`, `@path` and `@query`
with parameters `created` (within 5 minutes), `keyid` and `alg`. A state-changing request also
covers `content-digest` (RFC 9530, `sha-256`), `content-type` (when there is a body) and
`idempotency-key`, and carries a `nonce` parameter used only once. `keyid` is
`{agency}:{kid}` for the agency's registered Ed25519 key (`alg="ed25519"`, preferred: the
server keeps only its public half) or `{agency}:hmac` for its shared secret
(`alg="hmac-sha256"`); that agency is the actor.

**Idempotency.** A retry signs again (new nonce) with the same `Idempotency-Key` and the same
request, and gets the first answer (header `x-chidao-replayed: true`), recording nothing. The
same signature again is a 409 `nonce_reused`; the same key with another request is a 409
`idempotency_key_reused`. A 503 `busy` carries `Retry-After`.
"""


BODY_MODELS: dict[str, type[BaseModel]] = {
    "ReportIn": schemas.ReportIn,
    "ConsolidatedIn": schemas.ConsolidatedIn,
}


def _with_files(model: str) -> dict[str, Any]:
    """The request body of a report: JSON, or multipart with the JSON and its files."""
    ref = {"$ref": f"#/components/schemas/{model}"}
    return {
        "requestBody": {
            "required": True,
            "description": "JSON; or multipart/form-data with the JSON in a part `report` "
            "and each file (PDF, DOCX, XLSX, PNG, JPEG; checked by content) in a part `file`.",
            "content": {
                "application/json": {"schema": ref},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["report"],
                        "properties": {
                            "report": {"type": "string", "description": f"{model} as JSON"},
                            "file": {
                                "type": "array",
                                "items": {"type": "string", "format": "binary"},
                            },
                        },
                    }
                },
            },
        }
    }


def _attachment(value: schemas.Attachment | None) -> LedgerAttachment | None:
    return LedgerAttachment(url=value.url, sha256=value.sha256) if value is not None else None


def create_app(
    *,
    engine: Engine,
    secrets: SecretStore,
    waker: Waker | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    max_body_bytes: int = 1_000_000,
    link_key: bytes | None = None,
    mailroom_dir: FilePath | None = None,
    max_attachment_bytes: int = DEFAULT_ATTACHMENT_LIMIT,
) -> FastAPI:
    """The webhook over the ledger in `engine`, verifying with `secrets`.

    `waker(directive_id)` is awaited in the background after each recorded event; `clock` gives
    the business time of each call (default: the real time, UTC). `link_key` checks the
    tokens of the mail links to the browser form; without it the form refuses every link.
    `mailroom_dir` is the embedded mail room's Maildir, shown at /mailroom to loopback callers
    (None: a real SMTP server is configured, and the page says the mail room is off).
    `max_attachment_bytes` bounds the files of one report (apart from `max_body_bytes`).
    """
    service = Service(engine, clock or SystemClock().now)
    wakeups = Wakeups(waker)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        await wakeups.drain()

    app = FastAPI(
        title="chidao agency webhook",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.service = service
    app.state.wakeups = wakeups
    authenticator = Authenticator(
        secrets, AgencyKeys(EventStore(engine)), SystemClock().now
    )
    app.add_middleware(
        SignatureGate,
        authenticator=authenticator,
        max_body_bytes=max_body_bytes,
        max_attachment_bytes=max_attachment_bytes,
    )

    @app.exception_handler(WebhookError)
    async def _webhook_error(_request: Request, exc: WebhookError) -> JSONResponse:
        return _error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = []
        for problem in exc.errors():
            where = ".".join(str(part) for part in problem.get("loc", ()))
            # The message only: pydantic's `input` would echo the request back.
            fields.append({"field": where, "message": str(problem.get("msg", "invalid"))})
        detail = "; ".join(f"{f['field']}: {f['message']}" for f in fields) or "invalid request"
        return JSONResponse(
            {"error": "invalid", "detail": detail[:2_000], "fields": fields[:50]}, status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's answer to a body it cannot decode at all: to the agency that is one more
            # malformed body, answered like the rest.
            problem = {"field": "body", "message": str(exc.detail)}
            return JSONResponse(
                {"error": "invalid", "detail": f"body: {exc.detail}", "fields": [problem]},
                status_code=422,
            )
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "error")
        return JSONResponse(
            error_body(code, str(exc.detail)), status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # Logged here with its traceback; the agency gets no trace of the internals.
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return JSONResponse(error_body("internal", "internal error"), status_code=500)

    def caller_of(request: Request) -> Caller:
        caller = getattr(request.state, "caller", None)
        if not isinstance(caller, Caller):  # only if the gate was bypassed: refuse, don't guess
            raise Unauthorized("the request is not signed")
        return caller

    def own_work(caller: Caller, agency: str) -> None:
        if caller.agency != agency:
            raise Forbidden(f"signed by {caller.agency}: cannot act for {agency}")

    async def run(
        request: Request, directive: str, command: cmd.AnyCommand, blobs: list[Blob] | None = None
    ) -> JSONResponse:
        caller = caller_of(request)
        answer: Answer = await run_in_threadpool(
            service.handle, caller, directive, command, blobs or []
        )
        if answer.status == 201 and not answer.replayed:
            wakeups.poke(directive)
        headers = {REPLAYED_HEADER: "true"} if answer.replayed else None
        return JSONResponse(answer.body, status_code=answer.status, headers=headers)

    async def with_files(request: Request, model: type[M]) -> tuple[M, list[Blob], tuple[Any, ...]]:
        """The JSON fields of a report and its files: a JSON body (no files), or
        multipart/form-data with the JSON in a part `report` and each file in a part `file`."""
        content_type = request.headers.get("content-type", "")
        raw = await request.body()
        blobs: list[Blob] = []
        refs: tuple[Any, ...] = ()
        if is_multipart(content_type):
            parts = parse_multipart(content_type, raw)
            fields = [p for p in parts if p.name == "report"]
            if len(fields) != 1:
                raise AttachmentRefused("a multipart report has one part named `report` (its JSON)")
            if len(fields[0].content) > max_body_bytes:
                raise PayloadTooLarge(f"the part `report` is over the limit of {max_body_bytes} bytes")
            raw = fields[0].content
            blobs, refs = take_files(parts, max_attachment_bytes)
        try:
            return model.model_validate_json(raw or b"{}"), blobs, refs
        except ValidationError as e:
            raise RequestValidationError(
                [{**err, "loc": ("body", *err.get("loc", ()))} for err in e.errors()]
            ) from e

    signed: dict[str, Any] = {"responses": _COMMAND_RESPONSES, "status_code": 201}

    # --- an agency's own work ---

    @app.post(
        "/v1/directives/{directive}/agencies/{agency}/acknowledge",
        response_model=schemas.Recorded,
        summary="Acknowledge receipt (tiếp nhận)",
        **signed,
    )
    async def acknowledge(
        request: Request,
        directive: DirectiveId,
        agency: AgencyId,
        body: Annotated[schemas.Empty | None, Body()] = None,
    ) -> JSONResponse:
        caller = caller_of(request)
        own_work(caller, agency)
        return await run(request, directive, cmd.Acknowledge(actor=caller.agency, agency=agency))

    @app.post(
        "/v1/directives/{directive}/agencies/{agency}/items/{item}/done",
        response_model=schemas.Recorded,
        summary="Mark an item done",
        **signed,
    )
    async def item_done(
        request: Request,
        directive: DirectiveId,
        agency: AgencyId,
        item: ItemId,
        body: Annotated[schemas.ItemDone | None, Body()] = None,
    ) -> JSONResponse:
        caller = caller_of(request)
        own_work(caller, agency)
        note = body.note if body is not None else ""
        command = cmd.CompleteItem(actor=caller.agency, agency=agency, item=item, note=note)
        return await run(request, directive, command)

    @app.post(
        "/v1/directives/{directive}/agencies/{agency}/cycles/{cycle}/report",
        response_model=schemas.Recorded,
        summary="Submit the cycle report (báo cáo kết quả)",
        openapi_extra=_with_files("ReportIn"),
        **signed,
    )
    async def submit_report(
        request: Request,
        directive: DirectiveId,
        agency: AgencyId,
        cycle: CycleId,
    ) -> JSONResponse:
        caller = caller_of(request)
        own_work(caller, agency)
        body, blobs, refs = await with_files(request, schemas.ReportIn)
        command = cmd.SubmitReport(
            actor=caller.agency,
            agency=agency,
            cycle=cycle,
            text=body.text,
            items=dict(body.items),
            figures=dict(body.figures),
            attachment=_attachment(body.attachment),
            attachments=refs,
        )
        return await run(request, directive, command, blobs)

    @app.post(
        "/v1/directives/{directive}/agencies/{agency}/cycles/{cycle}/extension",
        response_model=schemas.Recorded,
        summary="Request an extension (gia hạn)",
        **signed,
    )
    async def request_extension(
        request: Request,
        directive: DirectiveId,
        agency: AgencyId,
        cycle: CycleId,
        body: schemas.ExtensionIn,
    ) -> JSONResponse:
        caller = caller_of(request)
        own_work(caller, agency)
        command = cmd.RequestExtension(
            actor=caller.agency,
            agency=agency,
            cycle=cycle,
            reason=body.reason,
            proposed_due=body.proposed_due,
        )
        return await run(request, directive, command)

    @app.post(
        "/v1/directives/{directive}/agencies/{agency}/cycles/{cycle}/explanation",
        response_model=schemas.Recorded,
        summary="Answer the explanation asked of the agency (giải trình)",
        **signed,
    )
    async def give_explanation(
        request: Request,
        directive: DirectiveId,
        agency: AgencyId,
        cycle: CycleId,
        body: schemas.ExplanationIn,
    ) -> JSONResponse:
        caller = caller_of(request)
        own_work(caller, agency)
        command = cmd.GiveExplanation(actor=caller.agency, agency=agency, cycle=cycle, text=body.text)
        return await run(request, directive, command)

    # --- the consolidator ---

    @app.post(
        "/v1/directives/{directive}/cycles/{cycle}/reports/{agency}/accept",
        response_model=schemas.Recorded,
        summary="Accept a report (consolidator only)",
        **signed,
    )
    async def accept_report(
        request: Request,
        directive: DirectiveId,
        cycle: CycleId,
        agency: AgencyId,
        body: Annotated[schemas.Empty | None, Body()] = None,
    ) -> JSONResponse:
        caller = caller_of(request)
        command = cmd.AcceptReport(actor=caller.agency, agency=agency, cycle=cycle)
        return await run(request, directive, command)

    @app.post(
        "/v1/directives/{directive}/cycles/{cycle}/reports/{agency}/return",
        response_model=schemas.Recorded,
        summary="Return a report for more (consolidator only)",
        **signed,
    )
    async def return_report(
        request: Request,
        directive: DirectiveId,
        cycle: CycleId,
        agency: AgencyId,
        body: schemas.ReturnIn,
    ) -> JSONResponse:
        caller = caller_of(request)
        command = cmd.ReturnReport(
            actor=caller.agency, agency=agency, cycle=cycle, reason=body.reason
        )
        return await run(request, directive, command)

    @app.post(
        "/v1/directives/{directive}/cycles/{cycle}/consolidated",
        response_model=schemas.Recorded,
        summary="Submit the consolidated report (consolidator only)",
        openapi_extra=_with_files("ConsolidatedIn"),
        **signed,
    )
    async def submit_consolidated(
        request: Request,
        directive: DirectiveId,
        cycle: CycleId,
    ) -> JSONResponse:
        caller = caller_of(request)
        body, blobs, refs = await with_files(request, schemas.ConsolidatedIn)
        command = cmd.SubmitConsolidatedReport(
            actor=caller.agency,
            cycle=cycle,
            text=body.text,
            attachment=_attachment(body.attachment),
            attachments=refs,
        )
        return await run(request, directive, command, blobs)

    # --- the issuer ---

    @app.post(
        "/v1/directives/{directive}/cycles/{cycle}/extensions/{agency}/grant",
        response_model=schemas.Recorded,
        summary="Grant an extension (issuer only)",
        **signed,
    )
    async def grant_extension(
        request: Request,
        directive: DirectiveId,
        cycle: CycleId,
        agency: AgencyId,
        body: Annotated[schemas.GrantIn | None, Body()] = None,
    ) -> JSONResponse:
        caller = caller_of(request)
        new_due = body.new_due if body is not None else None
        command = cmd.GrantExtension(
            actor=caller.agency, agency=agency, cycle=cycle, new_due=new_due
        )
        return await run(request, directive, command)

    @app.post(
        "/v1/directives/{directive}/cycles/{cycle}/extensions/{agency}/refuse",
        response_model=schemas.Recorded,
        summary="Refuse an extension (issuer only)",
        **signed,
    )
    async def refuse_extension(
        request: Request,
        directive: DirectiveId,
        cycle: CycleId,
        agency: AgencyId,
        body: schemas.RefuseIn,
    ) -> JSONResponse:
        caller = caller_of(request)
        command = cmd.RefuseExtension(
            actor=caller.agency, agency=agency, cycle=cycle, reason=body.reason
        )
        return await run(request, directive, command)

    # --- reads ---

    @app.get(
        "/v1/agencies/{agency}/inbox",
        response_model=schemas.Inbox,
        responses=_ERRORS,
        summary="An agency's open work across all directives",
    )
    async def inbox(
        request: Request,
        agency: AgencyId,
        after: Annotated[
            str | None,
            Query(
                max_length=400,
                pattern=r"^.+:[0-9]+$",
                description="The `next` of the page before: the entries after it.",
            ),
        ] = None,
        limit: Annotated[
            int, Query(ge=1, le=INBOX_PAGE_MAX, description="Entries per page.")
        ] = INBOX_PAGE,
    ) -> schemas.Inbox:
        cursor = parse_inbox_cursor(after) if after is not None else None
        result: schemas.Inbox = await run_in_threadpool(
            partial(service.inbox, after=cursor, limit=limit), caller_of(request), agency
        )
        return result

    @app.get(
        "/v1/directives/{directive}/attachments/{sha256}",
        responses={
            200: {"description": "The file, with its content type.", "content": {
                "application/pdf": {}, "image/png": {}, "image/jpeg": {}}},
            **_ERRORS,
        },
        response_class=Response,
        summary="A file attached to a report (its sender, the consolidator, the issuer)",
    )
    async def attachment(
        request: Request,
        directive: DirectiveId,
        sha256: Annotated[str, Path(pattern=r"^[0-9a-f]{64}$")],
    ) -> Response:
        blob = await run_in_threadpool(
            service.attachment, caller_of(request).agency, directive, sha256
        )
        return attachment_response(blob, sha256)

    @app.get(
        "/v1/directives/{directive}/status",
        response_model=schemas.DirectiveStatus,
        responses=_ERRORS,
        summary="The four-way status of the current cycle",
    )
    async def status(request: Request, directive: DirectiveId) -> schemas.DirectiveStatus:
        result: schemas.DirectiveStatus = await run_in_threadpool(
            service.status, caller_of(request), directive
        )
        return result

    @app.get("/healthz", response_model=schemas.Health, summary="The process is up")
    async def healthz() -> schemas.Health:
        return schemas.Health(status="ok")

    @app.get(
        "/readyz",
        response_model=schemas.Health,
        responses={
            503: {
                "model": schemas.ErrorBody,
                "description": "The ledger does not answer, or the secret key does not open "
                "the stored secrets.",
            }
        },
        summary="The ledger answers",
    )
    async def readyz() -> schemas.Health:
        if not await run_in_threadpool(service.ready):
            raise Unavailable("the ledger does not answer")
        try:
            await run_in_threadpool(secrets.check_key)
        except SecretStoreError as e:
            raise Unavailable(e.detail) from e
        return schemas.Health(status="ok")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schemes = {
            "signatureInput": {"type": "apiKey", "in": "header", "name": "Signature-Input"},
            "signature": {"type": "apiKey", "in": "header", "name": "Signature"},
        }
        document.setdefault("components", {})["securitySchemes"] = {
            **schemes, OPERATOR_SCHEME: {"type": "http", "scheme": "bearer"},
        }
        codes = document["components"].setdefault("schemas", {})
        # the report bodies, read by hand (JSON or multipart), named in the components
        _refs, defs = models_json_schema(
            [(m, "validation") for m in BODY_MODELS.values()],
            ref_template="#/components/schemas/{model}",
        )
        for name, definition in defs.get("$defs", {}).items():
            codes.setdefault(name, definition)
        codes["ErrorCode"] = {
            "type": "string",
            "enum": sorted(ERROR_CODES),
            "description": "\n".join(f"- `{k}`: {v}" for k, v in sorted(ERROR_CODES.items())),
        }
        for path, operations in document.get("paths", {}).items():
            if path.startswith(OPERATOR_API_PREFIX):
                for operation in operations.values():
                    operation["security"] = [{OPERATOR_SCHEME: []}]
            if path.startswith(SIGNED_PREFIX):
                for method, operation in operations.items():
                    operation["security"] = [{name: [] for name in schemes}]
                    if method != "get":
                        operation.setdefault("parameters", []).append(
                            {
                                "name": "Idempotency-Key",
                                "in": "header",
                                "required": True,
                                "schema": {"type": "string", "maxLength": 128},
                                "description": "The same for every retry of one call.",
                            }
                        )
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
    install_form(
        app,
        service=service,
        poke=wakeups.poke,
        link_key=link_key,
        max_attachment_bytes=max_attachment_bytes,
    )
    install_mailroom(app, folder=mailroom_dir)
    operator_auth = OperatorAuth(link_key, Operators(EventStore(engine)), SystemClock().now)
    install_operator_api(app, service=service, auth=operator_auth, poke=wakeups.poke)
    install_pages(app, service=service, auth=operator_auth, poke=wakeups.poke)
    return app
