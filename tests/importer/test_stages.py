"""Each stage of the reader on its own: layout, segment, header, address, body, signature,
duties, news, and the national map and patterns they resolve names against."""

from __future__ import annotations

import datetime as dt
import unicodedata

import pytest

from importer import address, body, duties, header, news, signature
from importer.agencies import AgencyMatcher, load_directory_file, named_places
from importer.layout import prepare, unflatten, unglue
from importer.model import Context, ParsedDocument
from importer.national import matcher_for
from importer.places import load_places
from importer.segment import segment

DIRECTORY = load_directory_file()
HOME = AgencyMatcher(DIRECTORY)
PLACES = load_places()


def _ctx(text: str, province: str | None = "Quảng Ngãi") -> Context:
    layout = prepare(text)
    ctx = Context(layout.lines, HOME, ParsedDocument(lines=layout.lines))
    p = PLACES.province(province) if province else None
    ctx.matcher = matcher_for(HOME, p)
    if p is not None and p.name != "Quảng Ngãi":
        ctx.place_slug, ctx.place_name = p.slug, p.name
    return ctx


# --- places ------------------------------------------------------------------------


def test_places_has_both_maps() -> None:
    before = [p for p in PLACES.provinces.values() if p.before_2025]
    after = [p for p in PLACES.provinces.values() if p.after_2025]
    assert len(before) == 63 and len(after) == 34
    assert {d.name for d in PLACES.districts["quang ngai"]} >= {"Sơn Hà", "Ba Tơ", "Lý Sơn"}
    assert [d.province.name for d in PLACES.district(None, "Sơn Hòa")] == ["Phú Yên"]
    assert len(PLACES.communes["quang ngai"]) > 50
    assert PLACES.province("Thừa Thiên Huế") is PLACES.province("Huế")


def test_named_places_needs_the_kind_word_for_a_district() -> None:
    assert named_places("ubnd huyen son hoa") == {"d:huyen:son hoa"}
    assert named_places("ubnd tinh binh dinh") == {"p:binh dinh"}
    assert named_places("ubnd thanh pho ha noi") == {"p:ha noi"}
    assert named_places("so y te") == frozenset()
    assert "d:tp:quang ngai" in named_places("ubnd thanh pho quang ngai")


# --- layout ------------------------------------------------------------------------


def test_unglue_splits_glued_syllables_and_camel_case() -> None:
    assert unglue("ngày 08 thángnăm 2024") == "ngày 08 tháng năm 2024"
    assert unglue("Giám đốc cácsở") == "Giám đốc các sở"
    assert unglue("QUYẾT ĐỊNH BANHÀNH") == "QUYẾT ĐỊNH BAN HÀNH"
    assert unglue("SởThông tin vàTruyền thông") == "Sở Thông tin và Truyền thông"
    for word in ("nghiêng", "khuyến", "người", "Buôn Ma Thuột", "iOffice", "COVID-19", "Krông"):
        assert unglue(word) == word


def test_prepare_drops_markup_strays_and_hyphenation() -> None:
    layout = prepare("<?xml version=\"1.0\"?><w:body></xml\nSố: **5185**/UBND\n2\nTrang 1/3\n"
                     "D:\\VanBan\\a.docx\nthi cô-\nng tốt")
    assert layout.lines[0] == "" and layout.lines[1] == "Số: 5185/UBND"
    assert layout.stray_lines == [3, 4, 5]
    assert layout.lines[-1] == "thi công tốt"


def test_prepare_composes_decomposed_and_windows_1258_marks() -> None:
    nfd = unicodedata.normalize("NFD", "Sở Tài nguyên và Môi trường")
    assert prepare(nfd).lines == ["Sở Tài nguyên và Môi trường"]
    assert prepare("S\u01a1\u0309 Y t\u00ea\u0301").lines == ["Sở Y tế"]
    assert prepare("thiê t hai  \u0300  \u0323 do").lines[0].split() == ["thiê", "t", "hai", "do"]


