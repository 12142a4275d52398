"""Agency secrets: encrypted at rest, rotated with a grace period, a 0600 key file; and the CLI."""

from __future__ import annotations

import base64
import datetime as dt
import os
import stat
from pathlib import Path

import httpx
import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Engine, select

from chidao.cli import main
from chidao.webhook import SecretStore, create_app
from chidao.webhook.errors import SecretStoreError
from chidao.webhook.secrets import encryption_key, key_from_file
from ledger.tables import agency_secrets
from tests.webhook.conftest import DIRECTIVE, Clock, Signer

NOW = dt.datetime(2026, 1, 5, 8, tzinfo=dt.UTC)


def test_secrets_are_encrypted_at_rest(engine: Engine) -> None:
    store = SecretStore(engine, Fernet.generate_key())
    secret = store.generate("so-gddt", now=NOW)
    assert secret.startswith("whsec_")
    with engine.connect() as conn:
        row = conn.execute(select(agency_secrets)).one()
    assert secret not in row.secret_ciphertext and secret[6:] not in row.secret_ciphertext
    assert store.secrets_for("so-gddt") == [secret]
    assert "whsec" not in repr(store)
    with pytest.raises(SecretStoreError, match="already has a secret"):
        store.generate("so-gddt")
    with pytest.raises(SecretStoreError, match="cannot be decrypted"):
        SecretStore(engine, Fernet.generate_key()).secrets_for("so-gddt")


def test_rotation_keeps_the_old_secret_for_the_grace_period(engine: Engine) -> None:
    store = SecretStore(engine, "a passphrase from CHIDAO_SECRET_KEY")
    old = store.generate("so-gddt", now=NOW)
    new = store.rotate("so-gddt", grace=dt.timedelta(hours=24), now=NOW)
    assert new != old
    assert store.secrets_for("so-gddt", now=NOW + dt.timedelta(hours=23)) == [new, old]
    assert store.secrets_for("so-gddt", now=NOW + dt.timedelta(hours=25)) == [new]
    info = store.info("so-gddt")
    assert info is not None and info.version == 2 and info.rotated_at == NOW
    newest = store.rotate("so-gddt", grace=dt.timedelta(0), now=NOW)
    assert store.secrets_for("so-gddt", now=NOW) == [newest]
    assert store.rotate("so-y-te", now=NOW).startswith("whsec_")  # none yet: made


def test_the_key_file_is_created_0600_once(tmp_path: Path) -> None:
    first = key_from_file(tmp_path / "home")
    mode = stat.S_IMODE(os.stat(tmp_path / "home" / "webhook-secrets.key").st_mode)
    assert mode == 0o600
    assert key_from_file(tmp_path / "home") == first
    assert encryption_key(None, tmp_path / "home") == first
    setting = base64.urlsafe_b64encode(os.urandom(32)).decode()
    assert encryption_key(setting, tmp_path / "home") != first


@pytest.mark.anyio
async def test_after_rotation_both_secrets_sign_until_the_grace_ends(
    engine: Engine, secrets: SecretStore
) -> None:
    old = secrets.generate("ubnd-ba-to")
    new = secrets.rotate("ubnd-ba-to")
    app = create_app(engine=engine, secrets=secrets, clock=Clock())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        signer = Signer(c, {"ubnd-ba-to": new}, {})
        path = f"/v1/directives/{DIRECTIVE}/agencies/ubnd-ba-to/acknowledge"
        assert (await signer.post("ubnd-ba-to", path, secret=old)).status_code == 201
        assert (await signer.post("ubnd-ba-to", path, hmac=True)).status_code == 200
        assert (
            await signer.post("ubnd-ba-to", path, secret="whsec_" + "QkJC" * 11)
        ).status_code == 401


def test_cli_prints_a_secret_once_and_rotates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CHIDAO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHIDAO_DATABASE_URL", raising=False)
    monkeypatch.delenv("CHIDAO_SECRET_KEY", raising=False)
    assert main(["agencies", "secret", "so-gddt"]) == 0
    out = capsys.readouterr()
    first = out.out.strip()
    assert first.startswith("whsec_") and "shown only now" in out.err
    assert main(["agencies", "secret", "so-gddt"]) == 1
    out = capsys.readouterr()
    assert out.out == "" and "already has a secret" in out.err and first not in out.err
    assert main(["agencies", "secret", "so-gddt", "--rotate"]) == 0
    second = capsys.readouterr().out.strip()
    assert second.startswith("whsec_") and second != first
    assert main(["agencies", "secret", "so-gdd"]) == 1
    assert "did you mean 'so-gddt'" in capsys.readouterr().err
    assert main(["agencies", "secret", "operator"]) == 1
    assert stat.S_IMODE(os.stat(tmp_path / "home" / "webhook-secrets.key").st_mode) == 0o600
    from chidao.settings import Settings
    from ledger.db import make_engine

    engine = make_engine(Settings().resolved_database_url)
    store = SecretStore(engine, key_from_file(tmp_path / "home"))
    assert store.secrets_for("so-gddt")[0] == second
    engine.dispose()


def test_serve_builds_the_app_from_settings_and_wires_the_waker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import uvicorn

    from chidao.cli.webhook_cmd import find_waker

    monkeypatch.setenv("CHIDAO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CHIDAO_WEBHOOK_BASE_URL", "http://127.0.0.1:9911")
    monkeypatch.delenv("CHIDAO_DATABASE_URL", raising=False)
    started: dict[str, object] = {}
    def run(server: uvicorn.Server, sockets: object = None) -> None:
        config = server.config
        started.update(
            app=config.app,
            host=config.host,
            port=config.port,
            http=config.http,
            limit=config.limit_concurrency,
            keep_alive=config.timeout_keep_alive,
        )

    monkeypatch.setattr(uvicorn.Server, "run", run)
    assert main(["serve"]) == 0
    assert started["host"] == "127.0.0.1" and started["port"] == 9911
    # the connection guard and the cap are what `serve` runs with
    assert getattr(started["http"], "__name__", "") == "GuardedH11Protocol"
    assert started["limit"] == 1000 and started["keep_alive"] == 5
    app = started["app"]
    assert app.state.wakeups.waker is not None  # type: ignore[attr-defined]
    assert "chidao.db" in capsys.readouterr().err
    assert main(["serve", "--port", "9912"]) == 0 and started["port"] == 9912
    assert find_waker() is not None
