"""Reports of format version 1 (before files were stored) read as reports with no files; the
upcaster is the only change, the stored payload (and so its hash) is untouched."""

from __future__ import annotations

import shutil
from pathlib import Path

from ledger.db import ensure_schema, make_engine
from ledger.directives import Directives, to_event
from ledger.store import EventStore
from lifecycle.events import ReportSubmitted, event_version
from tests.ledger.test_old_format import FIXTURE


def test_version_1_reports_read_with_no_attachments(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    shutil.copyfile(FIXTURE, path)
    engine = make_engine(f"sqlite:///{path}")
    try:
        ensure_schema(engine)
        directives = Directives.over(engine)
        stored = [e for e in directives.events("qn-2810-ubnd-kgvx-2023") if e.type == "ReportSubmitted"]
        raw = [e for e in EventStore(engine).read("qn-2810-ubnd-kgvx-2023") if e.type == "ReportSubmitted"]
    finally:
        engine.dispose()
    assert stored and event_version("ReportSubmitted") == 2
    assert all(e.payload["attachments"] == [] for e in stored)
    assert all("attachments" not in e.payload for e in raw)  # as stored: version 1
    events = [to_event(e) for e in stored]
    assert all(isinstance(e, ReportSubmitted) and e.attachments == () for e in events)
