"""Offline checks of agencies' answers: each one against the signed request it came from.

Every answer recorded from a signed call keeps, in its first event's payload under
`signed_request`, the request as signed (method, raw path and query, the covered headers,
the body) — enough to rebuild its signature base. `check_answers` verifies each again:

- the signature, with the Ed25519 key the agency had registered (`ledger.agency_keys`)
  before the answer was recorded and not revoked before it was signed;
- that the signer is the event's actor and the `idempotency-key` is the event's key;
- that the event says what the request said: the directive is the path's, and every field
  the path and the body give (agency, cycle, item, text, reason, dates…) is in the payload.

So a database writer without the agency's private key cannot forge or edit an answer that
passes. Answers made through the browser form or signed with a shared HMAC secret are
*server-attested* (the server could have made them) and are counted apart, unchecked.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.agency_keys import AgencyKey, AgencyKeys
from ledger.directives import NON_DIRECTIVE_STREAMS, SIGNED_REQUEST
from ledger.signatures import SignatureError, SignedRequest, verify_request
from ledger.store import EventStore, StoredEvent

RESERVED_ACTORS = frozenset({"operator", "system"})
_D = r"/v1/directives/(?P<directive>[^/]+)"
# Path of each signed command -> the event it records and the path parameters it names.
ROUTES: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(f"^{_D}{tail}$"), kind)
    for tail, kind in (
        (r"/agencies/(?P<agency>[^/]+)/acknowledge", "Acknowledged"),
        (r"/agencies/(?P<agency>[^/]+)/items/(?P<item>[^/]+)/done", "ItemCompleted"),
        (r"/agencies/(?P<agency>[^/]+)/cycles/(?P<cycle>[^/]+)/report", "ReportSubmitted"),
        (r"/agencies/(?P<agency>[^/]+)/cycles/(?P<cycle>[^/]+)/extension", "ExtensionRequested"),
        (r"/cycles/(?P<cycle>[^/]+)/reports/(?P<agency>[^/]+)/accept", "ReportAccepted"),
        (r"/cycles/(?P<cycle>[^/]+)/reports/(?P<agency>[^/]+)/return", "ReportReturned"),
        (r"/cycles/(?P<cycle>[^/]+)/consolidated", "ConsolidatedReportSubmitted"),
        (r"/cycles/(?P<cycle>[^/]+)/extensions/(?P<agency>[^/]+)/grant", "ExtensionGranted"),
        (r"/cycles/(?P<cycle>[^/]+)/extensions/(?P<agency>[^/]+)/refuse", "ExtensionRefused"),
    )
)


@dataclass
class AnswerReport:
    """What `check_answers` found: verified, server-attested, and the failures by event."""

    agency_signed: int = 0
    server_attested: int = 0
    hmac_signed: int = 0
    form: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def _nfc(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, dict):
        return {_nfc(k): _nfc(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nfc(v) for v in value]
    return value


def claims(request: SignedRequest) -> tuple[str, str, dict[str, Any]]:
    """(directive, event type, fields) the signed request asks to be recorded."""
    found = [(m, k) for p, k in ROUTES if (m := p.match(request.path)) is not None]
    if not found:
        raise SignatureError(f"{request.method} {request.path} is not an answer chidao records")
    match, kind = found[0]
    params = match.groupdict()
    directive = params.pop("directive")
    fields: dict[str, Any] = dict(params)
    if request.body:
        try:
            body = json.loads(request.body)
        except ValueError as e:
            raise SignatureError("the signed body is not JSON") from e
        if isinstance(body, dict):
            fields.update(_nfc(body))
    if kind == "ItemCompleted":
        fields.setdefault("note", "")
    return directive, kind, fields


def _mismatch(event: StoredEvent, expected: dict[str, Any]) -> str | None:
    for name, value in expected.items():
        if name not in event.payload:
            if value in ({}, None, ""):
                continue
            return f"{name} is missing from the event"
        if event.payload[name] != value:
            return f"{name} differs from the signed request"
    return None


def _key_for(
    keys: dict[str, AgencyKey], event: StoredEvent, agency: str, kid: str
) -> AgencyKey | None:
    key = keys.get(f"{agency}:{kid}")
    if key is None or key.registered_position > event.position:
        return None
    if key.revoked_position is not None and key.revoked_position < event.position:
        return None
    return key


def check_event(event: StoredEvent, keys: dict[str, AgencyKey]) -> str | None:
    """Why the answer `event` does not hold against its signed request, or None if it does."""
    proof = event.payload.get(SIGNED_REQUEST)
    if not isinstance(proof, dict):
        return "it keeps no signed request"
    request = SignedRequest.from_proof(proof)
    found: list[AgencyKey] = []

    def resolve(agency: str, kid: str, alg: str) -> Sequence[object]:
        if alg != "ed25519":
            return []
        key = _key_for(keys, event, agency, kid)
        if key is None:
            return []
        found.append(key)
        return [key.public_key()]

    try:
        verified = verify_request(request, resolve, live=False)
    except SignatureError as e:
        return str(e)
    key = found[0]
    # Registered before the answer was recorded (positions, checked above); signed before the
    # key's validity ended or it was revoked.
    ends = min(key.valid_until, key.revoked_at or key.valid_until)
    if verified.created >= ends:
        return f"signed at {verified.created.isoformat()}, after {key.keyid} had ended"
    if verified.agency != event.actor:
        return f"signed by {verified.agency}, recorded as {event.actor}"
    if event.idempotency_key != f"wh:{verified.agency}:{verified.idempotency_key}":
        return "its idempotency key is not the signed one"
    try:
        directive, kind, expected = claims(request)
    except SignatureError as e:
        return str(e)
    if directive != event.stream:
        return f"signed for directive {directive}"
    if kind != event.type:
        return f"signed as {kind}, recorded as {event.type}"
    return _mismatch(event, expected)


def _alg_of(proof: Any) -> str | None:
    try:
        raw = str(proof["headers"]["signature-input"])
    except (KeyError, TypeError):
        return None
    match = re.search(r';alg="([^"]+)"', raw)
    return match.group(1) if match else None


def check_answers(store: EventStore, stream: str | None = None) -> AnswerReport:
    """Re-check every agency answer of the ledger (or of one directive) offline."""
    keys = AgencyKeys(store).all()
    report = AnswerReport()
    streams = [stream] if stream else [s for s in store.streams() if s not in NON_DIRECTIVE_STREAMS]
    for name in streams:
        for event in store.read(name):
            if event.actor in RESERVED_ACTORS or not event.idempotency_key.startswith("wh:"):
                continue
            if "#" in event.idempotency_key:
                continue  # a later event of the same answer: the first one carries the proof
            proof = event.payload.get(SIGNED_REQUEST)
            if proof is None and ":form-" in event.idempotency_key:
                report.form += 1
                report.server_attested += 1
                continue
            if proof is not None and _alg_of(proof) == "hmac-sha256":
                report.hmac_signed += 1
                report.server_attested += 1
                continue
            problem = check_event(event, keys)
            if problem is None:
                report.agency_signed += 1
            else:
                report.failures.append(
                    f"{event.stream} v{event.version} ({event.type} by {event.actor}): {problem}"
                )
    return report
