"""Each agency's signing secret, generated and rotated here, stored encrypted at rest.

Secrets are encrypted with Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) under one
key: `CHIDAO_SECRET_KEY` if set, else a key file under CHIDAO_HOME created 0600 on first use
(`chidao.settings.encryption_key`, which the mail links' key is derived from too).
They are encrypted rather than hashed because verifying an HMAC signature needs the secret
itself. A rotated secret stays valid for a grace period so the agency's system can switch
over without failed calls. Nothing here logs a secret, and reprs never show one.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from chidao.settings import KEY_FILE_NAME, encryption_key, key_from_file
from chidao.settings import as_fernet_key as _as_fernet_key
from chidao.webhook.auth import new_secret
from chidao.webhook.errors import SecretStoreError
from ledger.tables import agency_secrets

# The key logic lives in chidao.settings (the mail links derive their key from the same
# secret); these names stay importable from here.
__all__ = [
    "DEFAULT_GRACE",
    "KEY_FILE_NAME",
    "SecretInfo",
    "SecretStore",
    "encryption_key",
    "key_from_file",
]

DEFAULT_GRACE = dt.timedelta(hours=24)


def _utc_now() -> dt.datetime:
    from flows.clock import SystemClock

    return SystemClock().now()


@dataclass(frozen=True)
class SecretInfo:
    """What may be shown about an agency's secret: never the secret itself."""

    agency_id: str
    version: int
    created_at: dt.datetime
    rotated_at: dt.datetime | None


class SecretStore:
    """Per-agency webhook secrets in the ledger database's `agency_secrets` table."""

    def __init__(self, engine: Engine, key: str | bytes) -> None:
        self._engine = engine
        try:
            self._fernet = Fernet(_as_fernet_key(key))
        except ValueError as e:
            raise SecretStoreError("the webhook secret key is not usable") from e

    def __repr__(self) -> str:
        return f"SecretStore({self._engine.url.render_as_string(hide_password=True)!r})"

    def _seal(self, document: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(document).encode()).decode("ascii")

    def _open(self, agency_id: str, ciphertext: str) -> dict[str, Any]:
        try:
            document: dict[str, Any] = json.loads(self._fernet.decrypt(ciphertext.encode("ascii")))
        except InvalidToken as e:
            raise SecretStoreError(
                f"the secret of {agency_id} cannot be decrypted: the key changed or the row was altered"
            ) from e
        return document

    def undecryptable(self) -> list[str]:
        """The agencies whose stored secret this key does not open ([] when all open)."""
        failing: list[str] = []
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(agency_secrets.c.agency_id, agency_secrets.c.secret_ciphertext)
            ).all()
        for row in rows:
            try:
                self._fernet.decrypt(row.secret_ciphertext.encode("ascii"))
            except (InvalidToken, ValueError):
                failing.append(row.agency_id)
        return failing

    def check_key(self) -> None:
        """SecretStoreError unless this key opens every stored secret: the key changed."""
        failing = self.undecryptable()
        if failing:
            shown = ", ".join(failing[:5]) + (
                f" and {len(failing) - 5} more" if len(failing) > 5 else ""
            )
            raise SecretStoreError(
                f"the secret key (CHIDAO_SECRET_KEY or {KEY_FILE_NAME}) does not open the stored "
                f"secrets of {shown}: it is not the key they were written under. Restore that key "
                f"(or run `chidao keys rotate` with it) — nothing is written under this one"
            )

    def rekey(self, new_key: str | bytes) -> int:
        """Re-encrypt every stored secret under `new_key` in one transaction; how many."""
        self.check_key()
        target = Fernet(_as_fernet_key(new_key))
        with self._engine.begin() as conn:
            rows = conn.execute(select(agency_secrets)).all()
            for row in rows:
                plain = self._fernet.decrypt(row.secret_ciphertext.encode("ascii"))
                conn.execute(
                    update(agency_secrets)
                    .where(agency_secrets.c.agency_id == row.agency_id)
                    .values(secret_ciphertext=target.encrypt(plain).decode("ascii"))
                )
        self._fernet = target
        return len(rows)

    def info(self, agency_id: str) -> SecretInfo | None:
        with self._engine.connect() as conn:
            row = conn.execute(
                select(agency_secrets).where(agency_secrets.c.agency_id == agency_id)
            ).first()
        if row is None:
            return None
        return SecretInfo(row.agency_id, row.version, row.created_at, row.rotated_at)

    def secrets_for(self, agency_id: str, now: dt.datetime | None = None) -> list[str]:
        """The secrets a signature of `agency_id` may be made with now: current first; [] if none."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(agency_secrets.c.secret_ciphertext).where(
                    agency_secrets.c.agency_id == agency_id
                )
            ).first()
        if row is None:
            return []
        document = self._open(agency_id, row.secret_ciphertext)
        found = [document["current"]]
        until = document.get("previous_until")
        if (
            document.get("previous")
            and until
            and dt.datetime.fromisoformat(until) > (now or _utc_now())
        ):
            found.append(document["previous"])
        return found

    def generate(self, agency_id: str, now: dt.datetime | None = None) -> str:
        """A new secret for an agency that has none; SecretStoreError if it has one."""
        self.check_key()  # never write a secret under a key that does not open the others
        secret = new_secret()
        document = {"current": secret, "previous": None, "previous_until": None}
        try:
            with self._engine.begin() as conn:
                conn.execute(
                    insert(agency_secrets).values(
                        agency_id=agency_id,
                        secret_ciphertext=self._seal(document),
                        version=1,
                        created_at=now or _utc_now(),
                        rotated_at=None,
                    )
                )
        except IntegrityError as e:
            raise SecretStoreError(
                f"{agency_id} already has a secret; it is not shown again (rotate it to get a new one)"
            ) from e
        return secret

    def rotate(
        self, agency_id: str, *, grace: dt.timedelta = DEFAULT_GRACE, now: dt.datetime | None = None
    ) -> str:
        """A new current secret; the old one stays valid for `grace`. Generates if none exists."""
        moment = now or _utc_now()
        self.check_key()
        for _ in range(10):
            with self._engine.connect() as conn:
                row = conn.execute(
                    select(agency_secrets).where(agency_secrets.c.agency_id == agency_id)
                ).first()
            if row is None:
                try:
                    return self.generate(agency_id, now=moment)
                except SecretStoreError:
                    continue  # created meanwhile by someone else: rotate that one
            old = self._open(agency_id, row.secret_ciphertext)
            secret = new_secret()
            document = {
                "current": secret,
                "previous": old["current"] if grace > dt.timedelta(0) else None,
                "previous_until": (moment + grace).isoformat() if grace > dt.timedelta(0) else None,
            }
            with self._engine.begin() as conn:
                # Optimistic: only if nobody rotated since we read, so two rotations never
                # leave a secret that was printed to someone but is no longer stored.
                changed = conn.execute(
                    update(agency_secrets)
                    .where(agency_secrets.c.agency_id == agency_id)
                    .where(agency_secrets.c.version == row.version)
                    .values(
                        secret_ciphertext=self._seal(document),
                        version=row.version + 1,
                        rotated_at=moment,
                    )
                ).rowcount
            if changed == 1:
                return secret
        raise SecretStoreError(
            f"the secret of {agency_id} kept changing while rotating it; try again"
        )
