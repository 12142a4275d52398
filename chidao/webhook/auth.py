"""Agencies' shared HMAC secrets: the `whsec_` form, made and decoded here.

A secret is `whsec_` followed by base64 of 32 random bytes; the bytes are the HMAC-SHA256 key
of an RFC 9421 signature with `keyid="{agency}:hmac"` (`chidao.webhook.signing`). Answers
signed this way are server-attested: the server holds the same secret and could have made
them. Agencies' own Ed25519 keys (`ledger.agency_keys`) leave the server nothing to forge with.
"""

from __future__ import annotations

import base64
import binascii
import os

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    """A fresh random secret, `whsec_` + base64."""
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
