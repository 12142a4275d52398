"""The definition of DirectiveIssued and DefinitionAmended is versioned: version 1 and 2
payloads (the old-format fixture) embed it and are upcast on read to version 3, which names it
by its SHA-256; new ones are written at version 3, the definition stored once by that hash in
the same transaction."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import sqlite3
from pathlib import Path

from definitions.calendar import TIMEZONE
from definitions.content_hash import definition_sha256, document_sha256
from definitions.loader import DIRECTIVES_DIR, load_definition, load_directory
from definitions.resolve import RESOLVED_FORMAT_VERSION, ResolvedDirective, resolve
from ledger.db import ensure_schema, make_engine
from ledger.directives import Directives, lifecycle_upcasters
from lifecycle import commands as cmd
from lifecycle.events import EVENT_TYPES, EVENT_VERSIONS, event_version

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "ledger-v1.sqlite"


def test_every_event_type_reads_at_the_version_it_is_written_at() -> None:
    upcasters = lifecycle_upcasters()
    for type_ in EVENT_TYPES:
        assert upcasters.current_version(type_) == event_version(type_), type_
    assert set(EVENT_VERSIONS) == {
        "DirectiveIssued", "DefinitionAmended", "DirectiveClosed",
        # version 2: the files stored with a report (tests/ledger/test_attachment_format.py)
        "ReportSubmitted", "ConsolidatedReportSubmitted",
    }  # fmt: skip


def test_the_old_embedded_definition_is_upcast_on_read(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    shutil.copyfile(FIXTURE, path)
    engine = make_engine(f"sqlite:///{path}")
    ensure_schema(engine)
    directives = Directives.over(engine)
    issued = [e for e in directives.events("qn-2810-ubnd-kgvx-2023") if e.type == "DirectiveIssued"]
    assert issued[0].schema_version == 3
    assert issued[0].payload["resolved"]["format_version"] == RESOLVED_FORMAT_VERSION
    # named by the hash of the document it embeds, which it keeps inline
    assert issued[0].payload["definition_sha256"] == document_sha256(issued[0].payload["resolved"])
    resolved = ResolvedDirective.model_validate(issued[0].payload["resolved"])
    assert resolved.as_of is None and all(a.valid_until is None for a in resolved.tracked)
    engine.dispose()
    with sqlite3.connect(path) as db:  # the stored row itself is left as it was written
        (stored,) = db.execute(
            "SELECT schema_version FROM events WHERE type = 'DirectiveIssued' "
            "AND stream = 'qn-2810-ubnd-kgvx-2023'"
        ).fetchone()
    assert stored == 1


def test_a_new_issuance_is_written_at_version_3_naming_its_stored_definition(
    tmp_path: Path,
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    ensure_schema(engine)
    directory = load_directory()
    definition = load_definition(DIRECTIVES_DIR / "qn-2810-ubnd-kgvx-2023.yaml", directory)
    resolved = resolve(definition, directory).model_dump(mode="json")
    at = dt.datetime(2023, 6, 20, 9, tzinfo=TIMEZONE)
    Directives.over(engine).execute(
        definition.id, cmd.Issue(actor="operator", resolved=resolved), at, key="issue"
    )
    engine.dispose()
    with sqlite3.connect(tmp_path / "new.db") as db:
        rows = dict(db.execute("SELECT type, schema_version FROM events").fetchall())
        (payload,) = db.execute(
            "SELECT payload FROM events WHERE type = 'DirectiveIssued'"
        ).fetchone()
        stored = dict(db.execute("SELECT sha256, resolved FROM definitions").fetchall())
    assert rows == {"DirectiveIssued": 3, "CycleOpened": 1}
    payload = json.loads(payload)
    assert set(payload) == {"directive_id", "definition_sha256"}  # the definition is not in it
    sha = payload["definition_sha256"]
    assert list(stored) == [sha] and document_sha256(json.loads(stored[sha])) == sha
    assert sha == definition_sha256(ResolvedDirective.model_validate(resolved))
