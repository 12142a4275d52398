"""Keys: weak or empty ones refused by name, created atomically, checked at start, rotated."""

from __future__ import annotations

import base64
import multiprocessing
import os
import stat
from pathlib import Path

import httpx
import pytest

from chidao.cli import main
from chidao.settings import KEY_FILE_NAME, KeyProblem, Settings, key_from_file
from chidao.webhook import create_app
from chidao.webhook.errors import SecretStoreError
from chidao.webhook.secrets import SecretStore
from ledger.db import ensure_schema, make_engine


def fresh_key() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHIDAO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CHIDAO_DATABASE_URL", raising=False)
    monkeypatch.delenv("CHIDAO_SECRET_KEY", raising=False)
    return tmp_path / "home"


@pytest.mark.parametrize(
    "value, why",
    [
        ("", "CHIDAO_SECRET_KEY is empty"),
        ("a", "CHIDAO_SECRET_KEY is not a key of at least 32 random bytes"),
        ("một cụm bí mật của người vận hành", "CHIDAO_SECRET_KEY is not a key"),
        ("A" * 44, "CHIDAO_SECRET_KEY does not look random"),
        (base64.urlsafe_b64encode(os.urandom(16)).decode(), "at least 32 random bytes"),
    ],
)
def test_weak_or_empty_variables_are_refused_by_name(
    home: Path, monkeypatch: pytest.MonkeyPatch, value: str, why: str
) -> None:
    monkeypatch.setenv("CHIDAO_SECRET_KEY", value)
    with pytest.raises(KeyProblem, match=why):
        Settings().encryption_key()
    # an empty variable does not fall back to the key file, nor create one
    assert not (home / KEY_FILE_NAME).exists()


@pytest.mark.parametrize("content", [b"", b"\n", b"c2hvcnQ=\n"])
def test_empty_or_short_key_files_are_refused_naming_the_file(
    home: Path, content: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    home.mkdir(parents=True)
    (home / KEY_FILE_NAME).write_bytes(content)
    with pytest.raises(KeyProblem, match=f"the key file {home / KEY_FILE_NAME}"):
        Settings().encryption_key()
    assert main(["agencies", "secret", "so-gddt"]) == 1
    assert KEY_FILE_NAME in capsys.readouterr().err


def test_a_good_variable_and_a_new_key_file_are_accepted(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = Settings().encryption_key()
    assert len(base64.urlsafe_b64decode(key)) == 32
    assert stat.S_IMODE(os.stat(home / KEY_FILE_NAME).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(home).st_mode) == 0o700
    monkeypatch.setenv("CHIDAO_SECRET_KEY", fresh_key())
    assert Settings().encryption_key() != key
    monkeypatch.setenv("CHIDAO_SECRET_KEY", os.urandom(32).hex())
    assert len(base64.urlsafe_b64decode(Settings().encryption_key())) == 32


def _read_key(
    home: str, barrier: multiprocessing.synchronize.Barrier, out: multiprocessing.Queue
) -> None:  # type: ignore[type-arg]
    barrier.wait()
    try:
        out.put(key_from_file(Path(home)))
    except Exception as e:  # reported to the parent
        out.put(repr(e).encode())


def test_four_processes_starting_on_a_new_home_agree_on_one_full_key(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    trials, empty, disagreed = 200, 0, 0
    for trial in range(trials):
        home = tmp_path / f"home-{trial}"
        barrier = context.Barrier(4)
        out: multiprocessing.Queue[bytes] = context.Queue()
        workers = [
            context.Process(target=_read_key, args=(str(home), barrier, out)) for _ in range(4)
        ]
        for w in workers:
            w.start()
        keys = [out.get(timeout=30) for _ in workers]
        for w in workers:
            w.join(timeout=30)
        empty += sum(1 for k in keys if len(k) != 44)
        disagreed += len(set(keys)) != 1
        assert keys[0] == (home / KEY_FILE_NAME).read_bytes()
    assert (empty, disagreed) == (0, 0), (
        f"{empty} bad reads, {disagreed} disagreements in {trials} trials"
    )


@pytest.fixture
def secrets_under_a(home: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    a = fresh_key()
    monkeypatch.setenv("CHIDAO_SECRET_KEY", a)
    assert main(["agencies", "secret", "so-gddt"]) == 0
    assert main(["agencies", "secret", "ubnd-ba-to"]) == 0
    return a, Settings().resolved_database_url


def test_a_changed_key_is_caught_at_start_and_nothing_is_written_under_it(
    secrets_under_a: tuple[str, str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, url = secrets_under_a
    capsys.readouterr()
    monkeypatch.setenv("CHIDAO_SECRET_KEY", fresh_key())
    assert main(["serve", "--port", "1"]) == 1
    err = capsys.readouterr().err
    assert "refusing to start" in err and "so-gddt" in err and "ubnd-ba-to" in err
    engine = make_engine(url)
    store = SecretStore(engine, Settings().encryption_key())
    with pytest.raises(SecretStoreError, match="does not open the stored secrets"):
        store.generate("so-ldtbxh")
    with pytest.raises(SecretStoreError, match="does not open"):
        store.rotate("so-gddt")
    assert main(["agencies", "secret", "so-ldtbxh"]) == 1
    assert store.info("so-ldtbxh") is None
    engine.dispose()


@pytest.mark.anyio
async def test_readyz_says_why_when_the_key_does_not_open_the_secrets(
    secrets_under_a: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, url = secrets_under_a
    engine = make_engine(url)
    ensure_schema(engine)
    for key, expected in ((a, 200), (fresh_key(), 503)):
        app = create_app(engine=engine, secrets=SecretStore(engine, key))
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            answer = await client.get("/readyz")
        assert answer.status_code == expected
    assert "does not open the stored secrets of so-gddt" in answer.json()["detail"]
    engine.dispose()


def test_keys_rotate_re_encrypts_everything_under_a_new_key_file(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["agencies", "secret", "so-gddt"]) == 0
    secret = capsys.readouterr().out.strip()
    old = (home / KEY_FILE_NAME).read_bytes()
    assert main(["keys", "rotate"]) == 0
    assert "re-encrypted 1 agency secret(s)" in capsys.readouterr().out
    new = (home / KEY_FILE_NAME).read_bytes()
    assert new != old and stat.S_IMODE(os.stat(home / KEY_FILE_NAME).st_mode) == 0o600
    engine = make_engine(Settings().resolved_database_url)
    assert SecretStore(engine, new).secrets_for("so-gddt") == [secret]
    assert SecretStore(engine, old).undecryptable() == ["so-gddt"]
    engine.dispose()


def test_keys_rotate_with_the_variable_set_needs_the_new_key(
    secrets_under_a: tuple[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, url = secrets_under_a
    assert main(["keys", "rotate"]) == 1
    assert "--new-key-file" in capsys.readouterr().err
    (tmp_path / "new.key").write_text("a")
    assert main(["keys", "rotate", "--new-key-file", str(tmp_path / "new.key")]) == 1
    assert f"the new key file {tmp_path / 'new.key'}" in capsys.readouterr().err
    b = fresh_key()
    (tmp_path / "new.key").write_text(b)
    assert main(["keys", "rotate", "--new-key-file", str(tmp_path / "new.key")]) == 0
    monkeypatch.setenv("CHIDAO_SECRET_KEY", b)
    engine = make_engine(url)
    assert SecretStore(engine, Settings().encryption_key()).undecryptable() == []
    engine.dispose()
