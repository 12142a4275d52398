"""Standard Webhooks signatures (https://www.standardwebhooks.com): sign and verify.

The signed content is `{webhook-id}.{webhook-timestamp}.{raw body}`, HMAC-SHA256 under the
agency's secret (`whsec_` + base64 of the key bytes), sent base64-encoded as `v1,<sig>`; the
`webhook-signature` header may carry several space-separated signatures (a sender rotating
its secret signs with both), and one match is enough. Any off-the-shelf Standard Webhooks
library produces exactly this, which is the point: agencies sign in their own language.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Sequence

from chidao.webhook.errors import Unauthorized

SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 5 * 60
SECRET_BYTES = 32
MAX_WEBHOOK_ID = 128
_WEBHOOK_ID = re.compile(rf"^[\x21-\x7e]{{1,{MAX_WEBHOOK_ID}}}$")


def new_secret() -> str:
    """A fresh random secret in the Standard Webhooks form."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(SECRET_BYTES)).decode("ascii")


def secret_key_bytes(secret: str) -> bytes:
    """The HMAC key a `whsec_…` secret stands for."""
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        # Padding is added because some libraries emit unpadded base64; extra '=' is ignored.
        key = base64.b64decode(raw + "==")
    except (binascii.Error, ValueError) as e:
        raise ValueError("a webhook secret is 'whsec_' followed by base64") from e
    if not key:
        raise ValueError("a webhook secret may not be empty")
    return key


def _digest(key: bytes, msg_id: str, timestamp: str, body: bytes) -> bytes:
    return hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for a message: `v1,<base64 HMAC>`."""
    digest = _digest(secret_key_bytes(secret), msg_id, str(timestamp), body)
    return "v1," + base64.b64encode(digest).decode("ascii")


def _offered(signature_header: str) -> list[bytes]:
    """The v1 signatures of the header, decoded; other versions and garbage are skipped."""
    found = []
    for part in signature_header.split(" "):
        version, sep, value = part.partition(",")
        if not sep or version != "v1":
            continue
        try:
            found.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    return found


def check_webhook_id(msg_id: str | None) -> str:
    if not msg_id:
        raise Unauthorized("missing webhook-id header")
    if not _WEBHOOK_ID.match(msg_id):
        raise Unauthorized(
            f"webhook-id must be 1 to {MAX_WEBHOOK_ID} printable ASCII characters without spaces"
        )
    return msg_id


def check_timestamp(timestamp_header: str | None, now: float) -> str:
    """The header as signed, if it is whole seconds within the tolerance of `now`."""
    if not timestamp_header:
        raise Unauthorized("missing webhook-timestamp header")
    if (
        not timestamp_header.isascii()
        or not timestamp_header.isdigit()
        or len(timestamp_header) > 12
    ):
        raise Unauthorized("webhook-timestamp must be whole seconds since the epoch")
    if abs(now - int(timestamp_header)) > TOLERANCE_SECONDS:
        raise Unauthorized(
            f"webhook-timestamp is more than {TOLERANCE_SECONDS // 60} minutes from the server's "
            "clock; sign the request when sending it"
        )
    return timestamp_header


def verify(
    secrets: Sequence[str],
    *,
    msg_id: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float,
) -> str:
    """Check the three headers against `body` and any of `secrets`; the webhook-id if they pass.

    Raises Unauthorized with a message that never says whether the agency has a secret, so the
    answer does not reveal which agencies exist.
    """
    msg_id = check_webhook_id(msg_id)
    stamp = check_timestamp(timestamp, now)
    if not signature:
        raise Unauthorized("missing webhook-signature header")
    offered = _offered(signature)
    if not offered:
        raise Unauthorized("webhook-signature carries no v1 signature")
    matched = False
    for secret in secrets:
        expected = _digest(secret_key_bytes(secret), msg_id, stamp, body)
        for candidate in offered:
            # compare_digest on every pair, no early exit: timing reveals nothing about which
            # signature or which secret came close.
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise Unauthorized("the signature does not match the agency's secret")
    return msg_id
