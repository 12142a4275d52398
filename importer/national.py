"""Generic agency patterns of the national system, resolved against the map of `places`.

Every province has the same kinds of body: its People's Committee, its departments
(`Sở <field> tỉnh <province>`), its district committees (`UBND huyện <district>`), the usual
groups ("UBND các huyện, thị xã, thành phố"); the country has its ministries and the Government
Office. `entries_for` makes these for one province (and district), with ids that name the place
(`so-y-te-binh-dinh`, `ubnd-huyen-son-hoa-phu-yen`), marked `new` because the directory does not
hold them: a match is a proposal of a new entry of that place, never a Quảng Ngãi body.
"""

from __future__ import annotations

from functools import lru_cache

from importer.agencies import AgencyMatcher, Entry, canonical, directory_province
from importer.normalize import fold
from importer.places import District, Province, load_places, slug_of

# (field, abbreviations) of the provincial departments, before and after the 2025 mergers.
SO_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Nội vụ", ("NV",)), ("Tư pháp", ("TP",)), ("Kế hoạch và Đầu tư", ("KH&ĐT", "KHĐT")),
    ("Tài chính", ("TC",)), ("Công Thương", ("CT",)),
    ("Nông nghiệp và Phát triển nông thôn", ("NN&PTNT", "NNPTNT", "Nông nghiệp và PTNT", "NN và PTNT")),
    ("Nông nghiệp và Môi trường", ("NN&MT",)), ("Giao thông vận tải", ("GTVT",)),
    ("Xây dựng", ("XD",)), ("Tài nguyên và Môi trường", ("TN&MT", "TNMT")),
    ("Thông tin và Truyền thông", ("TT&TT", "TTTT")),
    ("Lao động - Thương binh và Xã hội", ("LĐ-TB&XH", "LĐTBXH", "Lao động, Thương binh và Xã hội")),
    ("Văn hóa, Thể thao và Du lịch", ("VH-TT&DL", "VHTTDL", "VHTT&DL")), ("Văn hóa và Thể thao", ()),
    ("Du lịch", ()), ("Khoa học và Công nghệ", ("KH&CN", "KHCN")),
    ("Giáo dục và Đào tạo", ("GD&ĐT", "GDĐT")), ("Y tế", ()), ("Ngoại vụ", ()),
    ("Dân tộc và Tôn giáo", ()),
)
MINISTRIES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Bộ Quốc phòng", ("BQP",)), ("Bộ Công an", ("BCA",)), ("Bộ Ngoại giao", ("BNG",)),
    ("Bộ Nội vụ", ("BNV",)), ("Bộ Tư pháp", ("BTP",)), ("Bộ Kế hoạch và Đầu tư", ("Bộ KH&ĐT",)),
    ("Bộ Tài chính", ("BTC",)), ("Bộ Công Thương", ("BCT",)),
    ("Bộ Nông nghiệp và Phát triển nông thôn", ("Bộ NN&PTNT", "Bộ Nông nghiệp và PTNT")),
    ("Bộ Nông nghiệp và Môi trường", ()), ("Bộ Giao thông vận tải", ("Bộ GTVT",)),
    ("Bộ Xây dựng", ("BXD",)), ("Bộ Tài nguyên và Môi trường", ("Bộ TN&MT",)),
    ("Bộ Thông tin và Truyền thông", ("Bộ TT&TT",)),
    ("Bộ Lao động - Thương binh và Xã hội", ("Bộ LĐ-TB&XH",)),
    ("Bộ Văn hóa, Thể thao và Du lịch", ("Bộ VHTTDL",)), ("Bộ Khoa học và Công nghệ", ("Bộ KH&CN",)),
    ("Bộ Giáo dục và Đào tạo", ("Bộ GD&ĐT", "BGDĐT")), ("Bộ Y tế", ("BYT",)),
    ("Bộ Dân tộc và Tôn giáo", ()), ("Ủy ban Dân tộc", ("UBDT",)),
    ("Ngân hàng Nhà nước Việt Nam", ("NHNN",)), ("Thanh tra Chính phủ", ("TTCP",)),
)
NATIONAL: tuple[tuple[str, str, tuple[str, ...], bool], ...] = (
    ("van-phong-chinh-phu", "Văn phòng Chính phủ", ("VPCP",), False),
    ("thu-tuong-chinh-phu", "Thủ tướng Chính phủ", ("Thủ tướng",), False),
    ("chinh-phu", "Chính phủ", (), False),
    ("ubnd-cap-tinh", "Ủy ban nhân dân các tỉnh, thành phố trực thuộc Trung ương",
     ("UBND các tỉnh, thành phố trực thuộc Trung ương", "UBND các tỉnh, thành phố trực thuộc TW",
      "UBND các tỉnh, thành phố"), True),
    ("bo-co-quan-ngang-bo-co-quan-thuoc-chinh-phu",
     "Các Bộ, cơ quan ngang Bộ, cơ quan thuộc Chính phủ", ("Các bộ, ngành Trung ương",), True),
    ("y-te-bo-nganh", "Y tế các Bộ, ngành", ("Y tế Bộ, ngành",), True),
)
# Provincial bodies other than departments: (name without the place, abbreviations).
PROVINCIAL: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Văn phòng Ủy ban nhân dân tỉnh", ("Văn phòng UBND tỉnh", "VP UBND tỉnh")),
    ("Công an tỉnh", ()), ("Bộ Chỉ huy Quân sự tỉnh", ()), ("Thanh tra tỉnh", ()),
    ("Ban Dân tộc tỉnh", ()), ("Kho bạc Nhà nước tỉnh", ()), ("Cục Thuế tỉnh", ()),
    ("Bảo hiểm xã hội tỉnh", ("BHXH tỉnh",)), ("Tỉnh ủy", ()),
    ("Hội đồng nhân dân tỉnh", ("HĐND tỉnh",)), ("Tỉnh Đoàn", ()),
    ("Liên đoàn Lao động tỉnh", ()), ("Hội Liên hiệp Phụ nữ tỉnh", ()),
    ("Hội Nông dân tỉnh", ()), ("Hội Cựu chiến binh tỉnh", ()),
    ("Ủy ban Mặt trận Tổ quốc Việt Nam tỉnh", ("Ủy ban MTTQ Việt Nam tỉnh", "UBMTTQ tỉnh")),
    ("Đài Phát thanh và Truyền hình tỉnh", ("Đài PT-TH tỉnh",)),
)
# Groups of a province: (id stem, name, other forms).
PROVINCIAL_GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("ubnd-cap-huyen", "Ủy ban nhân dân các huyện, thị xã, thành phố", (
        "UBND các huyện, thị xã, thành phố", "UBND các huyện, thành phố, thị xã",
        "UBND các huyện, thành phố", "UBND các huyện, thị xã", "UBND các quận, huyện, thị xã",
        "UBND các quận, huyện", "UBND cấp huyện", "UBND các huyện, thị xã, thành phố trực thuộc")),
    ("so-ban-nganh", "Các sở, ban, ngành tỉnh", (
        "Các sở, ban, ngành", "Các sở, ngành", "Các sở, ban ngành tỉnh", "Các sở, ban, ngành thành phố")),
    ("ubnd-cap-xa", "Ủy ban nhân dân các xã, phường, đặc khu", (
        "UBND các xã, phường, đặc khu", "UBND các xã, phường", "UBND cấp xã")),
    ("co-quan-don-vi", "Các cơ quan, đơn vị", ("Các cơ quan, đơn vị liên quan",)),
    ("truong-trung-hoc-pho-thong", "Các trường trung học phổ thông", ("Các trường THPT",)),
    ("co-so-giao-duc", "Các cơ sở giáo dục", ()),
)
DISTRICT_FIELDS = (
    "Nội vụ", "Tư pháp", "Tài chính - Kế hoạch", "Kinh tế", "Kinh tế và Hạ tầng",
    "Quản lý đô thị", "Tài nguyên và Môi trường", "Lao động - Thương binh và Xã hội",
    "Văn hóa và Thông tin", "Văn hóa, Khoa học và Thông tin", "Giáo dục và Đào tạo", "Y tế",
    "Nông nghiệp và Phát triển nông thôn", "Dân tộc",
)


