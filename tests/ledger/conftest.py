"""Fixtures of the ledger tests: a migrated engine on a real SQLite file and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from ledger.db import ensure_schema, make_engine, sqlite_url_for
from ledger.tables import metadata
from tests.pg import throwaway_database

TABLES = tuple(metadata.tables)  # every table, the read side's caches included


@pytest.fixture(scope="session")
def postgres_ledger_url() -> Iterator[str]:
    """One migrated throwaway database per session; tests empty it instead of recreating it."""
    with throwaway_database("chidao_ledger_test") as url:
        engine = make_engine(url)
        try:
            ensure_schema(engine)
        finally:
            engine.dispose()
        yield url


@pytest.fixture(
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of an empty, migrated ledger database on the parametrised backend."""
    if request.param == "sqlite":
        url = sqlite_url_for(tmp_path / "home")
        engine = make_engine(url)
        ensure_schema(engine)
        engine.dispose()
        yield url
        return
    url = request.getfixturevalue("postgres_ledger_url")
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY"))
    engine.dispose()
    yield url


@pytest.fixture
def engine(backend_url: str) -> Iterator[Engine]:
    engine = make_engine(backend_url)
    yield engine
    engine.dispose()
