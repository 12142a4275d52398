"""`chidao stats` over the 2810 and 5185 scenarios gives the counts the scenario files imply.

Every expected figure below is worked out by hand from flows/scenarios/*.yaml and the
definitions (due dates from `chidao show`), never computed by the code under test; the
comment beside each says how. Calendar: Nov–Dec 2021 and Dec 2023 hold no public holiday,
so working days are Monday–Friday.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

D2810, D5185 = "qn-2810-ubnd-kgvx-2023", "qn-5185-ubnd-kgvx-2021"


@pytest.fixture
def stats(cli: Any) -> Any:
    """`chidao stats ARGS…` over the scenarios' ledger: (exit status, stdout, stderr)."""
    return lambda *args: cli("stats", *args)


def _rows(out: str, kind: str = "reports") -> dict[str, dict[str, Any]]:
    return {row["key"]: row for row in json.loads(out)[kind]}


FOUR = ("completed_on_time", "completed_late", "open_within", "open_overdue")


def _four(row: dict[str, Any]) -> tuple[int, int, int, int]:
    return tuple(row[k] for k in FOUR)  # type: ignore[return-value]


def _late(row: dict[str, Any]) -> tuple[int, int]:
    """(calendar, working) days late, the most of the row's duties."""
    return row["max_days_late"], row["max_working_days_late"]


def test_2810_year_2023_per_agency(stats: Any) -> None:
    code, out, _ = stats("--directive", D2810, "--period", "2023", "--json")
    assert code == 0
    rows = _rows(out)
    # 16 tracked agencies (3 departments/associations + 13 districts), one duty each in cycle
    # 2023, due 30/11/2023; the period is past, so standings are as of 31/12/2023 24:00.
    # On time (reported on or before 30/11): so-gddt 10/11, so-ldtbxh 30/11 16:00, the 10
    # districts reporting 20–24/11, and hoi-khuyen-hoc-tinh (extension to 08/12 granted
    # 27/11, reported 07/12) = 13. Late: ubnd-son-ha (returned 29/11, re-reported 04/12) and
    # ubnd-ba-to (05/12) = 2. Open overdue: ubnd-ly-son (silent) = 1. Open within: 0.
    assert _four(rows["*"]) == (13, 2, 0, 1)
    assert rows["*"]["total"] == 16
    assert rows["*"]["on_time_rate"] == pytest.approx(13 / 16)
    for agency in ("so-gddt", "so-ldtbxh", "hoi-khuyen-hoc-tinh", "ubnd-tp-quang-ngai",
                   "ubnd-tx-duc-pho", "ubnd-binh-son", "ubnd-son-tinh", "ubnd-tu-nghia",
                   "ubnd-nghia-hanh", "ubnd-mo-duc", "ubnd-minh-long", "ubnd-son-tay",
                   "ubnd-tra-bong"):  # fmt: skip
        assert _four(rows[agency]) == (1, 0, 0, 0), agency
    assert _four(rows["ubnd-son-ha"]) == (0, 1, 0, 0)
    assert _four(rows["ubnd-ba-to"]) == (0, 1, 0, 0)
    assert _four(rows["ubnd-ly-son"]) == (0, 0, 0, 1)
    # days late: son-ha 30/11→04/12 = 4 days, working 01/12 (Fri), 04/12 (Mon) = 2;
    # ba-to 30/11→05/12 = 5 days, working 01, 04, 05/12 = 3;
    # ly-son still open 30/11→31/12 = 31 days, working = 1 (01/12) + 4 full weeks = 21.
    assert _late(rows["ubnd-son-ha"]) == (4, 2)
    assert _late(rows["ubnd-ba-to"]) == (5, 3)
    assert _late(rows["ubnd-ly-son"]) == (31, 21)
    # median of 4, 5, 31 = 5; of 2, 3, 21 = 3
    assert rows["*"]["median_days_late"] == 5 and rows["*"]["max_days_late"] == 31
    assert rows["*"]["median_working_days_late"] == 3 and rows["*"]["max_working_days_late"] == 21
    # one extension asked and granted (hoi-khuyen-hoc-tinh, 24/11 → 27/11)
    assert (rows["*"]["extensions_asked"], rows["*"]["extensions_granted"]) == (1, 1)
    assert (rows["hoi-khuyen-hoc-tinh"]["extensions_asked"],
            rows["hoi-khuyen-hoc-tinh"]["extensions_granted"]) == (1, 1)  # fmt: skip
    # the best first: rate 1.0 before rate 0
    assert list(rows)[-1] in ("ubnd-son-ha", "ubnd-ba-to", "ubnd-ly-son")
    # the consolidated report, apart: so-gddt, due 15/12/2023, submitted 14/12 = on time
    consolidated = _rows(out, "consolidated_reports")
    assert _four(consolidated["*"]) == (1, 0, 0, 0)
    assert _four(consolidated["so-gddt"]) == (1, 0, 0, 0)


