"""Local government units from the `vietnamadminunits` package, written as directory entries.

The package ships (inside the wheel, nothing fetched) the 63 provinces with their districts
and communes before 1/7/2025, the 34 provinces with their communes after, and the data of its
2025 converter: which new commune (xã, phường, đặc khu) took over which former commune. From
those we derive, for one former province, its district-level People's Committees (valid until
the district level ended on 1/7/2025) and, for each, the commune-level committees that cover
its former territory (valid from 1/7/2025): those are its successors. Units of another former
province merged into the same new one (Kon Tum into Quảng Ngãi) are left out.

`python -m definitions.admin_units > definitions/agencies/quang-ngai-local.yaml` writes the
packaged file; a test checks the file is what the package gives, so nothing is typed by hand.
"""

from __future__ import annotations

import datetime as dt
import sys
import unicodedata
from dataclasses import dataclass
from typing import Any

DISTRICT_LEVEL_ENDED = dt.date(2025, 7, 1)

# What the package does not say: the documents that decided the changes. Checked against no
# text (the machines have no internet), so marked unverified.
DISTRICTS_BASIS: dict[str, Any] = {
    "document": "Luật Tổ chức chính quyền địa phương số 72/2025/QH15",
    "issued_on": dt.date(2025, 6, 16),
    "issuer": "Quốc hội",
    "verified": False,
    "note": (
        "chính quyền địa phương hai cấp từ 01/7/2025, không còn cấp huyện; "
        "basis unverified: số và ngày văn bản chưa đối chiếu với bản gốc"
    ),
}
COMMUNES_BASIS: dict[str, Any] = {
    "document": "Nghị quyết số 1677/NQ-UBTVQH15 về sắp xếp các đơn vị hành chính cấp xã "
    "của tỉnh Quảng Ngãi năm 2025",
    "issued_on": dt.date(2025, 6, 16),
    "issuer": "Ủy ban Thường vụ Quốc hội",
    "verified": False,
    "note": "basis unverified: số và ngày văn bản chưa đối chiếu với bản gốc; "
    "các xã kế thừa theo dữ liệu chuyển đổi của gói vietnamadminunits",
}

_DISTRICT_PREFIX = {"Thành phố": ("tp-", "City"), "Thị xã": ("tx-", "Town"), "Huyện": ("", "District")}
_COMMUNE_EN = {"Xã": "Commune", "Phường": "Ward", "Đặc khu": "Special Zone"}


def ascii_fold(text: str) -> str:
    """`Đức Phổ` → `Duc Pho`."""
    text = text.replace("Đ", "D").replace("đ", "d")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def slug(text: str) -> str:
    return "-".join(ascii_fold(text).lower().split())


@dataclass(frozen=True)
class Unit:
    key: str  # the package's key, e.g. `huyenbinhson`, `xadongson`
    kind: str  # Huyện, Thị xã, Thành phố; Xã, Phường, Đặc khu
    short: str  # Bình Sơn
    code: str

    @property
    def committee_id(self) -> str:
        if self.kind in _DISTRICT_PREFIX:
            return f"ubnd-{_DISTRICT_PREFIX[self.kind][0]}{slug(self.short)}"
        return f"ubnd-{slug(self.kind)}-{slug(self.short)}"

    @property
    def committee_name(self) -> str:
        return f"Ủy ban nhân dân {self.kind.lower()} {self.short}"

    @property
    def committee_name_en(self) -> str:
        word = _DISTRICT_PREFIX[self.kind][1] if self.kind in _DISTRICT_PREFIX else _COMMUNE_EN[self.kind]
        return f"{ascii_fold(self.short)} {word} People's Committee"


@dataclass(frozen=True)
class FormerProvince:
    """A former province's districts, and the new communes covering each (package order)."""

    key: str
    districts: tuple[Unit, ...]
    communes: tuple[Unit, ...]
    covering: dict[str, tuple[str, ...]]  # district key → commune keys


