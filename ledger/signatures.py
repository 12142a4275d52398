"""HTTP Message Signatures (RFC 9421) of agencies' requests: what must be covered, and checking.

Used twice: live by the webhook (`chidao.webhook.signing`, with the time window) and offline by
`chidao verify --signatures` (`ledger.answers`, against the request kept in the ledger). The
cryptography and the signature base are those of the `http-message-signatures` package; this
module only says which components a chidao request must cover and rebuilds a request from
its parts.

Covered, always: `@method`, `@path`, `@query`; parameters `created`, `keyid`, `alg`. For a
state-changing request also `content-digest` (RFC 9530, sha-256, checked against the body),
`idempotency-key` and the `nonce` parameter, and `content-type` when there is a body.
`@authority` and the scheme are not required, so a reverse proxy in front does not break a
signature. The key id names the agency: `{agency}:{kid}` for an Ed25519 key it registered,
`{agency}:hmac` for its shared secret.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from http_message_signatures import (
    HTTPMessageVerifier,
    HTTPSignatureKeyResolver,
    InvalidSignature,
    algorithms,
)
from http_message_signatures.exceptions import HTTPMessageSignaturesException

from ledger.errors import LedgerError

WINDOW = dt.timedelta(minutes=5)
HMAC_KID = "hmac"
ALGORITHMS: dict[str, Any] = {
    "ed25519": algorithms.ED25519,
    "hmac-sha256": algorithms.HMAC_SHA256,
}
SAFE_METHODS = frozenset({"GET", "HEAD"})
READ_COMPONENTS = ("@method", "@path", "@query")
WRITE_COMPONENTS = (*READ_COMPONENTS, "content-digest", "idempotency-key")
# The headers a signature may cover and that are kept with an answer in the ledger.
KEPT_HEADERS = ("signature-input", "signature", "content-digest", "content-type", "idempotency-key")
NONCE = re.compile(r"^[A-Za-z0-9_.~+/=-]{16,128}$")
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")
KEYID = re.compile(r"^([a-z0-9][a-z0-9-]{0,99}):([a-z0-9]{1,64})$")


class SignatureError(LedgerError):
    """A request's signature is missing, malformed, not covering enough, or does not verify."""


@dataclass(frozen=True)
class SignedRequest:
    """A request as its signature sees it: method, raw path, raw query, headers, body."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def url(self) -> str:
        # The host is a placeholder: @authority is never covered, so it cannot matter.
        return "http://chidao.invalid" + self.path + (f"?{self.query}" if self.query else "")

    def to_proof(self) -> dict[str, Any]:
        """What the ledger keeps of the request, enough to verify it again offline."""
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": {k: self.headers[k] for k in KEPT_HEADERS if k in self.headers},
            "body": base64.b64encode(self.body).decode("ascii"),
        }

    @classmethod
    def from_proof(cls, proof: Mapping[str, Any]) -> SignedRequest:
        try:
            return cls(
                method=str(proof["method"]),
                path=str(proof["path"]),
                query=str(proof["query"]),
                headers={str(k): str(v) for k, v in dict(proof["headers"]).items()},
                body=base64.b64decode(str(proof["body"]), validate=True),
            )
        except (KeyError, TypeError, ValueError) as e:
            raise SignatureError(f"the kept request is malformed: {e}") from e


@dataclass(frozen=True)
class Verified:
    """A signature that verified: who made it, when, and exactly what it covers."""

    keyid: str
    agency: str
    kid: str
    alg: str
    created: dt.datetime
    nonce: str | None
    idempotency_key: str | None
    signature_base: str
    signature: str  # the Signature header as sent


def split_keyid(keyid: str) -> tuple[str, str]:
    """(agency, kid) of a key id, or SignatureError."""
    match = KEYID.match(keyid)
    if not match:
        raise SignatureError("keyid must be '{agency}:{kid}', e.g. 'ubnd-ba-to:hmac'")
    return match.group(1), match.group(2)


def ed25519_kid(public_key: Ed25519PublicKey) -> str:
    """The key's short id: the first 16 hex digits of SHA-256 of its raw 32 bytes."""
    from cryptography.hazmat.primitives import serialization

    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


class _Message:
    """The message interface `http-message-signatures` reads: method, url, headers."""

    def __init__(self, request: SignedRequest) -> None:
        self.method = request.method
        self.url = request.url
        self.headers = dict(request.headers)


class _Offline(HTTPMessageVerifier):
    """Verification without a clock: the window was checked when the answer arrived."""

    def validate_created_and_expires(self, sig_input: Any, max_age: Any = None) -> None:
        if "created" not in sig_input.params:
            raise InvalidSignature('Signature is missing a required "created" parameter')


class _Live(HTTPMessageVerifier):
    # An agency's clock a little ahead of ours is tolerated; a signature from further in the
    # future (or older than WINDOW) is not.
    max_clock_skew = dt.timedelta(seconds=60)


KeyResolver = Callable[[str, str, str], Sequence[object]]
"""(agency, kid, alg) -> the keys that may have made the signature (none: unknown)."""


class _Keys(HTTPSignatureKeyResolver):
    def __init__(self, keys: Sequence[object]) -> None:
        self.keys = keys
        self.current: object | None = keys[0] if keys else None

    def resolve_public_key(self, key_id: str) -> object | None:
        return self.current

    def resolve_private_key(self, key_id: str) -> object:  # pragma: no cover - never signs
        raise HTTPMessageSignaturesException("no private keys here")


