"""Vietnam's holidays load without the other 250 countries, and are the same holidays."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import datetime as dt, sys
from definitions.calendar import default_calendar
cal = default_calendar()
days = [dt.date(2020, 1, 1) + dt.timedelta(days=n) for n in range(11 * 366)]
mine = {d: cal.holiday_name(d) for d in days}
loaded = [m for m in sys.modules if m.startswith("holidays.countries.")]
import holidays
theirs = holidays.country_holidays("VN", years=range(2020, 2032))
same = all(mine[d] == theirs.get(d) for d in days)
print(sorted(loaded), same, sum(1 for v in mine.values() if v))
"""


def test_only_vietnam_is_loaded_and_its_holidays_are_the_packages() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                          cwd=ROOT, timeout=120, check=True)  # fmt: skip
    loaded, same, count = done.stdout.rsplit(" ", 2)
    assert loaded == "['holidays.countries.vietnam']"
    assert same == "True"
    assert int(count) > 100  # about a dozen days off a year
