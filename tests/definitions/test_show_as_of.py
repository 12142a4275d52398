"""`chidao show 2810 --as-of DATE --json`: the district group resolved to the agencies standing
on that date, written out in full: the 13 district committees until 30/6/2025, the 56
commune-level committees that cover their former territory from 1/7/2025 (none of the former
Kon Tum's, which 2810 never addressed)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chidao.cli import main

DISTRICTS = [
    "ubnd-tp-quang-ngai", "ubnd-tx-duc-pho", "ubnd-binh-son", "ubnd-son-tinh", "ubnd-tu-nghia",
    "ubnd-nghia-hanh", "ubnd-mo-duc", "ubnd-ba-to", "ubnd-minh-long", "ubnd-son-ha",
    "ubnd-son-tay", "ubnd-tra-bong", "ubnd-ly-son",
]  # fmt: skip
SUCCESSORS = [
    "ubnd-phuong-cam-thanh", "ubnd-phuong-nghia-lo", "ubnd-xa-an-phu", "ubnd-xa-dong-son",
    "ubnd-phuong-truong-quang-trong", "ubnd-xa-tinh-khe", "ubnd-phuong-duc-pho",
    "ubnd-phuong-tra-cau", "ubnd-xa-nguyen-nghiem", "ubnd-xa-khanh-cuong", "ubnd-phuong-sa-huynh",
    "ubnd-xa-binh-son", "ubnd-xa-van-tuong", "ubnd-xa-binh-minh", "ubnd-xa-binh-chuong",
    "ubnd-xa-tho-phong", "ubnd-xa-truong-giang", "ubnd-xa-ba-gia", "ubnd-xa-son-tinh",
    "ubnd-xa-tu-nghia", "ubnd-xa-ve-giang", "ubnd-xa-tra-giang", "ubnd-xa-nghia-giang",
    "ubnd-xa-nghia-hanh", "ubnd-xa-phuoc-giang", "ubnd-xa-dinh-cuong", "ubnd-xa-thien-tin",
    "ubnd-xa-mo-duc", "ubnd-xa-long-phung", "ubnd-xa-mo-cay", "ubnd-xa-lan-phong",
    "ubnd-xa-ba-to-21484", "ubnd-xa-ba-vinh", "ubnd-xa-ba-dong", "ubnd-xa-ba-dinh",
    "ubnd-xa-dang-thuy-tram", "ubnd-xa-ba-to-21523", "ubnd-xa-ba-vi", "ubnd-xa-ba-xa",
    "ubnd-xa-son-mai", "ubnd-xa-minh-long", "ubnd-xa-son-ha-21289", "ubnd-xa-son-ha-21292",
    "ubnd-xa-son-linh", "ubnd-xa-son-thuy", "ubnd-xa-son-ky", "ubnd-xa-son-tay-thuong",
    "ubnd-xa-son-tay", "ubnd-xa-son-tay-ha", "ubnd-xa-tra-bong", "ubnd-xa-thanh-bong",
    "ubnd-xa-dong-tra-bong", "ubnd-xa-ca-dam", "ubnd-xa-tay-tra", "ubnd-xa-tay-tra-bong",
    "ubnd-dac-khu-ly-son",
]  # fmt: skip


def _group(capsys: pytest.CaptureFixture[str], day: str) -> tuple[list[str], dict[str, Any]]:
    assert main(["show", "2810", "--as-of", day, "--json"]) == 0
    shown: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert shown["as_of"] == day
    group = next(r for r in shown["recipients"] if r["agency"] == "ubnd-cap-huyen")
    return group["members"], {a["id"]: a for a in shown["tracked_agencies"]}


def test_as_of_2025_12_01_the_group_is_the_successors_standing_then(
    capsys: pytest.CaptureFixture[str],
) -> None:
    members, tracked = _group(capsys, "2025-12-01")
    assert members == SUCCESSORS
    assert [a for a in tracked if a.startswith("ubnd-")] == SUCCESSORS
    assert tracked["ubnd-xa-dong-son"]["succeeds"] == ["ubnd-tp-quang-ngai", "ubnd-binh-son"]
    assert tracked["ubnd-dac-khu-ly-son"]["succeeds"] == ["ubnd-ly-son"]
    assert all(tracked[a]["valid_from"] == "2025-07-01" for a in SUCCESSORS)


def test_as_of_2024_12_01_the_group_is_the_13_district_committees(
    capsys: pytest.CaptureFixture[str],
) -> None:
    members, tracked = _group(capsys, "2024-12-01")
    assert members == DISTRICTS
    assert [a for a in tracked if a.startswith("ubnd-")] == DISTRICTS
    assert all(tracked[a]["succeeds"] == [] for a in DISTRICTS)


def test_the_group_changes_on_the_day_the_district_level_ended(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert _group(capsys, "2025-06-30")[0] == DISTRICTS
    assert _group(capsys, "2025-07-01")[0] == SUCCESSORS
