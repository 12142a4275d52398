"""Request authentication of the webhook: RFC 9421 signatures, checked live.

A signed request names its key in the signature's `keyid` (`{agency}:{kid}` for a registered
Ed25519 key, `{agency}:hmac` for the agency's shared secret); that agency is the caller. The
signature must verify, cover what `ledger.signatures` requires (method, path, query; for a
state-changing request the body's digest, its content type, the idempotency key and a
nonce), and be made within the window. The Ed25519 key must be valid now (registered, not
expired, not revoked). The nonce is used up by the service, in the database, so a
byte-identical replay is refused; a retry signs again with a new nonce and the same
`idempotency-key`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence

from chidao.webhook.auth import secret_key_bytes
from chidao.webhook.errors import Unauthorized, Unavailable, WebhookError
from chidao.webhook.secrets import SecretStore
from chidao.webhook.service import RESERVED_ACTORS, Caller, request_digest
from ledger.agency_keys import AgencyKeys
from ledger.errors import LedgerError
from ledger.signatures import HMAC_KID, SignatureError, SignedRequest, verify_request

log = logging.getLogger("chidao.webhook")


class Authenticator:
    """Turns a signed request into its `Caller`, or raises Unauthorized (401)."""

    def __init__(
        self, secrets: SecretStore, keys: AgencyKeys, now: Callable[[], dt.datetime]
    ) -> None:
        self.secrets = secrets
        self.keys = keys
        self.now = now

    def _resolve(self, agency: str, kid: str, alg: str) -> Sequence[object]:
        if agency in RESERVED_ACTORS:
            return []
        try:
            if alg == "hmac-sha256":
                if kid != HMAC_KID:
                    return []
                return [secret_key_bytes(s) for s in self.secrets.secrets_for(agency)]
            moment = self.now()
            for key in self.keys.of(agency):
                if key.kid == kid and key.valid_at(moment):
                    return [key.public_key()]
            return []
        except WebhookError as e:
            log.error("secret store failed for %s: %s", agency, e.detail)
            raise Unavailable("signatures cannot be checked right now") from e
        except LedgerError as e:
            log.error("key registry failed for %s: %s", agency, e)
            raise Unavailable("signatures cannot be checked right now") from e

    def authenticate(
        self, method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
    ) -> Caller:
        request = SignedRequest(method.upper(), path, query, dict(headers), body)
        try:
            verified = verify_request(request, self._resolve, live=True)
        except SignatureError as e:
            raise Unauthorized(str(e)) from e
        digest = request_digest(method, path, query, body)
        writes = verified.idempotency_key is not None
        return Caller(
            agency=verified.agency,
            webhook_id=verified.idempotency_key or f"read-{digest[:16]}",
            request_sha256=digest,
            nonce=verified.nonce if writes else None,
            proof={
                **request.to_proof(),
                "signature_base": verified.signature_base,
                "keyid": verified.keyid,
                "alg": verified.alg,
            }
            if writes
            else None,
        )


def nonce_digest(agency: str, nonce: str) -> str:
    return hashlib.sha256(f"{agency}\n{nonce}".encode()).hexdigest()