def former_province(province_key: str) -> FormerProvince:
    """Districts of `province_key` (e.g. `tinhquangngai`) before 1/7/2025, and their successors."""
    from vietnamadminunits.converter import converter_2025
    from vietnamadminunits.database import query

    if not province_key.isalnum():
        raise ValueError(f"not a province key: {province_key!r}")
    legacy = query(
        "SELECT DISTINCT districtKey, districtType, districtShort, districtCode "
        f"FROM admin_units_legacy WHERE provinceKey = '{province_key}' ORDER BY districtCode"
    )
    districts = tuple(
        Unit(r["districtKey"], r["districtType"], r["districtShort"], str(r["districtCode"]))
        for r in legacy
    )
    new_province = next(
        new for new, olds in converter_2025.DICT_PROVINCE.items() if province_key in olds
    )
    covering: dict[str, list[str]] = {d.key: [] for d in districts}

    def cover(old_key: str, new_ward: str) -> None:
        old_province, district, _ = old_key.split("_")
        if old_province == province_key and new_ward not in covering[district]:
            covering[district].append(new_ward)

    for new_ward, olds in converter_2025.DICT_PROVINCE_WARD_NO_DIVIDED[new_province].items():
        for old_key in olds:
            cover(old_key, new_ward)
    for old_key, parts in converter_2025.DICT_PROVINCE_WARD_DIVIDED.get(new_province, {}).items():
        for part in parts:
            cover(old_key, part["newWardKey"])
    wanted = {w for wards in covering.values() for w in wards}
    rows = query(
        "SELECT DISTINCT wardKey, wardType, wardShort, wardCode FROM admin_units "
        f"WHERE provinceKey = '{new_province}' ORDER BY wardCode"
    )
    communes = tuple(
        Unit(r["wardKey"], r["wardType"], r["wardShort"], str(r["wardCode"]))
        for r in rows
        if r["wardKey"] in wanted
    )
    order = {c.key: i for i, c in enumerate(communes)}
    return FormerProvince(
        province_key,
        districts,
        communes,
        {d: tuple(sorted(ws, key=order.__getitem__)) for d, ws in covering.items()},
    )


def committee_ids(communes: tuple[Unit, ...]) -> dict[str, str]:
    """Each commune's committee id; names alike without their tones (Sơn Hà, Sơn Hạ) take
    the unit's official code as a suffix, so no id stands for two committees."""
    plain = [c.committee_id for c in communes]
    return {
        c.key: f"{c.committee_id}-{c.code}" if plain.count(c.committee_id) > 1 else c.committee_id
        for c in communes
    }


def _basis_lines(basis: dict[str, Any], indent: str, key: str = "basis") -> list[str]:
    return [
        f"{indent}{key}:",
        f'{indent}  document: "{basis["document"]}"',
        f"{indent}  issued_on: {basis['issued_on'].isoformat()}",
        f"{indent}  issuer: {basis['issuer']}",
        f"{indent}  verified: {'true' if basis['verified'] else 'false'}",
        f'{indent}  note: "{basis["note"]}"',
    ]


def directory_yaml(province_key: str = "tinhquangngai", domain: str = "quangngai.example") -> str:
    """The directory file of a former province's district and commune committees."""
    found = former_province(province_key)
    ids = committee_ids(found.communes)
    lines = [
        "# yaml-language-server: $schema=../directory.schema.json",
        "# Generated by `python -m definitions.admin_units` from the vietnamadminunits package;",
        "# do not edit by hand. The district-level People's Committees until the district level",
        "# ended (1/7/2025), each with the commune-level committees now covering its former",
        "# territory (the package's 2025 converter) as successors; those committees from 1/7/2025.",
        "format_version: 2",
        "agencies:",
    ]
    for d in found.districts:
        lines += [
            f"  - id: {d.committee_id}",
            f"    name: {d.committee_name}",
            f"    name_en: \"{d.committee_name_en}\"",
            f"    abbreviations: [UBND {d.kind.lower()} {d.short}]",
            "    kind: district_committee",
            "    answers_to: ubnd-tinh",
            f"    email: {d.committee_id}@{domain}",
            f"    valid_until: {DISTRICT_LEVEL_ENDED.isoformat()}",
            "    succession:",
            f"      successors: [{', '.join(ids[w] for w in found.covering[d.key])}]",
            *_basis_lines(DISTRICTS_BASIS, "      "),
        ]
    for c in found.communes:
        lines += [
            f"  - id: {ids[c.key]}",
            f"    name: {c.committee_name}",
            f"    name_en: \"{c.committee_name_en}\"",
            "    kind: commune_committee",
            "    answers_to: ubnd-tinh",
            f"    email: {ids[c.key]}@{domain}",
            f"    valid_from: {DISTRICT_LEVEL_ENDED.isoformat()}",
            *_basis_lines(COMMUNES_BASIS, "    ", "established_by"),
        ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(directory_yaml(*sys.argv[1:2]))
