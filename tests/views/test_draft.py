"""`chidao report draft` and `chidao timeline` over the scenarios' ledger: the draft read back
with python-docx holds the agencies' reports grouped by section and the agencies that did not
report; the timeline is self-contained and marks what the scenario did."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from docx import Document

D2810 = "qn-2810-ubnd-kgvx-2023"
# the day before Sở GD&ĐT consolidated (14/12/2023): every report but Lý Sơn's is in
BEFORE = "2023-12-13T12:00:00+07:00"


def test_the_draft_holds_the_reports_and_the_agencies_that_did_not_report(
    cli: Any, tmp_path: Path
) -> None:
    path = tmp_path / "draft.docx"
    code, _out, err = cli("report", "draft", D2810, "--cycle", "2023", "--as-of", BEFORE, "-o", str(path))
    assert code == 0, err
    assert not (tmp_path / "draft.docx.part").exists()
    document = Document(str(path))
    text = "\n".join(p.text for p in document.paragraphs)
    # the Decree 30 title block and title
    top = document.tables[0].rows[0].cells
    assert "SỞ GIÁO DỤC VÀ ĐÀO TẠO" in top[0].text and "Số:" in top[0].text
    assert "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM" in top[1].text
    assert "BÁO CÁO" in text
    assert "Kết quả thực hiện Công văn số 2810/UBND-KGVX ngày 20/06/2023" in text
    # the agencies' reports, in the scenario's words, under the sections of the directive
    assert "Báo cáo kết quả năm 2023 của Sở Giáo dục và Đào tạo." in text
    assert "Báo cáo (muộn)." in text  # Ba Tơ
    assert "Báo cáo bổ sung." in text and "Báo cáo sơ bộ." not in text  # Sơn Hà's second stands
    sections = [p.text for p in document.paragraphs if p.style.name == "Heading 3"]
    assert sections[0].startswith("1. ") and len(sections) >= 4
    # Lý Sơn never reported: listed, 13 days after 30/11/2023 (as of 13/12)
    missing = text.split("Các cơ quan chưa báo cáo", 1)[1]
    assert "Ủy ban nhân dân huyện Lý Sơn" in missing and "13 ngày" in missing
    assert "Ủy ban nhân dân huyện Ba Tơ" not in missing
    # the cycle's four-way count: 2810's 2023 cycle as of 13/12: 13 on time, 2 late (Ba Tơ on
    # 05/12, Sơn Hà's accepted-after-return report on 04/12), 0 within, 1 overdue (Lý Sơn)
    figures = [[c.text for c in row.cells] for row in document.tables[1].rows]
    assert figures[1] == ["16", "13", "2", "0", "1"]
    # timeliness: Ba Tơ reported 05/12 for 30/11: 5 days late
    late = {r.cells[0].text: r.cells[3].text for r in document.tables[2].rows[1:]}
    assert late["Ủy ban nhân dân huyện Ba Tơ"] == "5"


def test_the_draft_as_html_is_self_contained(cli: Any, tmp_path: Path) -> None:
    path = tmp_path / "draft.html"
    assert cli("report", "draft", D2810, "--cycle", "2023", "--as-of", BEFORE, "-o", str(path))[0] == 0
    page = path.read_text(encoding="utf-8")
    assert "BÁO CÁO" in page and "Ủy ban nhân dân huyện Lý Sơn" in page
    assert not re.search(r"https?://|<script|<link|src=", page)


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        ([D2810, "--cycle", "2031", "-o", "x.docx"], 1, "2031"),
        (["no-such-directive", "--cycle", "2023", "-o", "x.docx"], 1, "no-such-directive"),
        ([D2810, "--cycle", "2023", "-o", "x.odt"], 2, "x.odt"),
    ],
)
def test_draft_bad_input_writes_nothing(
    cli: Any, tmp_path: Path, args: list[str], code: int, words: str
) -> None:
    args = [str(tmp_path / a) if a.startswith("x.") else a for a in args]
    found, _out, err = cli("report", "draft", *args)
    assert found == code and words in err and "Traceback" not in err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("x.")]


def test_the_timeline_marks_what_happened(cli: Any, tmp_path: Path) -> None:
    svg_path, html_path = tmp_path / "t.svg", tmp_path / "t.html"
    as_of = "2024-01-05T12:00:00+07:00"
    assert cli("timeline", D2810, "--as-of", as_of, "-o", str(svg_path))[0] == 0
    assert cli("timeline", D2810, "--as-of", as_of, "-o", str(html_path))[0] == 0
    svg = svg_path.read_text(encoding="utf-8")
    assert svg.startswith("<svg") and "Công văn" in svg
    bars = re.findall(r'<g class="bar" data-agency="([^"]+)" data-cycle="([^"]+)">', svg)
    assert ("ubnd-ly-son", "2023") in bars and ("so-gddt", "2023") in bars
    # the Hội Khuyến học's extension (asked 24/11, granted 27/11 to 08/12)
    hoi = _row(svg, "hoi-khuyen-hoc-tinh", "2023")
    assert "mark extension_asked" in hoi and "mark extension_granted" in hoi and "08/12/2023" in hoi
    # Lý Sơn never reported: reminders, escalations and a late span after 30/11
    ly_son = _row(svg, "ubnd-ly-son", "2023")
    assert "mark reminder" in ly_son and "mark escalation" in ly_son and 'class="late"' in ly_son
    # Ba Tơ: late; so-gddt: on time (no late span)
    assert 'class="late"' in _row(svg, "ubnd-ba-to", "2023")
    assert 'class="late"' not in _row(svg, "so-gddt", "2023")
    page = html_path.read_text(encoding="utf-8")
    assert "<svg" in page and not re.search(r"https?://(?!www\.w3\.org/2000/svg)|<script", page)


def _row(svg: str, agency: str, cycle: str) -> str:
    start = svg.index(f'<g class="bar" data-agency="{agency}" data-cycle="{cycle}">')
    return svg[start : svg.index("</g>", start)]


def test_timeline_of_an_unknown_directive(cli: Any, tmp_path: Path) -> None:
    code, _out, err = cli("timeline", "nope", "-o", str(tmp_path / "x.svg"))
    assert code == 1 and "nope" in err and "Traceback" not in err


@pytest.mark.skipif(not Path("/usr/bin/chromium").exists(), reason="Debian's chromium is not installed")
def test_pdf_through_chromium(cli: Any, tmp_path: Path) -> None:
    pytest.importorskip("playwright.sync_api")
    from pypdf import PdfReader

    path = tmp_path / "draft.pdf"
    code, _out, err = cli("report", "draft", D2810, "--cycle", "2023", "--as-of", BEFORE, "-o", str(path))
    assert code == 0, err
    # pypdf puts spaces between some glyphs of Vietnamese text: compared without any
    text = "".join("".join(p.extract_text() for p in PdfReader(str(path)).pages).split())
    assert "BÁOCÁO" in text and "LýSơn" in text and "Cáccơquanchưabáocáo" in text
    periodic = tmp_path / "periodic.pdf"
    assert cli("report", "periodic", "--period", "2023", "-o", str(periodic))[0] == 0
    assert PdfReader(str(periodic)).pages
    timeline = tmp_path / "timeline.pdf"
    assert cli("timeline", D2810, "--as-of", BEFORE, "-o", str(timeline))[0] == 0
    assert PdfReader(str(timeline)).pages


def test_pdf_without_chromium_says_what_is_missing(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import chidao.pdf

    monkeypatch.setattr(chidao.pdf, "CHROMIUM", tmp_path / "no-chromium")
    monkeypatch.setattr(chidao.pdf.shutil, "which", lambda _name: None)
    path = tmp_path / "x.pdf"
    code, _out, err = cli("report", "draft", D2810, "--cycle", "2023", "-o", str(path))
    assert code == 1 and "chromium" in err and "Traceback" not in err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("x.")]


def test_a_hand_over_is_marked_on_both_bars(scenario_ledger: str) -> None:
    import datetime as dt

    from chidao.timeline import build, render_svg
    from definitions.calendar import TIMEZONE
    from ledger.directives import to_event
    from lifecycle.events import WorkTransferred
    from tasks.runtime import directives_for

    directives = directives_for(scenario_ledger)
    state = directives.state(D2810)
    events = [to_event(e) for e in directives.events(D2810)]
    moment = dt.datetime(2023, 12, 1, 9, tzinfo=TIMEZONE)
    # the drawing is pure: a hand-over is given to it as the amendment would record it
    handover = WorkTransferred(
        at=moment,
        actor="operator:vp",
        agency="ubnd-ly-son",
        to="ubnd-son-ha",
        basis="Nghị quyết sắp xếp",
        decided_by="Văn phòng UBND tỉnh",
    )
    events.append(handover)
    svg = render_svg(build(state, events, moment + dt.timedelta(days=30)))
    assert "chuyển giao cho Ủy ban nhân dân huyện Sơn Hà" in _row(svg, "ubnd-ly-son", "2023")
    assert "kế thừa nhiệm vụ của Ủy ban nhân dân huyện Lý Sơn" in _row(svg, "ubnd-son-ha", "2023")