def test_unflatten_breaks_at_the_format_markers() -> None:
    line = ("ỦY BAN NHÂN DÂN TỈNH BÌNH ĐỊNH CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM Độc lập - Tự do - "
            "Hạnh phúc Số: 12/UBND-VX Bình Định, ngày 2 tháng 3 năm 2021 V/v việc a Kính gửi: - Sở Y "
            "tế; - Sở Tài chính. Để làm tốt, UBND tỉnh yêu cầu: 1. Sở Y tế làm a. 2. Sở Tài chính làm b. "
            "Nơi nhận: - Như trên; - Lưu: VT. KT. CHỦ TỊCH PHÓ CHỦ TỊCH Nguyễn Văn A")
    assert unflatten(line) == [
        "ỦY BAN NHÂN DÂN TỈNH BÌNH ĐỊNH", "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
        "Độc lập - Tự do - Hạnh phúc", "Số: 12/UBND-VX", "Bình Định, ngày 2 tháng 3 năm 2021",
        "V/v việc a", "Kính gửi:", "- Sở Y tế;", "- Sở Tài chính.", "Để làm tốt, UBND tỉnh yêu cầu:",
        "1. Sở Y tế làm a.", "2. Sở Tài chính làm b.", "Nơi nhận:", "- Như trên;", "- Lưu: VT.",
        "KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH", "Nguyễn Văn A",
    ]


# --- segment -----------------------------------------------------------------------


def test_segment_finds_the_parts_and_an_attached_plan() -> None:
    lines = ["ỦY BAN NHÂN DÂN TỈNH QUẢNG NGÃI", "Số: 1/QĐ-UBND", "QUYẾT ĐỊNH", "Điều 1. Ban hành.",
             "Nơi nhận:", "- Như Điều 1;", "CHỦ TỊCH", "", "KẾ HOẠCH", "Cải cách",
             "(Ban hành kèm theo Quyết định số 1/QĐ-UBND)", "I. MỤC ĐÍCH"]
    from importer.normalize import fold

    seg = segment(lines, [fold(x) for x in lines])
    assert (seg.kinh_gui, seg.noi_nhan, seg.attachment, seg.news) == (None, 4, 8, False)
    news_lines = ["Tin", "Thủ tướng vừa ký ban hành Chỉ thị số 19/CT-TTg ngày 15/6/2023 về x."]
    assert segment(news_lines, [fold(x) for x in news_lines]).news


# --- header ------------------------------------------------------------------------


@pytest.mark.parametrize("line,number,symbol,sure", [
    ("Số: 55/2007/QĐ-UBND", 55, "QĐ-UBND", True),
    ("S6:2810/UBND-KGVX", 2810, "UBND-KGVX", True),  # "S6" folds to "so": the OCR's Số
    ("Số: 5185UBND-KGVX", 5185, "UBND-KGVX", False),  # the slash lost
    ("Số: 3127/UNBD-NL1", 3127, "UBND-NL1", False),
    ("Số: 865/VPCP-KTTH", 865, "VPCP-KTTH", True),
])
def test_number_and_symbol(line: str, number: int, symbol: str, sure: bool) -> None:
    ctx = _ctx(line)
    header.read_number(ctx, 1)
    assert ctx.doc.number and ctx.doc.symbol
    assert (ctx.doc.number.value, ctx.doc.symbol.value) == (number, symbol)
    assert (ctx.doc.symbol.confidence >= 0.9) == sure


def test_a_missing_month_is_restored_only_from_the_text() -> None:
    ctx = _ctx("Ngày ban hành: 05/07/2022\nSố: 1/VPCP-KGVX\nHà Nội, ngày 05 tháng năm 2022")
    header.read_number(ctx, 3)
    header.read_date(ctx, 3)
    assert ctx.doc.issued_on and ctx.doc.issued_on.value == dt.date(2022, 7, 5)
    assert "line 1 gives the whole date" in ctx.doc.issued_on.note
    assert ctx.doc.place and ctx.doc.place.value == "Hà Nội"
    ctx = _ctx("Số: 1/UBND-VX\nBình Định, ngày 21 tháng năm 2021\nbáo cáo trước ngày 21/11/2021")
    header.read_date(ctx, 3)
    assert ctx.doc.issued_on is None and "no month" in ctx.doc.notes[0]
    ctx = _ctx("Ngày ban hành: 14/03/2024\nSố: 7/CT-UBND\nBình Định, ngày tháng 3 năm 2024")
    header.read_date(ctx, 3)
    assert ctx.doc.issued_on and ctx.doc.issued_on.value == dt.date(2024, 3, 14)
    ctx = _ctx("Ngày ban hành: 14/04/2024\nSố: 7/CT-UBND\nBình Định, ngày tháng 3 năm 2024")
    header.read_date(ctx, 3)
    assert ctx.doc.issued_on is None and "no day" in ctx.doc.notes[0]


