"""Settings read from the environment (CHIDAO_*), the one place configuration enters the program.

Read at the faces (CLI, webhook app, flows) and passed down as plain values, so no lower
layer imports this module.

The system's one secret also lives here: `CHIDAO_SECRET_KEY`, or else a key file under
CHIDAO_HOME created on first use. The webhook encrypts agency secrets under it
(`encryption_key`) and the mail links are signed with a key derived from it (`link_key`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

KEY_FILE_NAME = "webhook-secrets.key"
# What the link key is derived for: changing it invalidates every link already mailed.
LINK_KEY_LABEL = b"chidao/mail-links/v1"


def as_fernet_key(value: str | bytes) -> bytes:
    """`value` if it is a Fernet key already; otherwise a Fernet key derived from it."""
    raw = value.encode() if isinstance(value, str) else value
    try:
        if len(base64.urlsafe_b64decode(raw)) == 32:
            return raw
    except (binascii.Error, ValueError):
        pass
    # A passphrase-like setting: SHA-256 gives the 32 bytes Fernet wants. It is an operator's
    # configured secret, not a user password, so no slow KDF is needed.
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest())


def key_from_file(home: Path) -> bytes:
    """The key in CHIDAO_HOME/webhook-secrets.key, created 0600 if it does not exist yet."""
    path = home / KEY_FILE_NAME
    home.mkdir(parents=True, exist_ok=True)
    try:
        # O_EXCL: two processes starting at once must not both write a key and overwrite each
        # other; the loser reads the winner's.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes().strip()
    with os.fdopen(fd, "wb") as f:
        # A Fernet key: 32 random bytes, URL-safe base64 (what Fernet.generate_key() makes).
        f.write(base64.urlsafe_b64encode(os.urandom(32)))
    return path.read_bytes().strip()


def encryption_key(secret_key: str | None, home: Path) -> bytes:
    """The Fernet key: from the setting if given, else from (or into) the key file."""
    if secret_key:
        return as_fernet_key(secret_key)
    return key_from_file(home)


class Settings(BaseSettings):
    """Everything a chidao process needs to know about where it runs."""

    model_config = SettingsConfigDict(env_prefix="CHIDAO_", env_file=None, extra="ignore")

    home: Path = Field(default_factory=lambda: Path.home() / ".chidao")
    database_url: str | None = None

    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_sender: str = "chidao@ubnd.quangngai.example.gov.vn"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_security: str = "none"  # none | starttls | tls
    smtp_timeout_seconds: float = 10.0
    mail_dry_run_dir: Path | None = None
    # The embedded mail room's Maildir, set by `chidao up` when it runs its own SMTP server
    # because none is configured; the webhook shows it at /mailroom.
    mailroom_dir: Path | None = None
    # First retry delay of a failed send; later ones grow exponentially (Prefect task retries).
    mail_retry_base_seconds: float = 5.0

    webhook_base_url: str = "http://127.0.0.1:8765"
    secret_key: SecretStr | None = None
    # How long the signed link in a mail lets its reader answer through the browser form.
    link_days: int = Field(default=60, ge=1, le=3660)

    @property
    def resolved_database_url(self) -> str:
        """The ledger URL: CHIDAO_DATABASE_URL, or a SQLite file under CHIDAO_HOME."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'chidao.db'}"

    def ensure_home(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        return self.home

    def encryption_key(self) -> bytes:
        """The Fernet key agency secrets are encrypted under (may create the key file)."""
        key = self.secret_key.get_secret_value() if self.secret_key is not None else None
        return encryption_key(key, self.home)

    def link_key(self) -> bytes:
        """The key mail links are signed with: HMAC-SHA256 of a fixed label under the system's
        secret, so it changes when that secret does and reveals nothing about it."""
        return hmac.new(self.encryption_key(), LINK_KEY_LABEL, hashlib.sha256).digest()


def load_settings() -> Settings:
    return Settings()
