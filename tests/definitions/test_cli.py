"""`chidao validate`, `chidao show --json` and `chidao schema` on the definitions in the repo."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chidao.cli import main
from definitions.calendar import default_calendar

ROOT = Path(__file__).resolve().parents[2]
DIRECTIVES = ROOT / "definitions" / "directives"
D2810 = DIRECTIVES / "qn-2810-ubnd-kgvx-2023.yaml"
D5185 = DIRECTIVES / "qn-5185-ubnd-kgvx-2021.yaml"
DISTRICTS = {
    "ubnd-tp-quang-ngai", "ubnd-tx-duc-pho", "ubnd-binh-son", "ubnd-son-tinh", "ubnd-tu-nghia",
    "ubnd-nghia-hanh", "ubnd-mo-duc", "ubnd-ba-to", "ubnd-minh-long", "ubnd-son-ha",
    "ubnd-son-tay", "ubnd-tra-bong", "ubnd-ly-son",
}  # fmt: skip
FRONT = {
    "ub-mttq-tinh",
    "ldld-tinh",
    "tinh-doan",
    "hoi-lhpn-tinh",
    "hoi-nong-dan-tinh",
    "hoi-ccb-tinh",
}


def _show(capsys: pytest.CaptureFixture[str], path: Path) -> dict[str, Any]:
    assert main(["show", str(path), "--json"]) == 0
    out = capsys.readouterr().out
    result: dict[str, Any] = json.loads(out)
    return result


# --- validate ---------------------------------------------------------------------------


def test_validate_every_definition_in_the_repo(capsys: pytest.CaptureFixture[str]) -> None:
    paths = sorted(DIRECTIVES.glob("*.yaml"))
    assert len(paths) >= 2
    assert main(["validate", *map(str, paths)]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out.count(": hợp lệ") == len(paths)  # Vietnamese, the default


def test_validate_a_folder(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", str(DIRECTIVES)]) == 0
    assert capsys.readouterr().out.count(": hợp lệ") == len(list(DIRECTIVES.glob("*.yaml")))


def test_validate_as_a_subprocess() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "chidao.cli", "validate", str(D2810), str(D5185)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    assert result.returncode == 0, result.stderr
    assert "qn-2810-ubnd-kgvx-2023.yaml: hợp lệ" in result.stdout
    assert "qn-5185-ubnd-kgvx-2021.yaml: hợp lệ" in result.stdout


def test_validate_as_a_subprocess_reports_problems_without_a_traceback() -> None:
    bad = Path(__file__).parent / "invalid" / "several-checks.yaml"
    result = subprocess.run(
        [sys.executable, "-m", "chidao.cli", "validate", str(D2810), str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "did you mean 'so-gddt'?" in result.stderr
    assert "1/2 định nghĩa không hợp lệ" in result.stderr


# --- show 2810 --------------------------------------------------------------------------


def test_show_2810_tracks_16_agencies(capsys: pytest.CaptureFixture[str]) -> None:
    shown = _show(capsys, D2810)
    assert shown["reference"] == "2810/UBND-KGVX"
    assert shown["issued_on"] == "2023-06-20"
    tracked = {a["id"]: a for a in shown["tracked_agencies"]}
    assert len(shown["tracked_agencies"]) == 16 == len(tracked)
    assert set(tracked) == {"so-gddt", "so-ldtbxh", "hoi-khuyen-hoc-tinh"} | DISTRICTS
    assert all(a["role"] == "lead" and a["reports"] for a in tracked.values())
    assert tracked["so-gddt"]["sections"] == [1]
    assert [i["id"] for i in tracked["so-gddt"]["items"]] == ["1a", "1b", "1c"]
    assert tracked["so-gddt"]["items"][1]["coordinate_with"] == ["hoi-khuyen-hoc-tinh"]
    assert tracked["so-ldtbxh"]["sections"] == [2]
    assert [i["id"] for i in tracked["so-ldtbxh"]["items"]] == ["2"]  # a section with no letters
    assert [i["id"] for i in tracked["hoi-khuyen-hoc-tinh"]["items"]] == ["3a", "3b", "3c"]
    assert tracked["hoi-khuyen-hoc-tinh"]["items"][1]["coordinate_with"] == [
        "so-gddt", "so-vhttdl", "so-noi-vu",
    ]  # fmt: skip
    for district in DISTRICTS:
        assert tracked[district]["sections"] == [4]
        assert [i["id"] for i in tracked[district]["items"]] == ["4a", "4b", "4c", "4d"]
        assert tracked[district]["answers_to"] == "ubnd-tinh"
    assert shown["reporting"]["to"] == "so-gddt"
    assert shown["reporting"]["source"] == "document"
    assert set(shown["reporting"]["operator_set"]) == {"last_cycle"}
    assert shown["consolidation"] == {"by": "so-gddt", "to": "ubnd-tinh", "source": "document"}


def test_show_2810_cycles_2023_to_2030(capsys: pytest.CaptureFixture[str]) -> None:
    cycles = _show(capsys, D2810)["cycles"]
    assert [c["id"] for c in cycles] == [str(y) for y in range(2023, 2031)]
    calendar = default_calendar()
    for cycle in cycles:
        year = int(cycle["id"])
        assert cycle["report_due_stated"] == f"{year}-11-30"
        assert cycle["consolidation_due_stated"] == f"{year}-12-15"
        for stated, effective in (
            (dt.date(year, 11, 30), cycle["report_due"]),
            (dt.date(year, 12, 15), cycle["consolidation_due"]),
        ):
            moved = dt.date.fromisoformat(effective)
            assert moved >= stated
            assert calendar.is_working_day(moved)
            if calendar.is_working_day(stated):
                assert moved == stated
            else:  # the next working day, and no later
                assert all(
                    not calendar.is_working_day(stated + dt.timedelta(days=n))
                    for n in range((moved - stated).days)
                )


def test_show_2810_deadlines_checked_by_hand(capsys: pytest.CaptureFixture[str]) -> None:
    cycles = {c["id"]: c for c in _show(capsys, D2810)["cycles"]}
    # 30/11/2023 is a Thursday, 15/12/2023 a Friday: nothing moves
    assert (cycles["2023"]["report_due"], cycles["2023"]["consolidation_due"]) == (
        "2023-11-30",
        "2023-12-15",
    )
    # 30/11/2024 is a Saturday → Monday 2/12; 15/12/2024 a Sunday → Monday 16/12
    assert cycles["2024"]["report_due"] == "2024-12-02"
    assert cycles["2024"]["consolidation_due"] == "2024-12-16"
    # 30/11/2025 is a Sunday → Monday 1/12; 15/12/2025 a Monday
    assert cycles["2025"]["report_due"] == "2025-12-01"
    assert cycles["2025"]["consolidation_due"] == "2025-12-15"
    # 15/12/2029 is a Saturday → Monday 17/12
    assert cycles["2029"]["consolidation_due"] == "2029-12-17"
    assert cycles["2030"]["period"] == ["2030-01-01", "2030-12-31"]


# --- show 5185 --------------------------------------------------------------------------


def test_show_5185_tracks_26_agencies_with_the_front_requested(
    capsys: pytest.CaptureFixture[str],
) -> None:
    shown = _show(capsys, D5185)
    tracked = {a["id"]: a for a in shown["tracked_agencies"]}
    assert len(shown["tracked_agencies"]) == 26 == len(tracked)
    requested = {agency for agency, a in tracked.items() if a["role"] == "requested"}
    assert requested == FRONT
    for agency in FRONT:
        assert tracked[agency]["sections"] == [8]
        assert [i["id"] for i in tracked[agency]["items"]] == ["8a", "8b"]
    assert DISTRICTS <= set(tracked)
    assert {"so-gddt", "hoi-khuyen-hoc-tinh", "so-ldtbxh", "so-tttt", "so-tai-chinh"} <= set(
        tracked
    )
    # the joint section 6: radio-television and the newspaper, each tracked on its own
    assert (
        tracked["dai-ptth-quang-ngai"]["sections"] == tracked["bao-quang-ngai"]["sections"] == [6]
    )
    assert tracked["dai-ptth-quang-ngai"]["role"] == tracked["bao-quang-ngai"]["role"] == "lead"
    # 1đ) comes between 1d) and 2a)
    assert [i["id"] for i in tracked["so-gddt"]["items"]] == ["1a", "1b", "1c", "1d", "1đ"]
    # a coordinate_with group is expanded to its members
    assert set(DISTRICTS) <= set(tracked["so-gddt"]["items"][2]["coordinate_with"])
    assert shown["reporting"]["source"] == "operator"
    assert shown["consolidation"]["source"] == "operator"


def test_show_text_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["show", str(D2810)]) == 0
    out = capsys.readouterr().out
    assert "16 cơ quan được theo dõi" in out
    assert "02/12/2024*" in out


def test_show_an_invalid_definition_fails_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    bad = Path(__file__).parent / "invalid" / "unknown-agency.yaml"
    assert main(["show", str(bad), "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "unknown agency 'so-gdt'" in captured.err


# --- schema -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "committed"),
    [([], "directive.schema.json"), (["--directory"], "directory.schema.json")],
)
def test_schema_output_equals_the_committed_file(
    capsys: pytest.CaptureFixture[str], args: list[str], committed: str
) -> None:
    assert main(["schema", *args]) == 0
    printed = capsys.readouterr().out
    on_disk = (ROOT / "definitions" / committed).read_text(encoding="utf-8")
    assert json.loads(printed) == json.loads(on_disk), (
        f"definitions/{committed} is stale: regenerate it with "
        f"`chidao schema {' '.join(args)} > definitions/{committed}`"
    )
    assert printed == on_disk


@pytest.mark.parametrize(
    "path",
    [
        *sorted(DIRECTIVES.glob("*.yaml")),
        *sorted((ROOT / "definitions" / "agencies").glob("*.yaml")),
    ],
    ids=lambda p: p.name,
)
def test_definition_files_point_editors_at_the_schema(path: Path) -> None:
    first = path.read_text(encoding="utf-8").splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix)
    target = (path.parent / first[len(prefix) :].strip()).resolve()
    assert target.is_file()
    expected = (
        "directory.schema.json" if path.parent.name == "agencies" else "directive.schema.json"
    )
    assert target.name == expected
    assert target.parent == ROOT / "definitions"
