"""Operators' authentication: signed, expiring tokens for the dashboard and for the API.

`chidao operators link ID` makes a sign-in link (`/ops/signin?token=…`) or, with `--api`, an
API key; both are tokens `{payload}.{mac}` (URL-safe base64, no padding) whose payload is
`op1\\n{purpose}\\n{operator id}\\n{expiry as Unix seconds}` and whose MAC is HMAC-SHA256
under a key derived from the link key for this use alone, so an agency's mail link is never
an operator's token and a sign-in link is never an API key (the purpose is signed).

A token proves who it was made for until it expires; the operator must also still be in the
ledger (`ledger.operators`) when it is used, so removing an operator ends their links at once.
The sign-in page puts the token in an HttpOnly, SameSite=Strict cookie scoped to `/ops`; the
API takes it as `Authorization: Bearer <key>`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
from collections.abc import Callable
from typing import Literal

from chidao.webhook.errors import Forbidden, Unauthorized, Unavailable
from ledger.errors import LedgerError
from ledger.operators import OPERATOR_ID, Operator, Operators

Purpose = Literal["dashboard", "api"]
VERSION = "op1"
MAX_TOKEN_CHARS = 600
KEY_LABEL = b"chidao operator tokens v1"
COOKIE = "chidao_operator"
_B64 = re.compile(r"^[A-Za-z0-9_-]+$")


class TokenInvalid(Unauthorized):
    """A token that is malformed, not ours, altered, or made for another purpose."""


class TokenExpired(TokenInvalid):
    """A genuine token past its expiry."""


class OperatorGone(TokenInvalid):
    """A genuine token of an operator no longer in the ledger."""


class RoleMissing(Forbidden):
    """An operator whose role does not allow what was asked."""


def operator_key(link_key: bytes) -> bytes:
    """The key operators' tokens are signed with, derived from the link key."""
    if not link_key:
        raise ValueError("the link key may not be empty")
    return hmac.new(link_key, KEY_LABEL, hashlib.sha256).digest()


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    if not _B64.match(text):
        raise TokenInvalid("the token is not URL-safe base64")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise TokenInvalid("the token is not URL-safe base64") from e
    if _b64encode(raw) != text:  # one spelling only
        raise TokenInvalid("the token is not URL-safe base64")
    return raw


def sign_token(key: bytes, operator_id: str, purpose: Purpose, expires: dt.datetime) -> str:
    if not OPERATOR_ID.match(operator_id):
        raise ValueError(f"{operator_id!r} is not an operator id")
    if expires.tzinfo is None:
        raise ValueError("expires must carry a time zone")
    payload = f"{VERSION}\n{purpose}\n{operator_id}\n{int(expires.timestamp())}".encode()
    return f"{_b64encode(payload)}.{_b64encode(hmac.new(key, payload, hashlib.sha256).digest())}"


def verify_token(key: bytes, token: str, purpose: Purpose, now: dt.datetime) -> str:
    """The operator id of a genuine token for `purpose`, not expired at `now`."""
    if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise TokenInvalid("the token does not have the shape of an operator's token")
    encoded_payload, encoded_mac = token.split(".")
    payload = _b64decode(encoded_payload)
    if not hmac.compare_digest(_b64decode(encoded_mac), hmac.new(key, payload, hashlib.sha256).digest()):
        raise TokenInvalid("the token is not signed by this system, or was altered")
    try:
        version, signed_purpose, operator_id, stamp = payload.decode("ascii").split("\n")
        expires = int(stamp)
    except (UnicodeDecodeError, ValueError) as e:
        raise TokenInvalid("the token does not have the shape of an operator's token") from e
    if version != VERSION or not OPERATOR_ID.match(operator_id):
        raise TokenInvalid("the token does not have the shape of an operator's token")
    if signed_purpose != purpose:
        raise TokenInvalid(f"this token is for the {signed_purpose}, not the {purpose}")
    if now.timestamp() >= expires:
        when = dt.datetime.fromtimestamp(expires, dt.UTC)
        raise TokenExpired(f"the token expired on {when:%Y-%m-%d %H:%M} UTC")
    return operator_id


class OperatorAuth:
    """Checks operators' tokens against the key and the ledger's operators, at the real time."""

    def __init__(
        self, link_key: bytes | None, operators: Operators, now: Callable[[], dt.datetime]
    ) -> None:
        self.key = operator_key(link_key) if link_key else None
        self.operators = operators
        self.now = now

    def authenticate(self, token: str | None, purpose: Purpose) -> Operator:
        if self.key is None:
            raise TokenInvalid("operators' tokens are not enabled on this server (no link key)")
        if not token:
            raise TokenInvalid(
                "no token: sign in with the link of `chidao operators link ID`"
                if purpose == "dashboard"
                else "missing Authorization: Bearer <key> (`chidao operators link ID --api`)"
            )
        operator_id = verify_token(self.key, token, purpose, self.now())
        try:
            found = self.operators.get(operator_id)
        except LedgerError as e:
            raise Unavailable("the ledger does not answer") from e
        if found is None:
            raise OperatorGone(f"operator {operator_id} is no longer registered")
        return found


def require_role(operator: Operator, *roles: str) -> None:
    if operator.role not in roles:
        raise RoleMissing(
            f"operator {operator.id} is a {operator.role}; this needs the role {' or '.join(roles)}"
        )