def test_issuer_block_is_the_left_column() -> None:
    ctx = _ctx("UBND THÀNH PHỐ HÀ NỘI     CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM\n"
               "SỞ GIÁO DỤC VÀ ĐÀO TẠO    Độc lập - Tự do - Hạnh phúc\nSố: 1/SGDĐT-GDPT")
    header.read_number(ctx, 3)
    assert [p for p, _ in header.issuer_block(ctx, 3)] == ["UBND THÀNH PHỐ HÀ NỘI", "SỞ GIÁO DỤC VÀ ĐÀO TẠO"]


# --- address -----------------------------------------------------------------------


def test_people_stand_for_their_bodies_and_cac_so_names_each() -> None:
    ctx = _ctx("Kính gửi:\n- Giám đốc các sở: Kế hoạch và Đầu tư, Tài chính;\n"
               "- Chủ tịch UBND các huyện, thị xã, thành phố;\n- Thủ trưởng các cơ quan, đơn vị.\n\nBody.")
    address.read_kinh_gui(ctx, 0)
    refs = ctx.doc.recipients
    assert [r.id for r in refs] == ["so-khdt", "so-tai-chinh", "ubnd-cap-huyen", "co-quan-don-vi"]
    assert refs[-1].new and refs[-1].confidence < 0.9  # not in the directory: proposed, marked


def test_recipients_of_a_decision_are_its_executing_article() -> None:
    ctx = _ctx("Điều 3. Chánh Văn phòng UBND tỉnh, Giám đốc Sở Nội vụ và Chủ tịch UBND các huyện, "
               "thị xã, thành phố chịu trách nhiệm thi hành Quyết định này./.\nNơi nhận:\n- Như Điều 3;\n"
               "- Bộ Nội vụ (b/c);\n- Lưu: VT.")
    assert address.from_distribution(ctx, 1, 5, (0, 1))
    assert [r.id for r in ctx.doc.recipients] == ["vp-ubnd-tinh", "so-noi-vu", "ubnd-cap-huyen"]


def test_recipients_of_a_plan_are_its_distribution_less_its_readers() -> None:
    ctx = _ctx("Nơi nhận:\n- Bộ Y tế (b/c);\n- TTr Tỉnh ủy, HĐND tỉnh (b/c);\n- Chủ tịch, các PCT UBND tỉnh;\n"
               "- Sở Y tế;\n- UBND các huyện, thị xã, thành phố;\n- Lưu: VT, VX.", "Thanh Hóa")
    address.from_distribution(ctx, 0, 7, (0, 0))
    assert [r.id for r in ctx.doc.recipients] == ["so-y-te-thanh-hoa", "ubnd-cap-huyen-thanh-hoa"]


# --- body --------------------------------------------------------------------------


def test_a_plan_s_work_is_its_part_to_chuc_thuc_hien() -> None:
    ctx = _ctx("I. MỤC ĐÍCH\n1. Mục đích\nA.\nII. NHIỆM VỤ\n1.1. Làm x.\n- Làm y;\n"
               "III. TỔ CHỨC THỰC HIỆN\n1. Sở Y tế\na) Chủ trì.\n2. Sở Tài chính\nBố trí kinh phí.")
    body.read_body(ctx, 0, len(ctx.lines))
    assert [(s.number, [a.id for a in s.agencies]) for s in ctx.doc.sections] == [
        (1, ["so-y-te"]), (2, ["so-tai-chinh"])]
    assert [i.letter for i in ctx.doc.sections[0].items] == ["a"]


# --- signature ---------------------------------------------------------------------


