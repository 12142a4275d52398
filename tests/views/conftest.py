"""A ledger holding the 2810 and 5185 scenarios run to their end (in process, mail to files),
shared by the views tests of a session: building it is the slow part."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from chidao.cli import main
from definitions.loader import DIRECTIVES_DIR
from flows.simulate import load_scenario, packaged_scenario, simulate
from notifications.mailer import SmtpConfig
from tasks.runtime import directives_for, dispose_all
from tests.flows.inprocess import deliver_in_process, reconcile_in_process
from tests.lifecycle.helpers import resolved

SCENARIOS = ("qn-2810-ubnd-kgvx-2023", "qn-5185-ubnd-kgvx-2021")


async def _run(database_url: str, smtp: SmtpConfig) -> None:
    directives = directives_for(database_url)

    async def run_flow(directive_id: str, now: dt.datetime) -> None:
        reconcile_in_process(database_url, smtp, directive_id, now)
        await deliver_in_process(database_url, smtp, directive_id, now)

    for name in SCENARIOS:
        await simulate(
            resolved(DIRECTIVES_DIR / f"{name}.yaml"),
            load_scenario(packaged_scenario(name)),
            directives,
            run_flow,
        )


@pytest.fixture(scope="session")
def scenario_ledger(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The URL of a SQLite ledger where both scenarios ran to their `until` day."""
    root: Path = tmp_path_factory.mktemp("views")
    dispose_all()
    url = f"sqlite:///{root / 'ledger.db'}"
    asyncio.run(_run(url, SmtpConfig(dry_run_dir=root / "mail")))
    dispose_all()
    return url


@pytest.fixture
def cli(
    scenario_ledger: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> Any:
    """`chidao ARGS…` over the scenarios' ledger, in Vietnamese: (exit status, stdout, stderr)."""
    monkeypatch.setenv("CHIDAO_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CHIDAO_DATABASE_URL", scenario_ledger)
    monkeypatch.setenv("CHIDAO_LANG", "vi")

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
