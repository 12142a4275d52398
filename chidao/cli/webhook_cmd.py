"""`chidao serve` runs the agency webhook; `chidao agencies …` manages agencies' secrets and keys.

`agencies secret ID [--rotate]` is the shared HMAC secret; `agencies keygen`, `register-key`,
`revoke-key` and `keys` are agencies' own Ed25519 keys (`chidao.cli.keys_cmd`).

A secret is printed once, on stdout alone (so it can be piped into the agency's system), when it
is made; it is stored encrypted and never shown again. `--rotate` makes a new one and keeps the
old one valid for a grace period so the agency can switch without failed calls.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chidao.cli import keys_cmd
from chidao.cli.common import CliError, settings
from chidao.settings import Settings
from chidao.webhook.errors import SecretStoreError
from chidao.webhook.secrets import DEFAULT_GRACE, SecretStore
from chidao.webhook.service import RESERVED_ACTORS

Waker = Callable[[str], Awaitable[None]]


def register(subparsers: argparse._SubParsersAction) -> None:
    defaults = urlsplit(Settings.model_fields["webhook_base_url"].default)
    serve = subparsers.add_parser("serve", help="run the agency webhook (uvicorn)")
    serve.add_argument(
        "--host", default=None, help=f"default: from CHIDAO_WEBHOOK_BASE_URL ({defaults.hostname})"
    )
    serve.add_argument(
        "--port",
        type=int,
        default=None,
        help=f"default: from CHIDAO_WEBHOOK_BASE_URL ({defaults.port})",
    )
    serve.add_argument(
        "--max-body-bytes", type=int, default=1_000_000, help="larger bodies get 413"
    )
    serve.add_argument(
        "--limit-concurrency",
        type=int,
        default=1000,
        help="connections and requests at once before new ones get 503 (default 1000)",
    )
    serve.add_argument(
        "--header-timeout", type=float, default=5.0, help="seconds for a request's headers"
    )
    serve.add_argument(
        "--min-body-rate",
        type=float,
        default=10_000,
        help="bytes/s a body must keep up after a 5 s grace (default 10000)",
    )
    serve.set_defaults(func=run_serve)

    agencies = subparsers.add_parser("agencies", help="agencies' webhook secrets")
    commands = agencies.add_subparsers(dest="agencies_command", metavar="COMMAND")
    secret = commands.add_parser(
        "secret", help="make an agency's webhook secret (printed once) or rotate it"
    )
    secret.add_argument("agency", metavar="ID", help="agency id from the directory, e.g. so-gddt")
    secret.add_argument("--rotate", action="store_true", help="replace the secret with a new one")
    secret.add_argument(
        "--grace-hours",
        type=float,
        default=DEFAULT_GRACE.total_seconds() / 3600,
        help="with --rotate: hours the old secret stays valid (default 24; 0 ends it at once)",
    )
    secret.set_defaults(func=run_secret)

    keygen = commands.add_parser("keygen", help="make an Ed25519 key pair for an agency")
    keygen.add_argument("agency", metavar="ID")
    keygen.add_argument(
        "-o", "--out", type=Path, help="file prefix (default ID): PREFIX.key.pem, PREFIX.pub.pem"
    )
    keygen.set_defaults(func=lambda a: keys_cmd.keygen(_known_agency(a.agency), a.out))

    reg = commands.add_parser(
        "register-key", help="register an agency's Ed25519 public key (a ledger event)"
    )
    reg.add_argument("agency", metavar="ID")
    reg.add_argument("public", metavar="PUBLIC.pem", type=Path)
    reg.add_argument("--valid-days", type=float, default=730, help="default 730")
    reg.add_argument("--by", default="operator", help="who registers it (recorded)")
    reg.set_defaults(func=run_register_key)

    rev = commands.add_parser("revoke-key", help="end an agency's key (a ledger event)")
    rev.add_argument("keyid", metavar="KEYID", help="AGENCY:KID, as register-key printed")
    rev.add_argument("--reason", required=True)
    rev.add_argument("--by", default="operator", help="who revokes it (recorded)")
    rev.set_defaults(func=run_revoke_key)

    listing = commands.add_parser("keys", help="registered keys and their validity")
    listing.add_argument("agency", metavar="ID", nargs="?")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(
        func=lambda a: _with_ledger(lambda e: keys_cmd.list_keys(e, a.agency, as_json=a.json))
    )
    agencies.set_defaults(func=lambda _args: _usage(agencies))


def _known_agency(agency: str) -> str:
    from definitions.errors import DefinitionError
    from definitions.loader import did_you_mean, load_directory

    try:
        known = {a.id for a in load_directory().agencies}
    except DefinitionError as e:
        raise CliError(f"the agency directory is invalid:\n{e}") from e
    if agency in RESERVED_ACTORS or agency not in known:
        raise CliError(f"no agency {agency} in the directory{did_you_mean(agency, known)}")
    return agency


def _with_ledger(run: Callable[[Any], int]) -> int:
    engine = _ledger(settings())
    try:
        return run(engine)
    finally:
        engine.dispose()


def run_register_key(args: argparse.Namespace) -> int:
    agency = _known_agency(args.agency)
    if args.valid_days <= 0:
        raise CliError("--valid-days must be positive", exit_code=2)
    return _with_ledger(
        lambda e: keys_cmd.register_key(
            e, agency, args.public, valid_days=args.valid_days, by=args.by
        )
    )


def run_revoke_key(args: argparse.Namespace) -> int:
    return _with_ledger(
        lambda e: keys_cmd.revoke_key(e, args.keyid, reason=args.reason, by=args.by)
    )


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return 2


def _ledger(config: Settings) -> Any:
    from ledger.db import ensure_schema, make_engine
    from ledger.errors import LedgerError

    try:
        engine = make_engine(config.resolved_database_url)
        ensure_schema(engine)
    except LedgerError as e:
        raise CliError(str(e)) from e
    return engine


def _secret_store(config: Settings, engine: Any) -> SecretStore:
    try:
        config.ensure_home()
        return SecretStore(engine, config.encryption_key())
    except (OSError, SecretStoreError) as e:
        raise CliError(f"cannot open the webhook secret key: {e}") from e


def run_secret(args: argparse.Namespace) -> int:
    agency = _known_agency(args.agency)
    config = settings()
    engine = _ledger(config)
    try:
        store = _secret_store(config, engine)
        try:
            if args.rotate:
                if args.grace_hours < 0:
                    raise CliError("--grace-hours cannot be negative", exit_code=2)
                grace = dt.timedelta(hours=args.grace_hours)
                value = store.rotate(agency, grace=grace)
                note = (
                    f"rotated the secret of {agency}; the previous one stays valid for {args.grace_hours:g} h"
                    if grace
                    else f"rotated the secret of {agency}; the previous one no longer works"
                )
            else:
                value = store.generate(agency)
                note = f"new webhook secret of {agency}; it is shown only now, keep it"
        except SecretStoreError as e:
            raise CliError(e.detail) from e
    finally:
        engine.dispose()
    print(note, file=sys.stderr)
    print(value)
    return 0


def find_waker() -> Waker:
    """Wakes the directive's flow after an agency's call (a run at the next whole second)."""
    from flows.wake import wake_directive

    async def waker(directive_id: str) -> None:
        await wake_directive(directive_id, reason="cơ quan phản hồi")

    return waker


def _prefect_api_url() -> str | None:
    try:
        from prefect.settings import PREFECT_API_URL

        value = PREFECT_API_URL.value()
    except Exception:  # Prefect's settings failing must not stop the webhook
        return None
    return str(value) if value else None


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from chidao.webhook import create_app
    from ledger.db import mask_url

    config = settings()
    base = urlsplit(config.webhook_base_url)
    host = args.host or base.hostname or "127.0.0.1"
    port = args.port or base.port or 8765
    engine = _ledger(config)
    store = _secret_store(config, engine)
    waker = find_waker()
    try:
        link_key = config.link_key()
    except OSError as e:
        raise CliError(f"cannot open the webhook secret key: {e}") from e
    app = create_app(
        engine=engine,
        secrets=store,
        waker=waker,
        max_body_bytes=args.max_body_bytes,
        link_key=link_key,
    )
    prefect = _prefect_api_url()
    print(f"chidao webhook on http://{host}:{port} (API docs at /docs)", file=sys.stderr)
    print(f"  ledger: {mask_url(config.resolved_database_url)}", file=sys.stderr)
    print(
        f"  flows: woken through {prefect or 'the local Prefect profile'}",
        file=sys.stderr,
    )
    from chidao.webhook import accesslog
    from chidao.webhook.limits import Limits, guarded_protocol

    if args.limit_concurrency < 1 or args.header_timeout <= 0 or args.min_body_rate <= 0:
        raise CliError("--limit-concurrency, --header-timeout and --min-body-rate must be positive", exit_code=2)
    limits = Limits(header_timeout=args.header_timeout, min_body_rate=args.min_body_rate)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="info",
            proxy_headers=False,
            http=guarded_protocol(limits),
            limit_concurrency=args.limit_concurrency,
            timeout_keep_alive=5,
        )
    )
    accesslog.install()  # after uvicorn configured its loggers: no token in the access log
    try:
        server.run()
    finally:
        engine.dispose()
    return 0
