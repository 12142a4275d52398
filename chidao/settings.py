"""Settings read from the environment (CHIDAO_*), the one place configuration enters the program.

Read at the faces (CLI, webhook app, flows) and passed down as plain values, so no lower
layer imports this module.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    # First retry delay of a failed send; later ones grow exponentially (Prefect task retries).
    mail_retry_base_seconds: float = 5.0

    webhook_base_url: str = "http://127.0.0.1:8765"
    secret_key: SecretStr | None = None

    @property
    def resolved_database_url(self) -> str:
        """The ledger URL: CHIDAO_DATABASE_URL, or a SQLite file under CHIDAO_HOME."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'chidao.db'}"

    def ensure_home(self) -> Path:
        self.home.mkdir(parents=True, exist_ok=True)
        return self.home


def load_settings() -> Settings:
    return Settings()