def _field_slug(name: str) -> str:
    return "-".join(w for w in slug_of(canonical(fold(name))).split("-") if w not in ("va", "cac"))


def national_entries() -> tuple[Entry, ...]:
    out = [Entry(_field_slug(name), name, abbr, False, new=True) for name, abbr in MINISTRIES]
    out += [Entry(i, name, abbr, group, new=True) for i, name, abbr, group in NATIONAL]
    for field, abbr in SO_FIELDS:
        forms = (f"Sở {field} các tỉnh, thành phố", *(f"Sở {a} các tỉnh, thành phố" for a in abbr))
        out.append(Entry(f"so-{_field_slug(field)}-cap-tinh",
                         f"Sở {field} các tỉnh, thành phố trực thuộc Trung ương", forms, True, new=True))
    return tuple(out)


def _province_entries(p: Province) -> list[Entry]:
    word = "thành phố" if p.kind == "thành phố" else "tỉnh"
    place = f"{word} {p.name}"
    stem = "ubnd-tp" if p.kind == "thành phố" else "ubnd-tinh"
    out = [Entry(f"{stem}-{p.slug}", f"Ủy ban nhân dân {place}",
                 (f"UBND {place}", f"UBND {word}", f"Ủy ban nhân dân {word}"), False,
                 new=True, place=p.name, province=p.key)]
    for field, abbr in SO_FIELDS:
        forms = (f"Sở {field}", f"Sở {field} {p.name}", *(f"Sở {a}" for a in abbr),
                 *(f"Sở {a} {place}" for a in abbr))
        out.append(Entry(f"so-{_field_slug(field)}-{p.slug}", f"Sở {field} {place}", forms, False,
                         new=True, place=p.name, province=p.key))
    for name, abbr in PROVINCIAL:
        local = name.replace(" tỉnh", f" {word}") if word != "tỉnh" else name
        forms = (name, local, *abbr)
        out.append(Entry(f"{_field_slug(name)}-{p.slug}", f"{local} {p.name}", forms, False,
                         new=True, place=p.name, province=p.key))
    for stem_id, name, forms in PROVINCIAL_GROUPS:
        out.append(Entry(f"{stem_id}-{p.slug}", f"{name} ({place})", (name, *forms), True,
                         new=True, place=p.name, province=p.key))
    out.append(Entry(f"phong-giao-duc-dao-tao-quan-huyen-thi-xa-{p.slug}",
                     f"Phòng Giáo dục và Đào tạo các quận, huyện, thị xã ({place})",
                     ("Phòng Giáo dục và Đào tạo các quận, huyện, thị xã",
                      "Phòng Giáo dục và Đào tạo các huyện, thị xã, thành phố",
                      "Phòng GD&ĐT các quận, huyện, thị xã"), True,
                     new=True, place=p.name, province=p.key))
    places = load_places()
    for d in places.districts.get(p.key, []):
        out.append(_district_committee(d))
    return out


