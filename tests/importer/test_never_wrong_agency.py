"""No unit of another province is ever matched to a Quảng Ngãi agency, whatever kind of name.

Every province and district of the country (from `vietnamadminunits`), each kind of name —
a province committee, a department, a provincial body, a district committee, a group, a district
office — clean and without diacritics, read by the Quảng Ngãi matcher (a letter of Quảng Ngãi
naming them), by the national matcher (a ministry's letter) and by their own province's matcher:
none is ever one of the directory's ids. Before this, "UBND huyện Sơn Hòa" (Phú Yên) matched
Quảng Ngãi's Sơn Hà at 86 %.
"""

from __future__ import annotations

import pytest

from importer.agencies import AgencyMatcher, load_directory_file
from importer.api import import_text
from importer.national import matcher_for
from importer.normalize import fold
from importer.places import load_places

DIRECTORY = load_directory_file()
HOME = AgencyMatcher(DIRECTORY)
OWN = {a.id for a in DIRECTORY.agencies} | {g.id for g in DIRECTORY.groups}
PLACES = load_places()
OTHERS = [p for p in PLACES.provinces.values() if p.name != "Quảng Ngãi"]


def _names(province_name: str, province_word: str) -> list[str]:
    place = f"{province_word} {province_name}"
    names = [f"Ủy ban nhân dân {place}", f"UBND {place}", f"Sở Y tế {place}",
             f"Sở Giáo dục và Đào tạo {place}", f"Sở Nội vụ {place}", f"Công an {place}",
             f"Văn phòng UBND {place}", f"Hội Khuyến học {place}",
             f"UBND các huyện, thị xã, thành phố {place}", f"Đài Phát thanh và Truyền hình {province_name}",
             f"Báo {province_name}", f"Giám đốc Sở Tài chính {place}"]
    return names


def _district_names(d_kind: str, d_name: str, province_name: str) -> list[str]:
    return [f"UBND {d_kind} {d_name}", f"Ủy ban nhân dân {d_kind} {d_name}",
            f"Chủ tịch UBND {d_kind} {d_name}", f"UBND {d_kind} {d_name}, tỉnh {province_name}",
            f"Phòng Giáo dục và Đào tạo {d_kind} {d_name}"]


def _check(matcher: AgencyMatcher, text: str) -> None:
    for variant in (text, fold(text)):  # clean, and as OCR that lost every diacritic
        m = matcher.best(variant)
        assert m is None or m.id not in OWN, f"{variant!r} matched {m.id} at {m.score:.0f}%"
        for found in matcher.read_list(variant).matches:
            assert found.id not in OWN, f"{variant!r} listed as {found.id} at {found.score:.0f}%"


@pytest.mark.parametrize("province", OTHERS, ids=[p.slug for p in OTHERS])
def test_other_provinces_units_never_match_quang_ngai(province: object) -> None:
    from importer.places import Province

    assert isinstance(province, Province)
    own_scope = matcher_for(HOME, province)
    national = matcher_for(HOME, None)
    word = province.kind
    for matcher in (HOME, national, own_scope):
        for name in _names(province.name, word):
            _check(matcher, name)
        for d in PLACES.districts.get(province.key, []):
            if any(d.key == q.key and d.kind == q.kind
                   for q in PLACES.districts.get("quang ngai", [])):
                continue  # the same kind and name in Quảng Ngãi: named without a province it is one
            for name in _district_names(d.kind, d.name, province.name):
                _check(matcher, name)


def test_the_86_percent_case_is_a_proposal_of_phu_yen() -> None:
    text = ("ỦY BAN NHÂN DÂN TỈNH QUẢNG NGÃI\nSố: 12/UBND-VX\nQuảng Ngãi, ngày 3 tháng 2 năm 2024\n"
            "V/v phối hợp\nKính gửi:\n- UBND huyện Sơn Hòa, tỉnh Phú Yên;\n- UBND huyện Sơn Hà.\n"
            "1. UBND huyện Sơn Hà chủ trì, phối hợp với UBND huyện Sơn Hòa, tỉnh Phú Yên thực hiện.\n")
    draft = import_text(text, directory=DIRECTORY)
    ids = [r["agency"] for r in draft.definition["recipients"]]
    assert ids[1] == "ubnd-son-ha"
    assert ids[0] != "ubnd-son-ha" and ids[0] not in OWN
    assert draft.provenance["recipients.0.agency"].confidence < 0.9 or ids[0].endswith("phu-yen")


def test_a_letter_of_another_province_never_gets_quang_ngai_ids() -> None:
    text = ("ỦY BAN NHÂN DÂN TỈNH PHÚ YÊN\nSố: 99/UBND-KT\nPhú Yên, ngày 3 tháng 2 năm 2024\n"
            "V/v phòng chống lụt bão\nKính gửi:\n- Sở Giáo dục và Đào tạo;\n- Sở Y tế;\n"
            "- UBND huyện Sơn Hòa;\n- UBND các huyện, thị xã, thành phố;\n- Sở Thông tin và Truyền thông.\n"
            "1. Sở Y tế chủ trì, phối hợp với Sở Giáo dục và Đào tạo thực hiện.\n")
    draft = import_text(text, directory=DIRECTORY)
    ids = [r["agency"] for r in draft.definition["recipients"]]
    assert ids == ["so-giao-duc-dao-tao-phu-yen", "so-y-te-phu-yen", "ubnd-huyen-son-hoa-phu-yen",
                   "ubnd-cap-huyen-phu-yen", "so-thong-tin-truyen-thong-phu-yen"]
    assert draft.definition["issuer"] == "ubnd-tinh-phu-yen"
    proposed = {p["id"]: p for p in draft.proposed_agencies}
    assert all(proposed[i]["place"].endswith("Phú Yên") for i in ids)
    assert draft.definition["assignments"][0]["agencies"][0]["agency"] == "so-y-te-phu-yen"
