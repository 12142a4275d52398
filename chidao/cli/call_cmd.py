"""`chidao call`: the reference client of the webhook, signing as an agency (RFC 9421).

`chidao call --agency ID --key FILE METHOD PATH [JSON]` signs with the agency's Ed25519 private
key (`--secret-file` for its shared HMAC secret instead) and sends the request to
`CHIDAO_WEBHOOK_BASE_URL` (or `--url`). A state-changing call gets one idempotency-key; after
a timeout or a 503 it is signed again (new nonce, same key) and resent, so it is recorded at
most once and the first answer comes back. `--dry-run` prints the exact request as JSON.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chidao.cli.common import CliError, print_json, settings

ATTEMPTS = 3
TIMEOUT_SECONDS = 30.0


def register(subparsers: argparse._SubParsersAction) -> None:
    call = subparsers.add_parser("call", help="send a signed request to the webhook as an agency")
    call.add_argument("--agency", required=True, metavar="ID", help="the agency signing")
    how = call.add_mutually_exclusive_group(required=True)
    how.add_argument("--key", type=Path, metavar="FILE", help="its Ed25519 private key (PEM)")
    how.add_argument(
        "--secret-file", type=Path, metavar="FILE", help="a file holding its whsec_ secret (HMAC)"
    )
    call.add_argument("--url", help="the webhook's base URL (default CHIDAO_WEBHOOK_BASE_URL)")
    call.add_argument("--idempotency-key", help="default: a new random key")
    call.add_argument("--dry-run", action="store_true", help="print the request, send nothing")
    call.add_argument("method", metavar="METHOD", help="GET or POST")
    call.add_argument("path", metavar="PATH", help="e.g. /v1/agencies/ubnd-ba-to/inbox")
    call.add_argument("json", metavar="JSON", nargs="?", help="the body, as JSON text")
    call.set_defaults(func=run_call)


def _signing_key(args: argparse.Namespace) -> tuple[object, str, str]:
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
    try:
        secret = args.secret_file.read_text().strip()
    except OSError as e:
        raise CliError(f"cannot read {args.secret_file}: {e.strerror}") from e
    try:
        return secret_key_bytes(secret), "hmac-sha256", f"{args.agency}:hmac"
    except ValueError as e:
        raise CliError(f"{args.secret_file}: {e}") from e


def build_request(
    args: argparse.Namespace, idempotency_key: str
) -> tuple[str, str, dict[str, str], bytes]:
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


def run_call(args: argparse.Namespace) -> int:
    import httpx

    idempotency_key = args.idempotency_key or secrets.token_urlsafe(16)
    if args.dry_run:
        method, url, headers, body = build_request(args, idempotency_key)
        print_json(
            {"method": method, "url": url, "headers": headers, "body": body.decode("utf-8")}
        )
        return 0
    response: Any = None
    for attempt in range(ATTEMPTS):
        method, url, headers, body = build_request(args, idempotency_key)  # a new nonce each time
        try:
            response = httpx.request(method, url, headers=headers, content=body, timeout=TIMEOUT_SECONDS)
        except httpx.TimeoutException:
            print(f"chidao: timed out; signing again and resending ({attempt + 1}/{ATTEMPTS})", file=sys.stderr)
            continue
        except httpx.HTTPError as e:
            raise CliError(f"cannot reach {url}: {e}") from e
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
