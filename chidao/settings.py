"""Settings read from the environment (CHIDAO_*), the one place configuration enters the program.

Read at the faces (CLI, webhook app, flows) and passed down as plain values, so no lower
layer imports this module.

The checkpoint key (Ed25519, `CHIDAO_CHECKPOINT_KEY_FILE` or CHIDAO_HOME/checkpoint-ed25519.pem)
signs the ledger's checkpoints; it too is a file outside the database. Key files are created
atomically (temporary file, fsync, hard link into place), 0600, in a 0700 CHIDAO_HOME, and
keys shorter than 32 random bytes, empty files and empty variables are refused by name.

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
from typing import Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger.keyfiles import KeyProblem, create_exclusively, ensure_private_dir, signing_key

KEY_FILE_NAME = "webhook-secrets.key"
CHECKPOINT_KEY_FILE_NAME = "checkpoint-ed25519.pem"
CHECKPOINT_LOG_FILE_NAME = "checkpoints.jsonl"
__all__ = [
    "KeyProblem",
    "Settings",
    "as_fernet_key",
    "check_key",
    "create_exclusively",
    "encryption_key",
    "ensure_private_dir",
    "key_from_file",
    "link_key_for",
    "load_settings",
]
# What the link key is derived for: changing it invalidates every link already mailed.
LINK_KEY_LABEL = b"chidao/mail-links/v1"
MIN_KEY_BYTES = 32
HOW_TO_MAKE_A_KEY = (
    'make one with: python3 -c "import base64,os;'
    'print(base64.urlsafe_b64encode(os.urandom(32)).decode())"'
)


def _decode_key(text: str) -> bytes | None:
    """The bytes a key setting stands for: 64+ hex digits or base64 (URL-safe or standard)."""
    value = text.strip()
    try:
        if len(value) >= 2 * MIN_KEY_BYTES and all(c in "0123456789abcdefABCDEF" for c in value):
            return bytes.fromhex(value)
    except ValueError:
        pass
    padded = value + "=" * (-len(value) % 4)
    for altchars in (b"-_", b"+/"):
        try:
            return base64.b64decode(padded.encode("ascii"), altchars=altchars, validate=True)
        except (binascii.Error, ValueError, UnicodeEncodeError):
            continue
    return None


def check_key(value: str | bytes, where: str) -> bytes:
    """The raw key bytes of `value`, refused (KeyProblem naming `where`) unless it holds at
    least 32 random-looking bytes. Passphrases are not keys: they are guessable."""
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    if not text.strip():
        raise KeyProblem(
            f"{where} is empty: a key of at least {MIN_KEY_BYTES} random bytes is needed; {HOW_TO_MAKE_A_KEY}"
        )
    raw = _decode_key(text)
    if raw is None or len(raw) < MIN_KEY_BYTES:
        raise KeyProblem(
            f"{where} is not a key of at least {MIN_KEY_BYTES} random bytes (base64 or hex); "
            f"{HOW_TO_MAKE_A_KEY}"
        )
    if len(set(raw)) < 16:
        raise KeyProblem(
            f"{where} does not look random (too few distinct bytes); {HOW_TO_MAKE_A_KEY}"
        )
    return raw


def as_fernet_key(value: str | bytes) -> bytes:
    """`value` if it is a Fernet key already; otherwise a Fernet key derived from it."""
    raw = value.encode() if isinstance(value, str) else value
    try:
        if len(base64.urlsafe_b64decode(raw)) == 32:
            return raw
    except (binascii.Error, ValueError):
        pass
    # Longer key material: SHA-256 gives the 32 bytes Fernet wants (it is random already, so
    # no slow KDF is needed).
    return base64.urlsafe_b64encode(hashlib.sha256(raw).digest())


def key_from_file(home: Path) -> bytes:
    """The key in CHIDAO_HOME/webhook-secrets.key, created (0600, atomically) if missing."""
    path = ensure_private_dir(home) / KEY_FILE_NAME
    if not path.exists():
        # A Fernet key: 32 random bytes, URL-safe base64 (what Fernet.generate_key() makes).
        create_exclusively(path, base64.urlsafe_b64encode(os.urandom(32)))
    content = path.read_bytes().strip()
    check_key(content, f"the key file {path}")
    return content


def encryption_key(secret_key: str | None, home: Path) -> bytes:
    """The Fernet key: from CHIDAO_SECRET_KEY if set (even empty: then refused), else the file."""
    if secret_key is not None:
        check_key(secret_key, "CHIDAO_SECRET_KEY")
        return as_fernet_key(secret_key.strip())
    return key_from_file(home)


def link_key_for(fernet_key: bytes) -> bytes:
    """The mail-link key (which also seals outbox bodies) that goes with a secret key."""
    return hmac.new(fernet_key, LINK_KEY_LABEL, hashlib.sha256).digest()


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
    # The files of one report sent to the webhook, in all (apart from the JSON body's limit).
    max_attachment_bytes: int = Field(default=20 * 1024 * 1024, ge=1, le=1024 * 1024 * 1024)
    # The operator's language (CHIDAO_LANG): the CLI, the status tables. Each agency's mail and
    # page stay in the directive's notification language.
    lang: Literal["vi", "en"] = "vi"
    # Who is at the keyboard: recorded as the actor `operator:<id>` of every operator command
    # (the CLI's --operator wins; by default the login name).
    operator: str | None = None
    # The Ed25519 key checkpoints are signed with (never in the database), and the
    # append-only file every checkpoint is also written to (a witness).
    checkpoint_key_file: Path | None = None
    checkpoint_log: Path | None = None

    @property
    def resolved_database_url(self) -> str:
        """The ledger URL: CHIDAO_DATABASE_URL, or a SQLite file under CHIDAO_HOME."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'chidao.db'}"

    def ensure_home(self) -> Path:
        return ensure_private_dir(self.home)

    @property
    def checkpoint_key_path(self) -> Path:
        return self.checkpoint_key_file or self.home / CHECKPOINT_KEY_FILE_NAME

    @property
    def checkpoint_log_path(self) -> Path:
        """The witness file of this ledger: CHIDAO_CHECKPOINT_LOG, else one per database (a
        simulation's ledger must not share the main ledger's checkpoints)."""
        if self.checkpoint_log is not None:
            return self.checkpoint_log
        if not self.database_url:
            return self.home / CHECKPOINT_LOG_FILE_NAME
        if self.database_url.startswith("sqlite:///") and "?" not in self.database_url:
            database = Path(self.database_url.removeprefix("sqlite:///"))
            return database.with_name(database.name + "." + CHECKPOINT_LOG_FILE_NAME)
        digest = hashlib.sha256(self.database_url.encode("utf-8")).hexdigest()[:16]
        return self.home / "checkpoints" / f"{digest}.jsonl"

    def checkpoint_key(self) -> Ed25519PrivateKey:
        """The server's checkpoint signing key (may create its file)."""
        return signing_key(self.checkpoint_key_path, "CHIDAO_CHECKPOINT_KEY_FILE")

    def encryption_key(self) -> bytes:
        """The Fernet key agency secrets are encrypted under (may create the key file)."""
        key = self.secret_key.get_secret_value() if self.secret_key is not None else None
        return encryption_key(key, self.home)

    def link_key(self) -> bytes:
        """The key mail links are signed with: HMAC-SHA256 of a fixed label under the system's
        secret, so it changes when that secret does and reveals nothing about it."""
        return link_key_for(self.encryption_key())


def load_settings() -> Settings:
    return Settings()
