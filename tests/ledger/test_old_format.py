"""A ledger written by the code of 2026-12-01 still replays, verifies and plans as it did then.

`tests/fixtures/ledger-v1.sqlite` (its SQL dump beside it) holds 5185 through its 2021 cycle
and closing, and 2810 through its 2023 cycle into 2024: every event type of schema version 1,
with its checkpoint-free chain. `ledger-v1.golden.json` is what that code read from it (see
`tests/ledger/golden.py`). Every later change — migrations, upcasters, a reworked state —
must read a copy of the file, migrated as the application would open it, to the same JSON.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from ledger.db import ensure_schema, make_engine
from tests.ledger.golden import golden

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FIXTURE = FIXTURES / "ledger-v1.sqlite"
GOLDEN = FIXTURES / "ledger-v1.golden.json"
# The fixture must never change: later formats are read from it, not rewritten into it.
FIXTURE_SHA256 = "1afc1fb103fc2f6d4246fa3c57c61547e3d6e5cbd17f8b34c6386f06de02104c"


@pytest.fixture(scope="module")
def expected() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def migrated_copy(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("old-ledger") / "ledger.db"
    shutil.copyfile(FIXTURE, path)
    url = f"sqlite:///{path}"
    engine = make_engine(url)
    try:
        ensure_schema(engine)
    finally:
        engine.dispose()
    return url


def test_the_fixture_is_the_one_written_by_the_old_code() -> None:
    assert hashlib.sha256(FIXTURE.read_bytes()).hexdigest() == FIXTURE_SHA256


def test_the_fixture_holds_every_event_type_of_version_1() -> None:
    from lifecycle.events import EVENT_TYPES

    with sqlite3.connect(f"file:{FIXTURE}?mode=ro", uri=True) as db:
        types = {t for (t,) in db.execute("SELECT DISTINCT type FROM events")}
        versions = {v for (v,) in db.execute("SELECT DISTINCT schema_version FROM events")}
    assert versions == {1}
    assert types == set(EVENT_TYPES) - _types_added_since_v1()


def _types_added_since_v1() -> set[str]:
    """Event types later versions add are not in the old file; name them here as they come."""
    # WorkTransferred, SupersedesDirective: hand-overs and closing; CyclesNotTracked,
    # OverdueSummarised: launch catch-up (`current`, `summary`);
    # ExplanationRequested, ExplanationGiven: explanation requests (yêu cầu giải trình)
    return {
        "WorkTransferred", "SupersedesDirective", "CyclesNotTracked", "OverdueSummarised",
        "ExplanationRequested", "ExplanationGiven",
    }  # fmt: skip


def test_replays_verifies_and_plans_as_the_old_code_did(
    migrated_copy: str, expected: dict[str, Any]
) -> None:
    found = golden(migrated_copy)
    assert found["verify"] == expected["verify"] == []
    assert sorted(found["streams"]) == sorted(expected["streams"])
    for stream, want in expected["streams"].items():
        got = found["streams"][stream]
        for part in ("events", "types", "head", "keys", "state", "rows_at_end", "pending_actions"):
            assert got[part] == want[part], f"{stream}: {part} differs from the old code's"
        for instant, plan in want["planner"].items():
            assert got["planner"][instant] == plan, f"{stream}: the planner at {instant} differs"


@pytest.mark.postgres
def test_the_old_ledger_moved_to_postgres_reads_the_same(
    migrated_copy: str, expected: dict[str, Any]
) -> None:
    """The same rows copied into PostgreSQL: the same replay, verify and plan."""
    from sqlalchemy import insert, select, text

    from ledger.tables import events
    from tests.pg import throwaway_database

    source = make_engine(migrated_copy)
    with source.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(select(events).order_by(events.c.position))]
    source.dispose()
    with throwaway_database("chidao_old_format") as url:
        engine = make_engine(url)
        ensure_schema(engine)
        with engine.begin() as conn:
            conn.execute(insert(events), rows)
            conn.execute(
                text("SELECT setval(pg_get_serial_sequence('events', 'position'), :n)"),
                {"n": rows[-1]["position"]},
            )
        engine.dispose()
        found = golden(url)
    assert found == expected
