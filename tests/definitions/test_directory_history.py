"""The directory with history: validity, successors from the package's data, groups as of a date,
the format version and its upcaster, and bad successions refused with their place."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from chidao.cli import main
from definitions.admin_units import directory_yaml, former_province
from definitions.errors import DefinitionError
from definitions.loader import DIRECTORY_DIR, load_directory, load_directory_files
from definitions.resolve import expand, standing_for

DISTRICTS = [
    "ubnd-tp-quang-ngai", "ubnd-tx-duc-pho", "ubnd-binh-son", "ubnd-son-tinh", "ubnd-tu-nghia",
    "ubnd-nghia-hanh", "ubnd-mo-duc", "ubnd-ba-to", "ubnd-minh-long", "ubnd-son-ha",
    "ubnd-son-tay", "ubnd-tra-bong", "ubnd-ly-son",
]  # fmt: skip


def _show(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    assert main(["show", *args, "--json"]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    return data


def test_the_generated_file_is_what_the_package_gives() -> None:
    on_disk = (DIRECTORY_DIR / "quang-ngai-local.yaml").read_text(encoding="utf-8")
    assert on_disk == directory_yaml(), (
        "regenerate it: python -m definitions.admin_units > definitions/agencies/quang-ngai-local.yaml"
    )


def test_the_13_districts_and_their_successors_come_from_the_package() -> None:
    directory = load_directory()
    province = former_province("tinhquangngai")
    assert len(province.districts) == 13
    assert sorted(d.committee_id for d in province.districts) == sorted(DISTRICTS)
    group = next(g for g in directory.groups if g.id == "ubnd-cap-huyen")
    assert sorted(group.members) == sorted(DISTRICTS)
    agencies = {a.id: a for a in directory.agencies}
    communes = {a.id for a in directory.agencies if a.kind == "commune_committee"}
    successors: set[str] = set()
    for district in DISTRICTS:
        agency = agencies[district]
        assert agency.valid_until == dt.date(2025, 7, 1)
        assert agency.succession is not None
        assert agency.succession.successor_ids, district
        successors |= set(agency.succession.successor_ids)
        assert "basis unverified" in agency.succession.basis.describe()
    # every commune committee in the directory covers former Quảng Ngãi: Kon Tum's are not added
    assert successors == communes
    assert len(communes) == 56
    assert all(agencies[c].valid_from == dt.date(2025, 7, 1) for c in communes)
    # Lý Sơn became a special zone (đặc khu); Đông Sơn covers parts of two former districts
    assert agencies["ubnd-ly-son"].succession.successor_ids == ("ubnd-dac-khu-ly-son",)  # type: ignore[union-attr]
    shared = [d for d in DISTRICTS if "ubnd-xa-dong-son" in agencies[d].succession.successor_ids]  # type: ignore[union-attr]
    assert shared == ["ubnd-tp-quang-ngai", "ubnd-binh-son"]


def test_a_group_resolves_to_its_members_as_of_a_date() -> None:
    directory = load_directory()
    assert list(expand(directory, "ubnd-cap-huyen", dt.date(2025, 6, 30))) == DISTRICTS
    after = expand(directory, "ubnd-cap-huyen", dt.date(2025, 7, 1))
    assert len(after) == 56 and not set(after) & set(DISTRICTS)
    assert standing_for(directory, "so-ldtbxh", dt.date(2025, 2, 28)) == ("so-ldtbxh",)
    assert standing_for(directory, "so-ldtbxh", dt.date(2025, 3, 1)) == (
        "so-noi-vu", "so-y-te", "so-gddt",
    )  # fmt: skip
    # a unit not yet created stands for nobody; two merged into one stand for that one
    assert standing_for(directory, "ubnd-xa-an-phu", dt.date(2025, 6, 30)) == ()
    assert expand(directory, "so-tnmt", dt.date(2026, 1, 1)) == ("so-nnmt",)


def test_show_as_of_resolves_the_group_to_its_successors(
    capsys: pytest.CaptureFixture[str],
) -> None:
    after = _show(capsys, "2810", "--as-of", "2025-12-01")
    group = next(r for r in after["recipients"] if r["agency"] == "ubnd-cap-huyen")
    assert len(group["members"]) == 56 and not set(group["members"]) & set(DISTRICTS)
    tracked = {a["id"]: a for a in after["tracked_agencies"]}
    assert not set(tracked) & set(DISTRICTS) and "so-ldtbxh" not in tracked
    assert set(group["members"]) <= set(tracked)
    assert tracked["ubnd-dac-khu-ly-son"]["succeeds"] == ["ubnd-ly-son"]
    assert tracked["ubnd-xa-dong-son"]["succeeds"] == ["ubnd-tp-quang-ngai", "ubnd-binh-son"]
    assert tracked["ubnd-xa-dong-son"]["valid_from"] == "2025-07-01"
    assert after["as_of"] == "2025-12-01"

    before = _show(capsys, "qn-2810-ubnd-kgvx-2023", "--as-of", "2024-12-01")
    group = next(r for r in before["recipients"] if r["agency"] == "ubnd-cap-huyen")
    assert group["members"] == DISTRICTS
    tracked_ids = [a["id"] for a in before["tracked_agencies"]]
    assert [a for a in tracked_ids if a.startswith("ubnd-")] == DISTRICTS
    assert "so-ldtbxh" in tracked_ids


def _write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "agencies.yaml"
    path.write_text(text, encoding="utf-8")
    return path


HEAD = """format_version: 2
agencies:
  - {id: ubnd-tinh, name: "UBND tỉnh Thử", kind: issuer, email: ubnd-tinh@test.example}
