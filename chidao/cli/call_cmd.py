"""`chidao call`: the reference client of the webhook, signing as an agency (RFC 9421).

`chidao call --agency ID --key FILE METHOD PATH [JSON]` signs with the agency's Ed25519 private
key (`--secret-file` for its shared HMAC secret instead) and sends the request to
`CHIDAO_WEBHOOK_BASE_URL` (or `--url`). A state-changing call gets one idempotency-key; after
a timeout or a 503 it is signed again (new nonce, same key) and resent, so it is recorded at
most once and the first answer comes back. `--dry-run` prints the exact request as JSON.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from cyclopts import Parameter

from chidao.cli.common import CliError, print_json, settings
from i18n import _

ATTEMPTS = 3
TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class Call:
    agency: str
    key: Path | None
    secret_file: Path | None
    url: str | None
    method: str
    path: str
    json: str | None


def _signing_key(args: Call) -> tuple[object, str, str]:
    """(key, alg, keyid) from --key or --secret-file."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from chidao.webhook.auth import secret_key_bytes
    from ledger.signatures import ed25519_kid

    if args.key is not None:
        try:
            key = serialization.load_pem_private_key(args.key.read_bytes(), password=None)
        except OSError as e:
            raise CliError(f"cannot read {args.key}: {e.strerror}") from e
        except (ValueError, TypeError) as e:
            raise CliError(f"{args.key}: not an unencrypted PEM private key") from e
        if not isinstance(key, Ed25519PrivateKey):
            raise CliError(f"{args.key}: not an Ed25519 key")
        return key, "ed25519", f"{args.agency}:{ed25519_kid(key.public_key())}"
    if args.secret_file is None:
        raise CliError("give --key FILE (Ed25519) or --secret-file FILE (HMAC)", exit_code=2)
    try:
        secret = args.secret_file.read_text().strip()
    except OSError as e:
        raise CliError(f"cannot read {args.secret_file}: {e.strerror}") from e
    try:
        return secret_key_bytes(secret), "hmac-sha256", f"{args.agency}:hmac"
    except ValueError as e:
        raise CliError(f"{args.secret_file}: {e}") from e


def build_request(args: Call, idempotency_key: str) -> tuple[str, str, dict[str, str], bytes]:
    """(method, url, headers, body) of the call, freshly signed."""
    from ledger.signatures import sign_headers

    method = args.method.upper()
    if method not in ("GET", "POST"):
        raise CliError(f"METHOD must be GET or POST, not {args.method}", exit_code=2)
    if not args.path.startswith("/"):
        raise CliError("PATH must start with /, e.g. /v1/agencies/ubnd-ba-to/inbox", exit_code=2)
    body = b""
    if args.json is not None:
        if method == "GET":
            raise CliError("a GET takes no body", exit_code=2)
        try:
            json.loads(args.json)
        except ValueError as e:
            raise CliError(f"JSON is not valid JSON: {e}", exit_code=2) from e
        body = args.json.encode()
    path, _, query = args.path.partition("?")
    key, alg, keyid = _signing_key(args)
    headers = sign_headers(
        method, path, query, body, keyid=keyid, key=key, alg=alg, idempotency_key=idempotency_key
    )
    base = (args.url or settings().webhook_base_url).rstrip("/")
    if urlsplit(base).scheme not in ("http", "https"):
        raise CliError(f"the webhook URL {base} is not http(s)")
    return method, base + args.path, headers, body


def run_call(
    method: Annotated[str, Parameter(name="METHOD", help=_("GET or POST"))],
    path: Annotated[str, Parameter(name="PATH", help=_("e.g. /v1/agencies/ubnd-ba-to/inbox"))],
    body: Annotated[str | None, Parameter(name="JSON", help=_("the body, as JSON text"))] = None,
    /,
    *,
    agency: Annotated[str, Parameter(name="--agency", help=_("the agency signing"))],
    key: Annotated[Path | None, Parameter(help=_("its Ed25519 private key (PEM)"))] = None,
    secret_file: Annotated[
        Path | None, Parameter(help=_("a file holding its whsec_ secret (HMAC)"))
    ] = None,
    url: Annotated[
        str | None, Parameter(help=_("the webhook's base URL (default CHIDAO_WEBHOOK_BASE_URL)"))
    ] = None,
    idempotency_key: Annotated[str | None, Parameter(help=_("default: a new random key"))] = None,
    dry_run: Annotated[bool, Parameter(help=_("print the request, send nothing"))] = False,
) -> int:
    if (key is None) == (secret_file is None):
        raise CliError("give one of --key FILE (Ed25519) or --secret-file FILE (HMAC)", exit_code=2)
    args = Call(agency, key, secret_file, url, method, path, body)
    import httpx  # here, not at the top: `chidao --help` stays light

    idempotency_key = idempotency_key or secrets.token_urlsafe(16)
    if dry_run:
        verb, target, headers, content = build_request(args, idempotency_key)
        print_json(
            {"method": verb, "url": target, "headers": headers, "body": content.decode("utf-8")}
        )
        return 0
    response: Any = None
    for attempt in range(ATTEMPTS):
        verb, target, headers, content = build_request(args, idempotency_key)  # a new nonce
        try:
            response = httpx.request(
                verb, target, headers=headers, content=content, timeout=TIMEOUT_SECONDS
            )
        except httpx.TimeoutException:
            print(f"chidao: timed out; signing again and resending ({attempt + 1}/{ATTEMPTS})", file=sys.stderr)
            continue
        except httpx.HTTPError as e:
            raise CliError(f"cannot reach {target}: {e}") from e
        if response.status_code == 503 and attempt + 1 < ATTEMPTS:
            wait = min(float(response.headers.get("retry-after", "1") or 1), 10.0)
            print(f"chidao: {response.status_code}; resending in {wait:g} s", file=sys.stderr)
            time.sleep(wait)
            continue
        break
    if response is None:
        raise CliError("no answer after retries")
    try:
        print_json(response.json())
    except ValueError:
        print(response.text)
    print(f"HTTP {response.status_code}", file=sys.stderr)
    return 0 if response.status_code < 400 else 1
