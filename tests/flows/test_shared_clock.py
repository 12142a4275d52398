"""The shared simulated clock: one business time for every process given its file."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

from chidao.settings import Settings
from flows.clock import ClockFileProblem, SharedClock, SystemClock

VN = dt.timezone(dt.timedelta(hours=7))
START = dt.datetime(2023, 6, 20, 10, 0, tzinfo=VN)


def test_it_starts_where_set_and_runs_at_the_real_pace(tmp_path: Path) -> None:
    clock = SharedClock(tmp_path / "clock.json")
    before = dt.datetime.now(dt.UTC)
    clock.set(START)
    after = dt.datetime.now(dt.UTC)
    shown, real = clock.now(), dt.datetime.now(dt.UTC)
    assert START <= shown <= START + (real - before)
    assert clock.now() >= shown  # it runs
    # the real moment a business time is reached, and back
    wake = dt.datetime(2023, 11, 16, 8, 0, tzinfo=VN)
    wall = clock.wall_time(wake)
    assert before + (wake - START) <= wall + dt.timedelta(microseconds=1)
    assert wall <= after + (wake - START)


def test_it_jumps_forward_never_back(tmp_path: Path) -> None:
    clock = SharedClock(tmp_path / "clock.json")
    clock.advance_to(START)
    later = START + dt.timedelta(days=164)
    clock.advance_to(later)
    assert clock.now() >= later
    clock.advance_to(START)  # the past: the clock keeps running where it is
    assert clock.now() >= later


def test_another_process_reads_the_same_time(tmp_path: Path) -> None:
    clock = SharedClock(tmp_path / "clock.json")
    clock.set(START)
    code = (
        "import sys; from pathlib import Path; from flows.clock import SharedClock; "
        "print(SharedClock(Path(sys.argv[1])).now().isoformat())"
    )
    seen = subprocess.run(
        [sys.executable, "-c", code, str(clock.path)], capture_output=True, text=True, check=True
    ).stdout.strip()
    other = dt.datetime.fromisoformat(seen)
    assert START <= other <= clock.now()


@pytest.mark.parametrize("content", ["", "{}", '{"business": "x", "wall": "y"}',
                                     '{"business": "2023-06-20T10:00:00", "wall": "2026-01-01T00:00:00"}'])
def test_a_file_without_a_clock_is_refused_by_name(tmp_path: Path, content: str) -> None:
    path = tmp_path / "clock.json"
    path.write_text(content)
    with pytest.raises(ClockFileProblem, match=r"clock\.json"):
        SharedClock(path).now()


def test_the_setting_chooses_the_clock(tmp_path: Path) -> None:
    assert isinstance(Settings(home=tmp_path).clock(), SystemClock)
    shared = Settings(home=tmp_path, clock_file=tmp_path / "clock.json").clock()
    assert isinstance(shared, SharedClock) and shared.path == tmp_path / "clock.json"