"""


@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        (
            "  - {id: so-a, name: Sở A, kind: department, email: a@test.example, valid_until: 2025-03-01,\n"
            "     succession: {successors: [so-b], basis: {note: x}}}\n",
            ":5:32: agencies.1.succession.successors.0:",
            "successor 'so-b' of 'so-a' does not exist",
        ),
        (
            "  - {id: so-a, name: Sở A, kind: department, email: a@test.example,\n"
            "     valid_from: 2025-03-01, valid_until: 2024-01-01}\n",
            ":5:43: agencies.1.valid_until:",
            "'so-a' ends on 01/01/2024, not after it starts (01/03/2025)",
        ),
        (
            "  - {id: so-a, name: Sở A, kind: department, email: a@test.example, valid_until: 2025-03-01,\n"
            "     succession: {successors: [so-b], basis: {note: x}}}\n"
            "  - {id: so-b, name: Sở B, kind: department, email: b@test.example, valid_from: 2025-04-01}\n",
            ":5:32: agencies.1.succession.successors.0:",
            "successor 'so-b' starts on 01/04/2025, after 'so-a' ended on 01/03/2025",
        ),
        (
            "  - {id: so-a, name: Sở A, kind: department, email: a@test.example, valid_until: 2025-03-01,\n"
            "     succession: {successors: [ubnd-tinh, so-b], basis: {note: x}}}\n"
            "  - {id: so-b, name: Sở B, kind: department, email: b@test.example, valid_until: 2025-02-01}\n",
            ":5:43: agencies.1.succession.successors.1:",
            "successor 'so-b' itself ends on 01/02/2025, no later than 'so-a' (01/03/2025)",
        ),
        (
            "  - {id: so-a, name: Sở A, kind: department, email: a@test.example,\n"
            "     succession: {successors: [ubnd-tinh], basis: {note: x}}}\n",
            ":5:18: agencies.1.succession:",
            "'so-a' has successors but no end date",
        ),
    ],
    ids=["unknown-successor", "ends-before-start", "gap", "successor-ended", "no-end"],
)
def test_bad_successions_are_refused_with_their_place(
    tmp_path: Path, body: str, where: str, message: str
) -> None:
    path = _write(tmp_path / "dir", HEAD + body)
    with pytest.raises(DefinitionError) as caught:
        load_directory_files([path])
    text = str(caught.value)
    assert message in text
    assert where in text, text
    assert all(p.file.endswith("agencies.yaml") for p in caught.value.problems)


def test_a_version_1_file_reads_and_may_not_use_version_2_keys(tmp_path: Path) -> None:
    old = _write(
        tmp_path / "v1",
        "agencies:\n  - {id: ubnd-tinh, name: UBND tỉnh Thử, kind: issuer, email: u@test.example}\n",
    )
    directory = load_directory_files([old])
    assert directory.format_version == 2 and directory.agencies[0].valid_until is None
    bad = _write(
        tmp_path / "v1-bad",
        "agencies:\n"
        "  - {id: ubnd-tinh, name: UBND tỉnh Thử, kind: issuer, valid_until: 2025-01-01}\n",
    )
    with pytest.raises(DefinitionError) as caught:
        load_directory_files([bad])
    assert ":2:69: agencies.0.valid_until: 'valid_until' needs 'format_version: 2'" in str(
        caught.value
    )
    future = _write(tmp_path / "v9", "format_version: 9\nagencies: []\n")
    with pytest.raises(DefinitionError, match="format_version 9 is not known"):
        load_directory_files([future])
