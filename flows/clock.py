"""The one place the real clock is read; the simulator replaces it with one it moves itself.

`SharedClock` is a simulated clock several processes read at once (the webhooks, the
workers' flow runs, the sweeper, a test or simulation that drives them): a file holding a
business time and the real time it was set at. It runs at the real pace from there, and
the one who drives it jumps it forward (`advance_to`); `wall_time` maps a business moment
back to the real moment the clock reaches it, which is when a wake-up must be scheduled.
`clock_of(path)` is the clock a process uses: the shared one when CHIDAO_CLOCK_FILE names
it, else the system clock.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> dt.datetime: ...


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def wall_time(self, moment: dt.datetime) -> dt.datetime:
        """The real moment this clock shows `moment`: the same one."""
        return moment


class SimulatedClock:
    """A clock that stands still until the simulator moves it; it never goes backwards."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("the simulated clock needs a timezone-aware start")
        self._now = start

    def now(self) -> dt.datetime:
        return self._now

    def advance_to(self, moment: dt.datetime) -> None:
        self._now = max(self._now, moment)


class ClockFileProblem(Exception):
    """The shared clock's file is missing or does not hold a clock."""


class SharedClock:
    """A business clock kept in a file, read by every process that is given the file.

    The file is JSON, `{"business": ISO 8601, "wall": ISO 8601}`: the business time the clock
    showed at the real time `wall`. It is rewritten atomically (temporary file, rename), so a
    reader sees the old clock or the new one, never half of one.
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> tuple[dt.datetime, dt.datetime]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            business = dt.datetime.fromisoformat(data["business"])
            wall = dt.datetime.fromisoformat(data["wall"])
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ClockFileProblem(f"the clock file {self.path} holds no clock: {e}") from e
        if business.tzinfo is None or wall.tzinfo is None:
            raise ClockFileProblem(f"the clock file {self.path}: times need their offset")
        return business, wall

    def offset(self) -> dt.timedelta:
        """Business time less real time."""
        business, wall = self._read()
        return business - wall

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self.offset()

    def wall_time(self, moment: dt.datetime) -> dt.datetime:
        return (moment - self.offset()).astimezone(dt.UTC)

    def set(self, moment: dt.datetime) -> None:
        """Start the clock at `moment` now (a new clock, or one set anew)."""
        if moment.tzinfo is None:
            raise ValueError("the shared clock needs a timezone-aware time")
        data = {"business": moment.isoformat(), "wall": dt.datetime.now(dt.UTC).isoformat()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".clock-")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)

    def advance_to(self, moment: dt.datetime) -> None:
        """Jump forward to `moment`; never back (a moment already passed leaves it running)."""
        if not self.path.exists() or moment > self.now():
            self.set(moment)


def clock_of(path: Path | None) -> SystemClock | SharedClock:
    """The shared clock in `path` (CHIDAO_CLOCK_FILE), or the system clock."""
    return SharedClock(path) if path is not None else SystemClock()
