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
    assert ids == ["ubnd-huyen-son-hoa-phu-yen", "ubnd-son-ha"]
    assert {p["id"]: p["place"] for p in draft.proposed_agencies} == {
        "ubnd-huyen-son-hoa-phu-yen": "Sơn Hòa, Phú Yên"}
    assert draft.definition["assignments"][0]["agencies"] == [{"agency": "ubnd-son-ha", "role": "lead"}]


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


def test_a_quang_ngai_letter_naming_another_province_s_bodies_proposes_them_there() -> None:
    text = ("ỦY BAN NHÂN DÂN TỈNH QUẢNG NGÃI\nSố: 14/UBND-VX\nQuảng Ngãi, ngày 3 tháng 2 năm 2024\n"
            "V/v phối hợp\nKính gửi:\n- Sở Y tế tỉnh Bình Định;\n- UBND huyện Sơn Hòa;\n- Sở Y tế.\n"
            "1. Sở Y tế chủ trì thực hiện.\n")
    draft = import_text(text, directory=DIRECTORY)
    assert [r["agency"] for r in draft.definition["recipients"]] == [
        "so-y-te-binh-dinh", "ubnd-huyen-son-hoa-phu-yen", "so-y-te"]
    places = {p["id"]: p["place"] for p in draft.proposed_agencies}
    assert places == {"so-y-te-binh-dinh": "Bình Định", "ubnd-huyen-son-hoa-phu-yen": "Sơn Hòa, Phú Yên"}


def test_communes_of_the_2025_map_are_not_the_old_districts() -> None:
    text = ("ỦY BAN NHÂN DÂN TỈNH QUẢNG NGÃI\nSố: 40/UBND-KT\nQuảng Ngãi, ngày 3 tháng 9 năm 2025\n"
            "V/v chuẩn bị mùa mưa bão\nKính gửi:\n- UBND xã Ba Tơ;\n- UBND phường Nghĩa Lộ;\n"
            "- UBND huyện Ba Tơ.\n1. UBND xã Ba Tơ chủ trì thực hiện.\n")
    draft = import_text(text, directory=DIRECTORY)
    ids = [r["agency"] for r in draft.definition["recipients"]]
    # the directory holds the communes of 1/7/2025 (definitions/agencies/quang-ngai-local.yaml,
    # from vietnamadminunits): they match their own entries, never the old district committee
    assert ids == ["ubnd-xa-ba-to-21484", "ubnd-phuong-nghia-lo", "ubnd-ba-to"]
    matcher = matcher_for(HOME, PLACES.province("Quảng Ngãi"))
    for name, commune in (
        ("UBND xã Sơn Hà", "ubnd-xa-son-ha-21289"),
        ("UBND xã Sơn Hạ", "ubnd-xa-son-ha-21292"),  # another commune, told apart by its dot
        ("Ủy ban nhân dân phường Trương Quang Trọng", "ubnd-phuong-truong-quang-trong"),
    ):
        m = matcher.best(name)
        assert m is not None and m.id == commune and m.sure, (name, m)
    # without its diacritics "Son Ha" is Sơn Hà or Sơn Hạ: a commune, never sure which
    m = matcher.best("UBND xa Son Ha")
    assert m is not None and m.id in {"ubnd-xa-son-ha-21289", "ubnd-xa-son-ha-21292"}
    assert not m.sure


def test_a_quang_ngai_district_s_letter_keeps_the_directory_s_departments() -> None:
    text = ("ỦY BAN NHÂN DÂN\nHUYỆN SƠN HÀ\nSố: 210/UBND-VP\nSơn Hà, ngày 06 tháng 3 năm 2024\n"
            "V/v phòng chống cháy rừng\nKính gửi:\n- UBND các xã, thị trấn;\n"
            "- Sở Nông nghiệp và Phát triển nông thôn.\n1. UBND các xã, thị trấn tổ chức trực.\n")
    draft = import_text(text, directory=DIRECTORY)
    assert draft.definition["issuer"] == "ubnd-son-ha"
    assert [r["agency"] for r in draft.definition["recipients"]] == [
        "ubnd-cap-xa-son-ha-quang-ngai", "so-nnptnt"]


def test_an_edxml_envelope_of_another_province_is_read_in_its_scope() -> None:
    import base64

    from importer.api import import_bytes

    body = ("ỦY BAN NHÂN DÂN TỈNH PHÚ YÊN\nSố: 99/UBND-KT\nPhú Yên, ngày 3 tháng 2 năm 2024\n"
            "V/v phòng chống lụt bão\nKính gửi:\n- Sở Y tế;\n- Sở Tài chính.\n"
            "1. Sở Y tế chủ trì thực hiện.\n")
    payload = base64.b64encode(body.encode()).decode()
    raw = f"""<?xml version="1.0" encoding="UTF-8"?>
<edXML><edXMLEnvelope><edXMLHeader><MessageHeader>
<From><OrganName>UBND tỉnh Phú Yên</OrganName></From>
<To><OrganName>Sở Y tế</OrganName></To><To><OrganName>Sở Tài chính</OrganName></To>
<Code><CodeNumber>99</CodeNumber><CodeNotation>UBND-KT</CodeNotation></Code>
</MessageHeader></edXMLHeader></edXMLEnvelope>
<AttachmentEncoded><Attachment><AttachmentName>a.txt</AttachmentName>
<ContentType>text/plain</ContentType><ContentTransferEncoded>{payload}</ContentTransferEncoded>
</Attachment></AttachmentEncoded></edXML>""".encode()
    draft = import_bytes(raw, directory=DIRECTORY)
    assert draft.definition["issuer"] == "ubnd-tinh-phu-yen"
    assert [r["agency"] for r in draft.definition["recipients"]] == ["so-y-te-phu-yen", "so-tai-chinh-phu-yen"]