def test_5185_year_2021_per_agency(stats: Any) -> None:
    code, out, _ = stats("--directive", D5185, "--from", "2021-01-01", "--to", "2021-12-31",
                         "--json")  # fmt: skip
    assert code == 0
    rows = _rows(out)
    # 26 tracked agencies (7 departments and press, 13 districts, 6 requested Front bodies),
    # cycle 2021 due 15/11/2021 (Mon); standings as of 31/12/2021 24:00.
    # On time: so-gddt 01/11, hoi-khuyen-hoc 02/11, so-ldtbxh 03/11, so-tai-chinh 04/11,
    # dai-ptth 08/11, bao-qn 09/11, tp-qn/duc-pho/binh-son 10/11, son-tinh/tu-nghia/nghia-hanh
    # 11/11, mo-duc/ba-to/minh-long/son-ha/tra-bong/hoi-lhpn 12/11, tinh-doan 15/11 09:00,
    # so-tttt (extension to 26/11, reported 24/11) = 6+3+3+6+1+1 = 20.
    # Late: ubnd-son-tay 22/11 = 1. Open overdue: ubnd-ly-son and ub-mttq-tinh (silent),
    # ldld-tinh, hoi-nong-dan-tinh, hoi-ccb-tinh (no step at all) = 5. 20+1+5 = 26.
    assert _four(rows["*"]) == (20, 1, 0, 5)
    assert rows["*"]["total"] == 26
    assert _four(rows["so-tttt"]) == (1, 0, 0, 0)
    assert _four(rows["tinh-doan"]) == (1, 0, 0, 0)
    assert _four(rows["ubnd-son-tay"]) == (0, 1, 0, 0)
    for agency in ("ubnd-ly-son", "ub-mttq-tinh", "ldld-tinh", "hoi-nong-dan-tinh", "hoi-ccb-tinh"):
        assert _four(rows[agency]) == (0, 0, 0, 1), agency
    # son-tay 15/11→22/11 = 7 days, working 16–19 and 22/11 = 5
    assert _late(rows["ubnd-son-tay"]) == (7, 5)  # fmt: skip
    # the open ones 15/11→31/12 = 15 + 31 = 46 days; working: 16–30/11 = 11, December = 23 → 34
    assert _late(rows["ldld-tinh"]) == (46, 34)
    # median of 7, 46×5 = 46
    assert rows["*"]["median_days_late"] == 46 and rows["*"]["max_days_late"] == 46
    # so-tttt asked on 05/11 and was granted on 08/11
    assert (rows["*"]["extensions_asked"], rows["*"]["extensions_granted"]) == (1, 1)
    # consolidated by so-gddt on 29/11/2021, due 30/11 = on time
    assert _four(_rows(out, "consolidated_reports")["so-gddt"]) == (1, 0, 0, 0)


