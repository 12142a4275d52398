"""Session-wide test setup: Prefect kept offline, and one Prefect test server for the whole session.

The server (prefect_test_harness, ~9 s to start) is only started when a test asks for the
`prefect_server` fixture, so the plain-function tests never pay for it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[str]:
    """The API URL of a Prefect server started once for the session."""
    from prefect.settings import PREFECT_API_URL
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=60):
        yield str(PREFECT_API_URL.value())


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    """Async tests (marked `anyio`) run on asyncio, the loop Prefect uses."""
    return "asyncio"
