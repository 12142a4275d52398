"""Throwaway PostgreSQL databases for tests: find the local server or skip, create, drop.

The server is expected at 127.0.0.1:5432 with trust auth (CHIDAO_TEST_POSTGRES_URL
overrides). Each test package gets its own uniquely named database and drops it after, so
runs never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy.engine import make_url

CANDIDATES = (
    "postgresql://postgres@127.0.0.1:5432/test",
    "postgresql://root@127.0.0.1:5432/test",
)

_found: str | None = None
_failure: str | None = None


def postgres_url_or_skip() -> str:
    """A URL of the test server's `test` database that answers, or pytest.skip."""
    global _found, _failure
    if _found is not None:
        return _found
    if _failure is None:
        override = os.environ.get("CHIDAO_TEST_POSTGRES_URL")
        errors = []
        for url in (override,) if override else CANDIDATES:
            try:
                with psycopg.connect(url, connect_timeout=3) as conn:
                    conn.execute("SELECT 1")
            except psycopg.Error as e:
                errors.append(f"{url}: {str(e).strip().splitlines()[0] if str(e) else e}")
                continue
            _found = url
            return url
        _failure = "; ".join(errors)
    pytest.skip(f"PostgreSQL not reachable at 127.0.0.1:5432: {_failure}")


def _with_database(url: str, database: str) -> str:
    return make_url(url).set(database=database).render_as_string(hide_password=False)


@contextmanager
def throwaway_database(prefix: str = "chidao_test") -> Iterator[str]:
    """Create an empty database on the test server, yield its URL, drop it afterwards."""
    admin = postgres_url_or_skip()
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    try:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error as e:
        pytest.skip(f"cannot create a PostgreSQL test database: {e}")
    try:
        yield _with_database(admin, name)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
