"""`chidao import A B C -o FOLDER`: one draft per file, a bad file named, the others written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).parent / "fixtures"


def _import(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "chidao.cli", "import", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_several_files_go_to_a_folder_and_a_bad_one_does_not_stop_the_rest(tmp_path: Path) -> None:
    texts = sorted(FIXTURES.glob("*.txt"))
    assert len(texts) >= 3
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    out = tmp_path / "drafts"
    run = _import(*map(str, texts), str(empty), "-o", str(out))
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert f"{empty}:" in run.stderr  # the file that failed is named
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(f"{p.stem}.yaml" for p in texts)
    assert all((out / n).read_text(encoding="utf-8").startswith("# Draft") for n in written)
    assert f"{len(texts)}/{len(texts) + 1}" in run.stderr or f"{len(texts)} of" in run.stderr


def test_several_files_without_a_folder_is_a_usage_error(tmp_path: Path) -> None:
    texts = sorted(FIXTURES.glob("*.txt"))[:2]
    run = _import(*map(str, texts))
    assert run.returncode == 2 and "-o" in run.stderr and run.stdout == ""