def _district_committee(d: District) -> Entry:
    p = d.province
    return Entry(f"ubnd-{d.kind_slug}-{d.slug}-{p.slug}", f"Ủy ban nhân dân {d.full} ({p.full})",
                 (f"UBND {d.full}", f"Ủy ban nhân dân {d.full}"), False, new=True,
                 place=f"{d.name}, {p.name}", province=p.key, district=f"{d.kind_slug}:{d.key}")


def _district_entries(d: District) -> list[Entry]:
    p = d.province
    place = f"{d.name}, {p.name}"
    word = d.kind
    out = [Entry(f"ubnd-cap-xa-{d.slug}-{p.slug}", f"Ủy ban nhân dân các xã, thị trấn ({d.full})",
                 ("UBND các xã, thị trấn", "UBND các xã, phường, thị trấn", "UBND các xã, phường",
                  "UBND các phường, xã", "UBND cấp xã"), True, new=True, place=place,
                 province=p.key, district=f"{d.kind_slug}:{d.key}")]
    committee = _district_committee(d)
    out.append(Entry(committee.id, committee.name,
                     (*committee.abbreviations, f"UBND {word}", f"Ủy ban nhân dân {word}"), False,
                     new=True, place=place, province=p.key, district=f"{d.kind_slug}:{d.key}"))
    for field in DISTRICT_FIELDS:
        name = f"Phòng {field} {word}"
        out.append(Entry(f"{_field_slug(name)}-{d.slug}-{p.slug}", f"{name} {d.name}",
                         (name, f"Phòng {field}"), False, new=True, place=place,
                         province=p.key, district=f"{d.kind_slug}:{d.key}"))
    return out


def _commune_entries(p: Province) -> list[Entry]:
    """The People's Committees of the province's communes (the 34-province map, from July 2025)."""
    out = []
    for c in load_places().communes.get(p.key, []):
        out.append(Entry(f"ubnd-{c.kind_slug}-{c.slug}-{p.slug}", f"Ủy ban nhân dân {c.full} ({p.full})",
                         (f"UBND {c.full}", f"Ủy ban nhân dân {c.full}"), False, new=True,
                         place=f"{c.full}, {p.name}", province=p.key))
    return out


@lru_cache(maxsize=64)
def _scoped(home: AgencyMatcher, province: Province | None, district: District | None) -> AgencyMatcher:
    extra: list[Entry] = []
    is_home = province is not None and province.key == home.home_province
    if district is not None:  # the district's own bodies first: its "UBND các xã" is its own
        extra += _district_entries(district)
    if province is not None and not is_home:
        extra += _province_entries(province)
    extra += national_entries()
    if province is not None:
        extra += _commune_entries(province)
    return AgencyMatcher(home.directory, extra=extra, home=is_home,
                         scope=(province.key if province else None,
                                f"{district.kind_slug}:{district.key}" if district else None))


def matcher_for(home: AgencyMatcher, province: Province | None,
                district: District | None = None) -> AgencyMatcher:
    """The matcher for a document of `province` (and `district`); None: a national body's."""
    return _scoped(home, province, district)


def home_province(home: AgencyMatcher) -> Province | None:
    name = directory_province(home.directory)
    return load_places().province(name) if name else None
