"""`chidao agencies keygen / register-key / revoke-key / keys`: agencies' own Ed25519 keys.

`keygen` makes a key pair for an agency (the private half 0600, to keep on the agency's side);
`register-key` records the public half as a ledger event of the `agency-keys` stream, after
which the agency signs with `keyid="{agency}:{kid}"`; `revoke-key` ends a key (answers signed
before stay valid). One small function per command; `webhook_cmd` registers them.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine

from chidao.cli.common import CliError, print_json
from ledger.agency_keys import AgencyKeys, KeyRegistryError, load_public_pem, public_pem
from ledger.errors import LedgerError
from ledger.signatures import ed25519_kid
from ledger.store import EventStore


def _now() -> dt.datetime:
    from flows.clock import SystemClock

    return SystemClock().now()


def keygen(agency: str, out: Path | None) -> int:
    """Write `{out}.key.pem` (private, 0600) and `{out}.pub.pem`; print the key id."""
    prefix = out or Path(agency)
    private_path = prefix.with_name(prefix.name + ".key.pem")
    public_path = prefix.with_name(prefix.name + ".pub.pem")
    for path in (private_path, public_path):
        if path.exists():
            raise CliError(f"{path} already exists; not overwriting a key")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        public_path.write_text(public_pem(key.public_key()))
    except OSError as e:
        raise CliError(f"cannot write the key: {e}") from e
    print(f"private key (keep it on the agency's side, never send it): {private_path}", file=sys.stderr)
    print(f"public key (register it: chidao agencies register-key {agency} {public_path})", file=sys.stderr)
    print(f"{agency}:{ed25519_kid(key.public_key())}")
    return 0


def register_key(
    engine: Engine, agency: str, public_file: Path, *, valid_days: float, by: str
) -> int:
    try:
        data = public_file.read_bytes()
    except OSError as e:
        raise CliError(f"cannot read {public_file}: {e.strerror}") from e
    try:
        key = load_public_pem(data)
        now = _now()
        found = AgencyKeys(EventStore(engine)).register(
            agency,
            key,
            at=now,
            actor=by,
            valid_until=now + dt.timedelta(days=valid_days),
        )
    except KeyRegistryError as e:
        raise CliError(f"{public_file}: {e}") from e
    except LedgerError as e:
        raise CliError(str(e)) from e
    print(
        f"registered {found.keyid}, valid until {found.valid_until.isoformat(timespec='seconds')}",
        file=sys.stderr,
    )
    print(found.keyid)
    return 0


def revoke_key(engine: Engine, keyid: str, *, reason: str, by: str) -> int:
    if not reason.strip():
        raise CliError("--reason may not be empty", exit_code=2)
    try:
        found = AgencyKeys(EventStore(engine)).revoke(keyid, at=_now(), actor=by, reason=reason)
    except KeyRegistryError as e:
        raise CliError(str(e)) from e
    except LedgerError as e:
        raise CliError(str(e)) from e
    assert found.revoked_at is not None
    print(f"revoked {keyid} at {found.revoked_at.isoformat(timespec='seconds')}; answers signed before stay valid")
    return 0


def list_keys(engine: Engine, agency: str | None, *, as_json: bool) -> int:
    try:
        keys = AgencyKeys(EventStore(engine)).all().values()
    except LedgerError as e:
        raise CliError(str(e)) from e
    rows = [
        {
            "keyid": k.keyid,
            "valid_from": k.valid_from.isoformat(timespec="seconds"),
            "valid_until": k.valid_until.isoformat(timespec="seconds"),
            "revoked_at": k.revoked_at.isoformat(timespec="seconds") if k.revoked_at else None,
        }
        for k in keys
        if agency is None or k.agency == agency
    ]
    if as_json:
        print_json(rows)
        return 0
    for row in rows:
        state = f"revoked {row['revoked_at']}" if row["revoked_at"] else f"until {row['valid_until']}"
        print(f"{row['keyid']}  from {row['valid_from']}  {state}")
    return 0