def test_both_by_directive_and_month(stats: Any) -> None:
    code, out, _ = stats("--by", "directive", "--json")
    assert code == 0
    rows = _rows(out)
    # every period: 2810's cycle 2023 as above (13, 2, 0, 1); 5185's 2021 (20, 1, 0, 5); and
    # the cycles opened when each was consolidated (2810's 2024 due 02/12/2024, 5185's 2022 due
    # 15/11/2022) are judged now (2026, the clock): nobody reported, all open overdue:
    # 16 and 26 more.
    assert _four(rows[D2810]) == (13, 2, 0, 1 + 16)
    assert _four(rows[D5185]) == (20, 1, 0, 5 + 26)
    code, out, _ = stats("--by", "month", "--from", "2021-01-01", "--to", "2023-12-31", "--json")
    months = _rows(out)
    # 5185's 2021 duties fall due in 11/2021 (so-tttt's extension to 26/11 too), 2810's 2023
    # in 11/2023; 5185's 2022 cycle
    # (due 15/11/2022) is in this range too: all 26 open overdue as of 31/12/2023.
    assert _four(months["2021-11"]) == (20, 1, 0, 5)
    # hoi-khuyen-hoc-tinh's due moved to 08/12/2023 with its extension: it counts in 12/2023
    assert _four(months["2023-11"]) == (12, 2, 0, 1)
    assert _four(months["2023-12"]) == (1, 0, 0, 0)
    assert _four(months["2022-11"]) == (0, 0, 0, 26)


def test_the_current_period_is_judged_as_of_now(stats: Any) -> None:
    # 2810 on 01/12/2023 09:00, the period 2023 not over: son-ha's report was returned
    # (29/11) and not yet resent, ba-to and ly-son have not reported: 3 open overdue, each 1
    # day (and 1 working day, Fri 01/12) late; hoi-khuyen-hoc's due is 08/12 after its
    # extension: open within the deadline; the other 12 on time. The consolidated report
    # (due 15/12) is open within the deadline.
    code, out, _ = stats("--directive", D2810, "--period", "2023", "--as-of",
                         "2023-12-01T09:00:00+07:00", "--json")  # fmt: skip
    assert code == 0
    rows = _rows(out)
    assert _four(rows["*"]) == (12, 0, 1, 3)
    assert rows["*"]["max_days_late"] == 1 and rows["*"]["max_working_days_late"] == 1
    assert _four(_rows(out, "consolidated_reports")["*"]) == (0, 0, 1, 0)
    assert json.loads(out)["as_of"].startswith("2023-12-01T09:00:00")


def test_one_agency_table_and_csv(stats: Any) -> None:
    # Ba Tơ over every period: 2810's 2023 late (05/12), 5185's 2021 on time (12/11);
    # the 2024 and 2022 cycles open overdue now.
    code, out, _ = stats("--agency", "ubnd-ba-to", "--csv")
    assert code == 0
    table = list(csv.DictReader(io.StringIO(out)))
    total = next(r for r in table if r["duty"] == "reports" and r["key"] == "*")
    assert (total["completed_on_time"], total["completed_late"], total["open_within"],
            total["open_overdue"]) == ("1", "1", "0", "2")  # fmt: skip
    code, out, _ = stats("--directive", D2810, "--period", "2023")
    assert code == 0
    # Vietnamese by default: the agency's name with its diacritics, dates dd/mm/yyyy
    assert "Ủy ban nhân dân huyện Lý Sơn" in out or "Lý Sơn" in out
    assert "01/01/2023" in out and "31/12/2023" in out


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--period", "2024-13"], 2, "2024-13"),
        (["--period", "soon"], 2, "soon"),
        (["--from", "2024-02-30"], 2, "--from"),
        (["--from", "2024-03-01", "--to", "2024-01-01"], 2, "2024-01-01"),
        (["--directive", "qn-9999"], 1, "qn-9999"),
        (["--agency", "so-khong-co"], 1, "so-khong-co"),
    ],
)
def test_bad_input_is_a_clear_message(stats: Any, args: list[str], code: int, words: str) -> None:
    got, out, err = stats(*args)
    assert got == code
    assert words in err and "Traceback" not in err
    assert out == ""