def _params(request: SignedRequest) -> tuple[str, dict[str, Any]]:
    """The label and parameters of the one signature of the request, unverified."""
    from http_sf import parse

    raw = request.headers.get("signature-input")
    if not raw or "signature" not in request.headers:
        raise SignatureError("missing Signature-Input or Signature header (RFC 9421)")
    try:
        parsed: Any = parse(raw.encode(), tltype="dictionary")
    except Exception as e:
        raise SignatureError("Signature-Input is not a structured dictionary") from e
    if not isinstance(parsed, dict) or len(parsed) != 1:
        raise SignatureError("send exactly one signature (one label in Signature-Input)")
    label, member = next(iter(parsed.items()))
    if not isinstance(member, tuple) or not isinstance(member[1], dict):
        raise SignatureError("Signature-Input's member must be an inner list with parameters")
    return str(label), dict(member[1])


def verify_request(
    request: SignedRequest,
    resolve: KeyResolver,
    *,
    live: bool,
) -> Verified:
    """Check the request's one signature covers what chidao requires and verifies.

    `live` checks the window (`created` within WINDOW of the real clock, `expires` not past)
    as the webhook must; offline verification checks only the signature and the coverage.
    """
    _label, params = _params(request)
    keyid, alg = params.get("keyid"), params.get("alg")
    if not isinstance(keyid, str) or not keyid:
        raise SignatureError("the signature has no keyid parameter")
    if alg not in ALGORITHMS:
        raise SignatureError(f"alg must be one of {', '.join(sorted(ALGORITHMS))}")
    agency, kid = split_keyid(keyid)
    created = params.get("created")
    if not isinstance(created, int) or isinstance(created, bool):
        raise SignatureError("the signature has no created parameter")
    writes = request.method.upper() not in SAFE_METHODS
    required = list(WRITE_COMPONENTS if writes else READ_COMPONENTS)
    if writes and request.body:
        required.append("content-type")
    nonce = params.get("nonce")
    if writes and not (isinstance(nonce, str) and NONCE.match(nonce)):
        raise SignatureError("a state-changing request needs a nonce parameter (16 to 128 characters)")
    key_ = request.headers.get("idempotency-key")
    if writes and not (key_ and IDEMPOTENCY_KEY.match(key_)):
        raise SignatureError(
            "a state-changing request needs an idempotency-key header (1 to 128 printable characters)"
        )
    keys = list(resolve(agency, kid, str(alg)))
    if not keys:
        raise SignatureError("the signature does not match a key of the agency")
    verifier_class = _Live if live else _Offline
    last: Exception | None = None
    for key in keys:
        holder = _Keys([key])
        verifier = verifier_class(signature_algorithm=ALGORITHMS[str(alg)], key_resolver=holder)
        try:
            results = verifier.verify(
                _Message(request),
                max_age=WINDOW if live else None,
                require_components=required,
                body=request.body if writes else None,
            )
        except (InvalidSignature, HTTPMessageSignaturesException) as e:
            last = e
            continue
        result = results[0]
        base = "\n".join(f"{k}: {v}" for k, v in result.covered_components.items())
        return Verified(
            keyid=keyid,
            agency=agency,
            kid=kid,
            alg=str(alg),
            created=dt.datetime.fromtimestamp(created, dt.UTC),
            nonce=nonce if isinstance(nonce, str) else None,
            idempotency_key=key_ if writes else None,
            signature_base=base,
            signature=request.headers["signature"],
        )
    raise SignatureError(f"the signature does not verify: {_plain(last)}") from last


def _plain(error: Exception | None) -> str:
    text = str(error) if error else "no key"
    if "future" in text or "age exceeds" in text or "expires" in text:
        return f"outside the {int(WINDOW.total_seconds() // 60)}-minute window; sign when sending"
    if "Required component" in text:
        return text.replace("Required component", "it must cover")
    if "does not match the message body" in text:
        return "content-digest does not match the body"
    if "Content-Digest" in text or "content digest" in text:
        return f"content-digest: {text}"
    return "wrong key, or the request was changed after signing"


def sign_headers(
    method: str,
    path: str,
    query: str,
    body: bytes,
    *,
    keyid: str,
    key: object,
    alg: str,
    content_type: str | None = "application/json",
    idempotency_key: str | None = None,
    nonce: str | None = None,
    created: dt.datetime | None = None,
) -> dict[str, str]:
    """The headers of a chidao request signed with `key` (an Ed25519 private key or HMAC bytes).

    The reference client's signer (`chidao call`, the tests, the benchmark): the covered
    components are those `verify_request` requires, nothing more.
    """
    import secrets as _secrets

    from http_message_signatures import HTTPMessageSigner

    writes = method.upper() not in SAFE_METHODS
    headers: dict[str, str] = {}
    covered = list(READ_COMPONENTS)
    if writes:
        headers["idempotency-key"] = idempotency_key or _secrets.token_urlsafe(16)
        covered += ["content-digest", "idempotency-key"]
        if body:
            headers["content-type"] = content_type or "application/json"
            covered.append("content-type")

    class _Resolver(HTTPSignatureKeyResolver):
        def resolve_private_key(self, key_id: str) -> object:
            return key

        def resolve_public_key(self, key_id: str) -> object:  # pragma: no cover
            raise HTTPMessageSignaturesException("signing only")

    message = _Message(SignedRequest(method.upper(), path, query, headers, body))
    HTTPMessageSigner(signature_algorithm=ALGORITHMS[alg], key_resolver=_Resolver()).sign(
        message,
        key_id=keyid,
        created=created,
        nonce=(nonce or _secrets.token_urlsafe(18)) if writes else nonce,
        label="sig1",
        covered_component_ids=covered,
        body=body if writes else None,
    )
    return {k.lower(): v for k, v in message.headers.items()}