def test_split_title_run() -> None:
    assert signature.split_title_run("KT. CHỦ TỊCH PHÓ CHỦ TỊCH Lâm Hải Giang") == [
        "KT. CHỦ TỊCH", "PHÓ CHỦ TỊCH", "Lâm Hải Giang"]
    assert signature.split_title_run("KT. BỘ TRƯỞNG, CHỦ NHIỆM PHÓ CHỦ NHIỆM") == [
        "KT. BỘ TRƯỞNG, CHỦ NHIỆM", "PHÓ CHỦ NHIỆM"]


def test_signer_beside_the_distribution() -> None:
    ctx = _ctx("Nơi nhận:            TM. ỦY BAN NHÂN DÂN\n- Như trên;              CHỦ TỊCH\n"
               "- Lưu: VT.\n\n                   Phạm Thế Dũng")
    signature.read_tail(ctx, 0)
    d = ctx.doc
    assert (d.signer_on_behalf_of.value, d.signer_position.value, d.signer_name.value) == (  # type: ignore[union-attr]
        "ỦY BAN NHÂN DÂN", "CHỦ TỊCH", "Phạm Thế Dũng")


# --- duties ------------------------------------------------------------------------


def test_quarterly_day_of_the_last_month_and_a_subset_of_reporters() -> None:
    ctx = _ctx("x")
    ctx.doc.issued_on = header.Found(dt.date(2024, 3, 22), 1, 0.95)
    own = [address.AgencyRef("ubnd-cap-huyen", "UBND các huyện", 1, 1.0, "", True)]
    ctx.doc.recipients = [*own, address.AgencyRef("so-noi-vu", "Sở Nội vụ", 1, 1.0, "")]
    duties.duties_in(ctx, "báo cáo kết quả về Sở Nội vụ định kỳ hằng quý, trước ngày 10 của tháng "
                     "cuối quý.", 1, own)
    duty = ctx.doc.duties[0]
    assert (duty.recurrence, duty.due, duty.to.id) == (  # type: ignore[union-attr]
        "quarterly", {"on": dt.date(2024, 3, 10)}, "so-noi-vu")
    assert [r.id for r in duty.reporters] == ["ubnd-cap-huyen"]


def test_working_days_after_issue_and_after_the_period() -> None:
    ctx = _ctx("x")
    duties.duties_in(ctx, "báo cáo về Sở Nội vụ trong 05 ngày làm việc kể từ ngày nhận được văn bản.",
                     1, [])
    duties.duties_in(ctx, "gửi báo cáo về Sở Nội vụ hằng quý trong 10 ngày kể từ ngày kết thúc quý.",
                     2, [])
    assert ctx.doc.duties[0].due == {"days_after_issue": 5, "working": True}
    assert ctx.doc.duties[1].due == {"days_after_period_end": 10, "working": False}
    assert ctx.doc.duties[1].recurrence == "quarterly"


# --- news --------------------------------------------------------------------------


def test_news_lead_sentence() -> None:
    ctx = _ctx("Tin\n\nBaoquangngai.vn - Ngày 12/4/2024, UBND tỉnh Quảng Ngãi ban hành Công văn số "
               "1960/UBND-KTN về việc tăng cường phòng cháy rừng. Theo đó …")
    news.read_lead(ctx, lambda who: None)
    d = ctx.doc
    assert (d.kind.value, d.number.value, d.symbol.value, d.issued_on.value) == (  # type: ignore[union-attr]
        "Công văn", 1960, "UBND-KTN", dt.date(2024, 4, 12))
    assert d.subject.value == "V/v tăng cường phòng cháy rừng"  # type: ignore[union-attr]
    assert d.issuer.id == "ubnd-tinh"  # type: ignore[union-attr]


def test_a_number_without_its_colon() -> None:
    ctx = _ctx("ỦY BAN NHÂN DÂN TỈNH LÂM ĐỒNG\nSố 5123 / UBND-VX")
    header.read_number(ctx, 2)
    assert ctx.doc.number and ctx.doc.symbol
    assert (ctx.doc.number.value, ctx.doc.symbol.value, ctx.doc.number.line) == (5123, "UBND-VX", 2)
    assert [p for p, _ in header.issuer_block(ctx, 2)] == ["ỦY BAN NHÂN DÂN TỈNH LÂM ĐỒNG"]
