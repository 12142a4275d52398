"""A ledger already at the newest revision is recognised without importing alembic."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from ledger.db import ensure_schema, make_engine
from ledger.migrations import HEAD
from ledger.migrations.runner import current_revision, head_revision

ROOT = Path(__file__).resolve().parents[2]


def test_head_is_alembics_head() -> None:
    assert HEAD == head_revision(), "a new migration: set ledger.migrations.HEAD to its revision"


def test_a_ledger_at_head_opens_without_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    engine = make_engine(url)
    ensure_schema(engine)  # a new ledger: migrated by alembic
    with engine.connect() as conn:
        assert current_revision(conn) == HEAD
    engine.dispose()
    probe = (
        "import sys\nfrom ledger.db import ensure_schema, make_engine\n"
        f"ensure_schema(make_engine({url!r}))\n"
        "print(any(m.split('.')[0] == 'alembic' for m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT,
                          timeout=60, check=True)  # fmt: skip
    assert done.stdout.strip() == "False"
