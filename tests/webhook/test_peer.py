"""A peer nobody here wrote: the npm `http-message-signatures` (RFC 9421) under Node.js signs
agencies' answers with their Ed25519 keys and sends them over real HTTP; they are recorded,
`chidao verify --signatures` passes on them and fails once one answer's payload is edited in
the database. On SQLite and PostgreSQL. Node's packages come from the project's
`package.json`/`package-lock.json` (`npm ci`, done by `.ci/run`)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, update

from chidao.cli import main
from chidao.webhook import SecretStore, create_app
from ledger.agency_keys import AgencyKeys
from ledger.db import ensure_schema, make_engine
from ledger.signatures import ed25519_kid
from ledger.store import EventStore
from ledger.tables import events
from tests.pg import throwaway_database
from tests.webhook.concurrency_helpers import serving
from tests.webhook.conftest import DIRECTIVE, Clock, event_counts, issue_2810

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).parent / "peer" / "send.js"
NODE = shutil.which("node")
D = f"/v1/directives/{DIRECTIVE}"

pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed: peer test skipped")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def ledger_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/ledger.db"
        return
    with throwaway_database("chidao_peer_test") as url:
        yield url


def peer(base: str, key: Ed25519PrivateKey, agency: str, method: str, path: str, body: Any = None, *, ikey: str = "") -> dict[str, Any]:
    if not (ROOT / "node_modules" / "http-message-signatures").is_dir():
        pytest.fail("node_modules is missing: run `npm ci` at the repository's root (.ci/run does)")
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    request = {
        "base": base,
        "method": method,
        "path": path,
        "body": None if body is None else json.dumps(body, ensure_ascii=False),
        "keyPem": pem,
        "keyid": f"{agency}:{ed25519_kid(key.public_key())}",
        "idempotencyKey": ikey or f"peer-{method}-{path}",
    }
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(SCRIPT)], input=json.dumps(request), capture_output=True, text=True, timeout=60, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout)
    return answer


def test_answers_signed_by_the_npm_peer_are_recorded_and_verify_offline(
    ledger_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    engine: Engine = make_engine(ledger_url)
    ensure_schema(engine)
    issue_2810(engine)
    keys = {a: Ed25519PrivateKey.generate() for a in ("ubnd-ba-to", "so-gddt")}
    import datetime as dt

    for agency, key in keys.items():
        AgencyKeys(EventStore(engine)).register(
            agency, key.public_key(), at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1), actor="operator"
        )
    app = create_app(engine=engine, secrets=SecretStore(engine, Fernet.generate_key()), clock=Clock())
    try:
        with serving(app) as base:
            ba_to = keys["ubnd-ba-to"]
            assert peer(base, ba_to, "ubnd-ba-to", "POST", f"{D}/agencies/ubnd-ba-to/acknowledge")["status"] == 201
            note = {"note": "Đã ban hành kế hoạch thực hiện."}
            assert peer(base, ba_to, "ubnd-ba-to", "POST", f"{D}/agencies/ubnd-ba-to/items/4a/done", note)["status"] == 201
            report = {"text": "Báo cáo kết quả năm 2023.", "items": {"4a": "done"}, "figures": {"lớp": "12"}}
            sent = peer(base, ba_to, "ubnd-ba-to", "POST", f"{D}/agencies/ubnd-ba-to/cycles/2023/report", report)
            assert sent["status"] == 201, sent
            # the peer's retry: signed anew, the same idempotency-key: the first answer again
            again = peer(base, ba_to, "ubnd-ba-to", "POST", f"{D}/agencies/ubnd-ba-to/cycles/2023/report", report, ikey=f"peer-POST-{D}/agencies/ubnd-ba-to/cycles/2023/report")
            assert again["status"] == 201 and json.loads(again["body"]) == json.loads(sent["body"])
            inbox = peer(base, ba_to, "ubnd-ba-to", "GET", "/v1/agencies/ubnd-ba-to/inbox")
            assert inbox["status"] == 200 and json.loads(inbox["body"])["agency"] == "ubnd-ba-to"
            accept = peer(base, keys["so-gddt"], "so-gddt", "POST", f"{D}/cycles/2023/reports/ubnd-ba-to/accept")
            assert accept["status"] == 201, accept
            # the peer's own choice of parameters (it adds `expires`) is accepted as well
            assert "expires" in sent["sent"]["Signature-Input"]
    finally:
        engine.dispose()
    engine = make_engine(ledger_url)
    assert event_counts(engine)["ReportSubmitted"] == 1 and event_counts(engine)["ReportAccepted"] == 1

    monkeypatch.setenv("CHIDAO_DATABASE_URL", ledger_url)
    monkeypatch.setenv("CHIDAO_HOME", str(tmp_path / "home"))
    assert main(["verify", "--signatures"]) == 0
    out = capsys.readouterr().out
    assert "4 answer(s) signed by the agency's own key verified" in out, out

    stored = next(e for e in EventStore(engine).read(DIRECTIVE) if e.type == "ReportSubmitted")
    with engine.begin() as conn:
        conn.execute(
            update(events)
            .where(events.c.position == stored.position)
            .values(payload={**stored.payload, "figures": {"lớp": "120"}})
        )
    assert main(["verify", "--signatures"]) == 1
    err = capsys.readouterr().err
    assert f"{DIRECTIVE} v{stored.version} (ReportSubmitted by ubnd-ba-to)" in err and "figures" in err
    engine.dispose()
