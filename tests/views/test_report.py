"""`chidao report periodic`: the DOCX and XLSX open with python-docx and openpyxl and hold the
same four-way counts as `chidao stats --period` over the same ledger (the scenarios')."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from docx import Document
from openpyxl import load_workbook

FOUR = ("completed_on_time", "completed_late", "open_within", "open_overdue")



def _stats_by_name(cli: Any, period: str) -> dict[str, tuple[int, ...]]:
    """What `chidao stats` says, keyed by the agency's name as the report prints it."""
    code, out, _ = cli("stats", "--period", period, "--json")
    assert code == 0
    names: dict[str, str] = {}
    for directive in ("qn-2810-ubnd-kgvx-2023", "qn-5185-ubnd-kgvx-2021"):
        code, shown, _ = cli("status", directive, "--json")
        names.update({a["agency"]: a["name"] for a in json.loads(shown)["agencies"]})
    return {
        ("tất cả" if r["key"] == "*" else names[r["key"]]): tuple(r[k] for k in FOUR)
        for r in json.loads(out)["reports"]
    }


def _counts(rows: list[list[Any]]) -> dict[str, tuple[int, ...]]:
    return {str(r[0]): tuple(int(v) for v in r[1:5]) for r in rows}


def test_docx_and_xlsx_hold_the_counts_of_stats(cli: Any, tmp_path: Path) -> None:
    expected = _stats_by_name(cli, "2023")
    # by hand (see test_stats): 2810's cycle 2023 is the only one due in 2023: 13, 2, 0, 1
    assert expected["tất cả"] == (13, 2, 0, 1)
    docx_path, xlsx_path = tmp_path / "bc.docx", tmp_path / "bc.xlsx"
    assert cli("report", "periodic", "--period", "2023", "-o", str(docx_path))[0] == 0
    assert cli("report", "periodic", "--period", "2023", "-o", str(xlsx_path))[0] == 0

    document = Document(str(docx_path))
    text = "\n".join(p.text for p in document.paragraphs)
    assert "BÁO CÁO" in text and "31/12/2023" in text
    agencies = document.tables[1]  # after the title block
    rows = [[c.text for c in row.cells] for row in agencies.rows]
    assert rows[0][1] == "đúng hạn"
    assert _counts(rows[1:]) == expected
    overdue = [[c.text for c in row.cells] for row in document.tables[3].rows][1:]
    # Lý Sơn never reported: 30/11 → 31/12/2023 = 31 days, 21 working days
    assert [(r[1], r[2], r[3], r[4]) for r in overdue] == [
        ("Ủy ban nhân dân huyện Lý Sơn", "30/11/2023", "31", "21")
    ]

    book = load_workbook(str(xlsx_path))
    sheet = book[book.sheetnames[0]]
    values = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert values[2][1] == "đúng hạn"
    assert _counts(values[3:]) == expected
    consolidated = [list(r) for r in book[book.sheetnames[1]].iter_rows(values_only=True)][3:]
    # so-gddt consolidated on 14/12/2023, due 15/12: on time
    assert _counts(consolidated)["tất cả"] == (1, 0, 0, 0)


def test_html_is_self_contained(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "bc.html"
    assert cli("report", "periodic", "--period", "2021-Q4", "-o", str(path))[0] == 0
    page = path.read_text(encoding="utf-8")
    assert "Ủy ban nhân dân huyện Sơn Tây" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--period", "2024-Q5", "-o", "x.docx"], "2024-Q5"),
        (["--period", "2024", "-o", "x.odt"], "x.odt"),
    ],
)
def test_bad_input_writes_nothing(cli: Any, tmp_path: Path, args: list[str], words: str) -> None:
    args = [str(tmp_path / a) if a.startswith("x.") else a for a in args]
    code, out, err = cli("report", "periodic", *args)
    assert code == 2 and words in err and "Traceback" not in err and out == ""
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("x.")]
