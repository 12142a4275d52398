"""The `chidao` command line itself: what each command loads, exit codes, the language.

Commands that need no Prefect import none of it (nor the web stack), so they start fast;
a wrong command line ends with a message and status 2, never a traceback.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chidao.cli import main, take_language

ROOT = Path(__file__).resolve().parents[1]
D2810 = ROOT / "definitions" / "directives" / "qn-2810-ubnd-kgvx-2023.yaml"
HEAVY = ("prefect", "fastapi", "uvicorn", "starlette", "httpx", "alembic")
PROBE = (
    "import json, sys\n"
    "from chidao.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "loaded = sorted(sys.modules)\n"
    "print(json.dumps({'code': code, 'loaded': loaded}), file=sys.stderr)\n"
)


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHIDAO_", "PREFECT_API"))}
    env.update(
        CHIDAO_HOME=str(tmp_path / "home"),
        CHIDAO_DATABASE_URL=f"sqlite:///{tmp_path / 'ledger.db'}",
        PYTHONIOENCODING="utf-8",
        **extra,
    )
    return env


def _chidao(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chidao.cli", *args],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=_env(tmp_path, **env),
    )  # fmt: skip


def _probe(tmp_path: Path, *args: str) -> tuple[int, set[str]]:
    """The exit status of `chidao ARGS` and every module it imported."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True, text=True, timeout=120, cwd=ROOT, env=_env(tmp_path),
    )  # fmt: skip
    report = json.loads(done.stderr.strip().splitlines()[-1])
    return int(report["code"]), set(report["loaded"])


@pytest.fixture(scope="module")
def ledger_with_2810(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp_path = tmp_path_factory.mktemp("cli")
    done = _chidao(tmp_path, "launch", str(D2810), "--no-run", "--catch-up", "full")
    assert done.returncode == 0, done.stderr
    return tmp_path


@pytest.mark.parametrize(
    "args",
    [
        ["validate", str(D2810)],
        ["show", str(D2810), "--json"],
        ["status"],
        ["status", "qn-2810-ubnd-kgvx-2023", "--json"],
        ["history", "qn-2810-ubnd-kgvx-2023"],
        ["verify"],
    ],
    ids=lambda a: " ".join(a[:2]).replace(str(D2810), "2810"),
)
def test_commands_that_need_no_prefect_import_none_of_it(
    ledger_with_2810: Path, args: list[str]
) -> None:
    code, modules = _probe(ledger_with_2810, *args)
    assert code == 0
    packages = {m.split(".")[0] for m in modules}
    assert not packages & set(HEAVY), sorted(packages & set(HEAVY))
    # of the flows, only the one clock (flows/__init__ and flows/clock.py import nothing heavy)
    assert {m for m in modules if m.startswith("flows.")} <= {"flows.clock"}
    if args[0] in ("validate", "show"):
        assert "sqlalchemy" not in packages  # the ledger is not opened to check a file


def test_a_command_loads_only_its_own_module(ledger_with_2810: Path) -> None:
    _code, names = _probe(ledger_with_2810, "validate", str(D2810))
    assert "chidao.cli.definitions_cmd" in names
    assert not {"chidao.cli.flow_cmd", "chidao.cli.up_cmd", "chidao.cli.webhook_cmd"} & names


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["bogus"], "bogus"),
        (["validat"], "validate"),  # did you mean
        (["validate"], "PATHS"),
        (["status", "--as-of", "yesterday"], "--as-of"),
        (["notifications", "preview", str(D2810), "--agency", "so-gddt", "--kind", "x"], "--kind"),
        (["history", "qn-2810-ubnd-kgvx-2023", "--json", "--csv"], "--csv"),
        (["show", str(D2810), "--jsn"], "--jsn"),
        (["--lang", "fr", "status"], "fr"),
    ],
)
def test_a_wrong_command_line_is_status_2_with_a_message(
    tmp_path: Path, args: list[str], says: str
) -> None:
    done = _chidao(tmp_path, *args)
    assert done.returncode == 2, done
    assert "Traceback" not in done.stderr
    assert says in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("group", [[], ["notifications"], ["agencies"]])
def test_a_group_without_its_command_shows_its_help_on_stderr(
    tmp_path: Path, group: list[str]
) -> None:
    done = _chidao(tmp_path, *group)
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Cách dùng: chidao" in done.stderr and "Usage" not in done.stderr


def test_help_is_in_vietnamese_by_default_and_english_on_request(tmp_path: Path) -> None:
    vi = _chidao(tmp_path, "status", "--help")
    assert vi.returncode == 0
    assert "mã một văn bản (mặc định: mọi văn bản)" in vi.stdout
    assert "Tùy chọn" in vi.stdout and "Options" not in vi.stdout
    assert "Cách dùng: chidao status" in vi.stdout and "Usage" not in vi.stdout
    wrong = _chidao(tmp_path, "validate")  # cyclopts' own words for a usage error, translated
    assert wrong.returncode == 2
    assert "validate: thiếu tham số PATHS" in wrong.stderr and "requires" not in wrong.stderr
    launch = _chidao(tmp_path, "launch", "--help")
    assert "[bắt buộc]" in launch.stdout and "[chọn: current, summary, full]" in launch.stdout
    assert "[required]" not in launch.stdout and "choices" not in launch.stdout
    for en in (
        _chidao(tmp_path, "status", "--help", CHIDAO_LANG="en"),
        _chidao(tmp_path, "--lang", "en", "status", "--help"),
        _chidao(tmp_path, "status", "--help", "--lang=en"),
    ):
        assert en.returncode == 0
        assert "one directive's id (default: every directive)" in en.stdout
        assert "Tùy chọn" not in en.stdout and "Usage: chidao status" in en.stdout


def test_the_language_option_is_taken_anywhere_but_kept_for_preview() -> None:
    assert take_language(["--lang", "en", "status"]) == ("en", ["status"])
    assert take_language(["status", "--json", "--lang=vi"]) == ("vi", ["status", "--json"])
    assert take_language(["show", "--", "--lang"]) == (None, ["show", "--", "--lang"])
    preview = ["notifications", "preview", "d.yaml", "--lang", "en"]
    assert take_language(preview) == ("en", preview)


def test_every_registered_command_resolves_and_has_help(capsys: pytest.CaptureFixture[str]) -> None:
    from chidao.cli.app import COMMANDS, GROUPS

    for name, _target, _help in COMMANDS:
        assert main(["--lang", "en", name, "--help"]) == 0, name
        assert f"Usage: chidao {name}" in capsys.readouterr().out
    for group, _help, commands in GROUPS:
        for name, _target, _help in commands:
            assert main(["--lang", "en", group, name, "--help"]) == 0
            assert f"Usage: chidao {group} {name}" in capsys.readouterr().out
