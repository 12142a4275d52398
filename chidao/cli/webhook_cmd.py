"""`chidao serve` runs the agency webhook; `chidao agencies …` manages agencies' secrets and keys.

`agencies secret ID [--rotate]` is the shared HMAC secret; `agencies keygen`, `register-key`,
`revoke-key` and `keys` are agencies' own Ed25519 keys (their logic in `chidao.cli.keys_cmd`).

A secret is printed once, on stdout alone (so it can be piped into the agency's system), when it
is made; it is stored encrypted and never shown again. `--rotate` makes a new one and keeps the
old one valid for a grace period so the agency can switch without failed calls.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from cyclopts import Parameter

from chidao.cli.common import CliError, settings
from chidao.settings import KeyProblem, Settings
from chidao.webhook.errors import SecretStoreError
from chidao.webhook.secrets import DEFAULT_GRACE, SecretStore
from chidao.webhook.service import RESERVED_ACTORS
from i18n import _

Waker = Callable[[str], Awaitable[None]]


_DEFAULTS = urlsplit(Settings.model_fields["webhook_base_url"].default)


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
    except KeyProblem as e:
        raise CliError(str(e)) from e
    except (OSError, SecretStoreError) as e:
        raise CliError(f"cannot open the webhook secret key: {e}") from e


def run_secret(
    agency: Annotated[
        str, Parameter(name="ID", help=_("agency id from the directory, e.g. so-gddt"))
    ],
    /,
    *,
    rotate: Annotated[bool, Parameter(help=_("replace the secret with a new one"))] = False,
    grace_hours: Annotated[
        float,
        Parameter(
            help=_("with --rotate: hours the old secret stays valid (default 24; 0 ends it at once)")
        ),
    ] = DEFAULT_GRACE.total_seconds() / 3600,
) -> int:
    agency = _known_agency(agency)
    config = settings()
    engine = _ledger(config)
    try:
        store = _secret_store(config, engine)
        try:
            if rotate:
                if grace_hours < 0:
                    raise CliError("--grace-hours cannot be negative", exit_code=2)
                grace = dt.timedelta(hours=grace_hours)
                value = store.rotate(agency, grace=grace)
                note = (
                    f"rotated the secret of {agency}; the previous one stays valid for {grace_hours:g} h"
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


AgencyId = Annotated[str, Parameter(name="ID", help=_("agency id from the directory, e.g. so-gddt"))]


def run_keygen(
    agency: AgencyId,
    /,
    *,
    out: Annotated[
        Path | None,
        Parameter(name=["--out", "-o"], help=_("file prefix (default ID): PREFIX.key.pem, PREFIX.pub.pem")),
    ] = None,
) -> int:
    from chidao.cli import keys_cmd

    return keys_cmd.keygen(_known_agency(agency), out)


def run_register_key(
    agency: AgencyId,
    public: Annotated[Path, Parameter(name="PUBLIC.pem", help=_("the agency's public key"))],
    /,
    *,
    valid_days: Annotated[float, Parameter(help=_("days the key stays valid (default 730)"))] = 730,
    by: Annotated[str, Parameter(help=_("who registers it (recorded)"))] = "operator",
) -> int:
    from chidao.cli import keys_cmd

    agency = _known_agency(agency)
    if valid_days <= 0:
        raise CliError("--valid-days must be positive", exit_code=2)
    return _with_ledger(
        lambda e: keys_cmd.register_key(e, agency, public, valid_days=valid_days, by=by)
    )


def run_revoke_key(
    keyid: Annotated[str, Parameter(name="KEYID", help=_("AGENCY:KID, as register-key printed"))],
    /,
    *,
    reason: Annotated[str, Parameter(help=_("why the key ends (recorded)"))],
    by: Annotated[str, Parameter(help=_("who revokes it (recorded)"))] = "operator",
) -> int:
    from chidao.cli import keys_cmd

    return _with_ledger(lambda e: keys_cmd.revoke_key(e, keyid, reason=reason, by=by))


def run_keys(
    agency: Annotated[str | None, Parameter(name="ID", help=_("one agency (default: all)"))] = None,
    /,
    *,
    json: Annotated[bool, Parameter(help=_("print JSON"))] = False,
) -> int:
    from chidao.cli import keys_cmd

    return _with_ledger(lambda e: keys_cmd.list_keys(e, agency, as_json=json))


def find_waker(database_url: str | None = None) -> Waker:
    """Wakes the directive's flow after an agency's call (a run at the next whole second),
    named from the directive in the ledger at `database_url`."""
    from flows.wake import wake_directive

    async def waker(directive_id: str) -> None:
        await wake_directive(directive_id, database_url=database_url)

    return waker


def _prefect_api_url() -> str | None:
    try:
        from prefect.settings import PREFECT_API_URL

        value = PREFECT_API_URL.value()
    except Exception:  # Prefect's settings failing must not stop the webhook
        return None
    return str(value) if value else None


def run_serve(
    *,
    host: Annotated[
        str | None,
        Parameter(help=_("default: from CHIDAO_WEBHOOK_BASE_URL ({default})").format(default=_DEFAULTS.hostname)),
    ] = None,
    port: Annotated[
        int | None,
        Parameter(help=_("default: from CHIDAO_WEBHOOK_BASE_URL ({default})").format(default=_DEFAULTS.port)),
    ] = None,
    max_body_bytes: Annotated[int, Parameter(help=_("larger bodies get 413"))] = 1_000_000,
    max_attachment_bytes: Annotated[
        int | None,
        Parameter(help=_("the files of one report, in all (default: CHIDAO_MAX_ATTACHMENT_BYTES, 20 MiB)")),
    ] = None,
    limit_concurrency: Annotated[
        int, Parameter(help=_("connections and requests at once before new ones get 503"))
    ] = 1000,
    header_timeout: Annotated[
        float, Parameter(help=_("seconds a request's headers may take"))
    ] = 5.0,
    min_body_rate: Annotated[
        float, Parameter(help=_("bytes/s a body must keep up after a 5 s grace"))
    ] = 10_000,
) -> int:
    import uvicorn

    from chidao.webhook import create_app
    from ledger.db import mask_url

    config = settings()
    base = urlsplit(config.webhook_base_url)
    host = host or base.hostname or "127.0.0.1"
    port = port or base.port or 8765
    engine = _ledger(config)
    store = _secret_store(config, engine)
    try:
        store.check_key()  # a changed key: refuse to start rather than answer 503 to every call
    except SecretStoreError as e:
        raise CliError(f"refusing to start: {e.detail}") from e
    waker = find_waker(config.resolved_database_url)
    try:
        link_key = config.link_key()
    except OSError as e:
        raise CliError(f"cannot open the webhook secret key: {e}") from e
    app = create_app(
        engine=engine,
        secrets=store,
        waker=waker,
        max_body_bytes=max_body_bytes,
        link_key=link_key,
        mailroom_dir=config.mailroom_dir,
        max_attachment_bytes=max_attachment_bytes or config.max_attachment_bytes,
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

    if limit_concurrency < 1 or header_timeout <= 0 or min_body_rate <= 0:
        raise CliError(
            "--limit-concurrency, --header-timeout and --min-body-rate must be positive",
            exit_code=2,
        )
    limits = Limits(header_timeout=header_timeout, min_body_rate=min_body_rate)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="info",
            proxy_headers=False,
            http=guarded_protocol(limits),
            limit_concurrency=limit_concurrency,
            timeout_keep_alive=5,
        )
    )
    accesslog.install()  # after uvicorn configured its loggers: no token in the access log
    try:
        server.run()
    finally:
        engine.dispose()
    return 0
