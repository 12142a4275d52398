"""The agency key commands and the reference client, end to end over real HTTP:
keygen → register-key → call (dry-run, then sent) → revoke-key → a call refused → verify."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from chidao.cli import main
from chidao.webhook import SecretStore, create_app
from ledger.db import ensure_schema, make_engine
from ledger.store import EventStore
from tests.webhook.concurrency_helpers import serving
from tests.webhook.conftest import DIRECTIVE, Clock, event_counts, issue_2810

D = f"/v1/directives/{DIRECTIVE}"


def test_keygen_register_call_revoke(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/ledger.db"
    monkeypatch.setenv("CHIDAO_DATABASE_URL", url)
    monkeypatch.setenv("CHIDAO_HOME", str(tmp_path / "home"))
    engine = make_engine(url)
    ensure_schema(engine)
    issue_2810(engine)
    monkeypatch.chdir(tmp_path)

    assert main(["agencies", "keygen", "ubnd-ba-to"]) == 0
    keyid = capsys.readouterr().out.strip()
    assert keyid.startswith("ubnd-ba-to:") and len(keyid.split(":")[1]) == 16
    assert stat.S_IMODE(os.stat("ubnd-ba-to.key.pem").st_mode) == 0o600
    assert main(["agencies", "keygen", "ubnd-ba-to"]) == 1  # never overwrites a key
    assert "already exists" in capsys.readouterr().err
    assert main(["agencies", "keygen", "ubnd-ba-too"]) == 1
    assert "did you mean" in capsys.readouterr().err

    assert main(["agencies", "register-key", "ubnd-ba-to", "ubnd-ba-to.pub.pem"]) == 0
    assert capsys.readouterr().out.strip() == keyid
    assert main(["agencies", "register-key", "ubnd-ba-to", "ubnd-ba-to.pub.pem"]) == 1
    assert "already registered" in capsys.readouterr().err
    Path("bad.pem").write_text("not a key")
    assert main(["agencies", "register-key", "ubnd-ba-to", "bad.pem"]) == 1
    assert "bad.pem: not a PEM public key" in capsys.readouterr().err
    assert main(["agencies", "register-key", "ubnd-ba-to", "ubnd-ba-to.key.pem"]) == 1
    capsys.readouterr()
    assert [e.type for e in EventStore(engine).read("agency-keys")] == ["AgencyKeyRegistered"]

    path = f"{D}/agencies/ubnd-ba-to/items/4a/done"
    call = ["call", "--agency", "ubnd-ba-to", "--key", "ubnd-ba-to.key.pem"]
    note = json.dumps({"note": "Đã xong."}, ensure_ascii=False)
    assert main([*call, "--url", "http://webhook.example", "--dry-run", "POST", path, note]) == 0
    request = json.loads(capsys.readouterr().out)
    assert request["method"] == "POST" and request["url"] == f"http://webhook.example{path}"
    assert request["body"] == note
    assert set(request["headers"]) == {
        "content-digest", "content-type", "idempotency-key", "signature", "signature-input"
    }
    assert f'keyid="{keyid}"' in request["headers"]["signature-input"]

    app = create_app(engine=engine, secrets=SecretStore(engine, Fernet.generate_key()), clock=Clock())
    with serving(app) as base:
        assert main([*call, "--url", base, "POST", path, note]) == 0
        answer = json.loads(capsys.readouterr().out)
        assert answer["events"][0]["type"] == "ItemCompleted"
        assert main([*call, "--url", base, "GET", "/v1/agencies/ubnd-ba-to/inbox"]) == 0
        assert json.loads(capsys.readouterr().out)["agency"] == "ubnd-ba-to"

        assert main(["agencies", "revoke-key", keyid, "--reason", "máy bị mất"]) == 0
        assert "answers signed before stay valid" in capsys.readouterr().out
        assert main([*call, "--url", base, "POST", f"{D}/agencies/ubnd-ba-to/acknowledge"]) == 1
        assert json.loads(capsys.readouterr().out)["error"] == "unauthorized"
    assert main(["agencies", "keys", "--json"]) == 0
    [listed] = json.loads(capsys.readouterr().out)
    assert listed["keyid"] == keyid and listed["revoked_at"]
    assert event_counts(engine).get("Acknowledged") is None
    assert main(["verify", "--signatures"]) == 0
    assert "1 answer(s) signed by the agency's own key verified" in capsys.readouterr().out
    engine.dispose()
