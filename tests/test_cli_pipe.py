"""`chidao show … | head`: a reader that goes away stops the command quietly, no traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chidao.cli import EXIT_BROKEN_PIPE

ROOT = Path(__file__).resolve().parents[1]
D2810 = ROOT / "definitions" / "directives" / "qn-2810-ubnd-kgvx-2023.yaml"


def _closed_reader(*args: str) -> subprocess.CompletedProcess[bytes]:
    """Run `chidao ARGS` with a stdout pipe whose reader is gone before anything is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # like `| head` having exited: every write fails with EPIPE
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "chidao.cli", *args],
            stdout=write_end,
            stderr=subprocess.PIPE,
            cwd=ROOT,
            timeout=120,
            check=False,
        )
    finally:
        os.close(write_end)
    return proc


@pytest.mark.parametrize("extra", [[], ["--json"]])
def test_show_into_a_closed_pipe_is_quiet(extra: list[str]) -> None:
    proc = _closed_reader("show", str(D2810), *extra)
    stderr = proc.stderr.decode("utf-8", "replace")
    assert "Traceback" not in stderr and "BrokenPipeError" not in stderr, stderr
    assert "Exception ignored" not in stderr, stderr
    assert proc.returncode == EXIT_BROKEN_PIPE


def test_show_into_head_prints_the_first_lines(tmp_path: Path) -> None:
    """A reader that takes a line and leaves: the line arrives, and stderr stays empty."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "chidao.cli", "show", str(D2810), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    stderr = proc.stderr.read().decode("utf-8", "replace")
    proc.stderr.close()
    status = proc.wait(timeout=120)
    assert first.strip() == b"{"
    assert "Traceback" not in stderr, stderr
    assert status in (0, EXIT_BROKEN_PIPE)
