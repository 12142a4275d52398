"""Imports point one way, from the faces down to the pure core.

`i18n` (the catalogue and the times people read) is at the very bottom: it imports nothing of
the project. The core (definitions, lifecycle) imports no Prefect, SQLAlchemy or FastAPI; no lower layer
imports the faces (`chidao`). The flows are Prefect's entry points and read their settings
at that edge, so `chidao.settings` is the one face module they may import.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXTERNAL_FACES = ("prefect", "fastapi", "uvicorn", "starlette")

PROJECT = ("definitions", "lifecycle", "ledger", "notifications", "tasks", "flows", "chidao",
           "importer")  # fmt: skip

FORBIDDEN: dict[str, tuple[str, ...]] = {
    # the words and times people read: below everything, importing nothing of the project
    "i18n": (*PROJECT, "sqlalchemy", "pydantic", "yaml", "jinja2", *EXTERNAL_FACES),
    "definitions": (
        "lifecycle",
        "ledger",
        "notifications",
        "tasks",
        "flows",
        "chidao",
        "importer",
        "sqlalchemy",
        *EXTERNAL_FACES,
    ),
    "lifecycle": (
        "ledger",
        "notifications",
        "tasks",
        "flows",
        "chidao",
        "importer",
        "sqlalchemy",
        "yaml",
        *EXTERNAL_FACES,
    ),
    "ledger": ("notifications", "tasks", "flows", "chidao", "importer", *EXTERNAL_FACES),
    "notifications": ("tasks", "flows", "chidao", "importer", *EXTERNAL_FACES),
    "importer": (
        "lifecycle",
        "ledger",
        "notifications",
        "tasks",
        "flows",
        "chidao",
        "sqlalchemy",
        *EXTERNAL_FACES,
    ),
    "tasks": ("flows", "chidao", "fastapi"),
    "flows": ("chidao.cli", "chidao.webhook", "fastapi"),
}


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_imports_point_down(package: str) -> None:
    wrong = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, module in _imports(path):
            for banned in FORBIDDEN[package]:
                if module == banned or module.startswith(banned + "."):
                    wrong.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not wrong, "\n".join(wrong)
