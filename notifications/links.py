"""Signed links: the per-agency, per-directive token a mail carries to the webhook's browser form.

A token is `{payload}.{mac}`, both URL-safe base64 without padding. The payload is
`v1\\n{directive}\\n{agency}\\n{expiry as Unix seconds}`; the MAC is HMAC-SHA256 of it under a
key only the system holds. Whoever has the link may answer for that agency on that directive
until the expiry, and for nothing else: changing any part of it breaks the MAC.

Pure: stdlib only, no clock of its own (the caller says what time it is).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import re
from urllib.parse import quote

from notifications.errors import NotificationError

VERSION = "v1"
MAX_TOKEN_CHARS = 600
_ID = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
_B64 = re.compile(r"^[A-Za-z0-9_-]+$")


class LinkInvalid(NotificationError):
    """A link token that is malformed, not signed by our key, or for something else."""


class LinkExpired(LinkInvalid):
    """A link token that was genuine but whose expiry has passed."""


def _b64encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _b64decode(text: str) -> bytes:
    if not _B64.match(text):
        raise LinkInvalid("the link token is not URL-safe base64")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as e:
        raise LinkInvalid("the link token is not URL-safe base64") from e
    # Only the one canonical spelling: otherwise the unused low bits of the last character
    # would let several tokens stand for the same bytes.
    if _b64encode(raw) != text:
        raise LinkInvalid("the link token is not URL-safe base64")
    return raw


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).digest()


def _check_id(kind: str, value: str) -> None:
    if not _ID.match(value) or len(value) > 80:
        raise ValueError(f"{kind} {value!r} is not an id (lower-case letters, digits, hyphens)")


def _aware(moment: dt.datetime, name: str) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError(f"{name} must carry a time zone")
    return moment


def sign_link(key: bytes, directive: str, agency: str, expires: dt.datetime) -> str:
    """A URL-safe token that lets whoever holds it answer for `agency` on `directive`
    until `expires` (a time-zone-aware moment)."""
    if not key:
        raise ValueError("the link key may not be empty")
    _check_id("directive", directive)
    _check_id("agency", agency)
    stamp = int(_aware(expires, "expires").timestamp())
    payload = f"{VERSION}\n{directive}\n{agency}\n{stamp}".encode("ascii")
    return f"{_b64encode(payload)}.{_b64encode(_mac(key, payload))}"


def verify_link(key: bytes, token: str, now: dt.datetime) -> tuple[str, str]:
    """`(directive, agency)` of a genuine token not yet expired at `now`.

    Raises `LinkExpired` for a genuine token past its expiry and `LinkInvalid` for anything
    else wrong (shape, version, signature). The signature is checked, in constant time, before
    anything in the payload is believed.
    """
    if not key:
        raise ValueError("the link key may not be empty")
    if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise LinkInvalid("the link token does not have the shape of a chidao link")
    encoded_payload, encoded_mac = token.split(".")
    payload = _b64decode(encoded_payload)
    offered = _b64decode(encoded_mac)
    if not hmac.compare_digest(offered, _mac(key, payload)):
        raise LinkInvalid("the link token is not signed by this system, or was altered")
    try:
        version, directive, agency, stamp = payload.decode("ascii").split("\n")
        expires = int(stamp)
    except (UnicodeDecodeError, ValueError) as e:
        raise LinkInvalid("the link token does not have the shape of a chidao link") from e
    if version != VERSION or not _ID.match(directive) or not _ID.match(agency):
        raise LinkInvalid("the link token does not have the shape of a chidao link")
    if _aware(now, "now").timestamp() >= expires:
        when = dt.datetime.fromtimestamp(expires, dt.UTC)
        raise LinkExpired(f"the link expired on {when:%Y-%m-%d %H:%M} UTC")
    return directive, agency


def page_path(directive: str, agency: str) -> str:
    """The path of an agency's page for a directive on the webhook."""
    return f"/v1/directives/{directive}/agencies/{agency}"


def link_url(answer_url: str, key: bytes, directive: str, agency: str, expires: dt.datetime) -> str:
    """`{answer_url}/v1/directives/{directive}/agencies/{agency}?token=…`."""
    token = sign_link(key, directive, agency, expires)
    return f"{answer_url.rstrip('/')}{page_path(directive, agency)}?token={quote(token, safe='')}"


# --- the agency's link to its inbox page ------------------------------------------------------

AGENCY_VERSION = "a1"


def sign_agency_link(key: bytes, agency: str, expires: dt.datetime) -> str:
    """A token that lets whoever holds it answer for `agency` on every directive that tracks
    it, until `expires`: the link of each mail to the agency, to its inbox page."""
    if not key:
        raise ValueError("the link key may not be empty")
    _check_id("agency", agency)
    stamp = int(_aware(expires, "expires").timestamp())
    payload = f"{AGENCY_VERSION}\n{agency}\n{stamp}".encode("ascii")
    return f"{_b64encode(payload)}.{_b64encode(_mac(key, payload))}"


def verify_any_link(key: bytes, token: str, now: dt.datetime) -> tuple[str | None, str]:
    """`(directive, agency)` of a genuine, live directive token, or `(None, agency)` of an
    agency token; LinkExpired / LinkInvalid as `verify_link`."""
    if not key:
        raise ValueError("the link key may not be empty")
    if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise LinkInvalid("the link token does not have the shape of a chidao link")
    encoded_payload, encoded_mac = token.split(".")
    payload = _b64decode(encoded_payload)
    offered = _b64decode(encoded_mac)
    if not hmac.compare_digest(offered, _mac(key, payload)):
        raise LinkInvalid("the link token is not signed by this system, or was altered")
    if not payload.startswith(AGENCY_VERSION.encode("ascii") + b"\n"):
        return verify_link(key, token, now)
    try:
        _version, agency, stamp = payload.decode("ascii").split("\n")
        expires = int(stamp)
    except (UnicodeDecodeError, ValueError) as e:
        raise LinkInvalid("the link token does not have the shape of a chidao link") from e
    if not _ID.match(agency):
        raise LinkInvalid("the link token does not have the shape of a chidao link")
    if _aware(now, "now").timestamp() >= expires:
        when = dt.datetime.fromtimestamp(expires, dt.UTC)
        raise LinkExpired(f"the link expired on {when:%Y-%m-%d %H:%M} UTC")
    return None, agency


def inbox_path(agency: str) -> str:
    """The path of an agency's inbox page (its open work on every directive)."""
    return f"/v1/agencies/{agency}"


def inbox_url(
    answer_url: str, key: bytes, agency: str, expires: dt.datetime, directive: str | None = None
) -> str:
    """`{answer_url}/v1/agencies/{agency}?token=…`, at the directive's entries if one is named."""
    token = sign_agency_link(key, agency, expires)
    anchor = f"#d-{directive}" if directive else ""
    return f"{answer_url.rstrip('/')}{inbox_path(agency)}?token={quote(token, safe='')}{anchor}"
