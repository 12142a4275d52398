"""The country's administrative units, from the `vietnamadminunits` package's bundled data.

Two maps: the 63 provinces with their districts (before 1 July 2025) and the 34 provinces with
their communes (after). Read once from the package's own SQLite file (read-only), never fetched. Every name
has a folded key (`importer.normalize.fold`, squashed) so damaged text finds it; a key that two
units share (a city and its province, two provinces' districts) is kept for each of them.
"""

from __future__ import annotations

import importlib.util
import re
import sqlite3
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from importer.errors import ImportFailed
from importer.normalize import fold, squash

# Old or common names the package does not key.
PROVINCE_ALIASES = {"thua thien hue": "hue", "tp ho chi minh": "ho chi minh", "tphcm": "ho chi minh",
                    "sai gon": "ho chi minh"}
DISTRICT_KINDS = {"huyện": "huyen", "thị xã": "tx", "thành phố": "tp", "quận": "quan"}


def key_of(text: str) -> str:
    return squash(fold(text))


def _bare(name: str) -> str:
    """`Kỳ Anh (Huyện)` → `Kỳ Anh`: the package marks namesakes of one province so."""
    return re.sub(r"\s*\([^)]*\)\s*$", "", name).strip()


def slug_of(text: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", key_of(text)))


@dataclass(frozen=True)
class Province:
    name: str  # "Bình Định", "Hà Nội"
    kind: str  # "tỉnh" | "thành phố"
    key: str
    slug: str
    after_2025: bool
    before_2025: bool

    @property
    def full(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True)
class _Unit:
    """A unit inside a province; `KINDS` maps its kind words to their slugs."""

    KINDS: ClassVar[dict[str, str]] = {}

    name: str
    kind: str
    province: Province
    key: str
    slug: str

    @property
    def full(self) -> str:
        return f"{self.kind} {self.name}"

    @property
    def kind_slug(self) -> str:
        return self.KINDS[self.kind]


@dataclass(frozen=True)
class District(_Unit):
    """A district-level unit of the 63-province map (before 1 July 2025): huyện, thị xã,
    thành phố, quận; `name` as "Sơn Hòa"."""

    KINDS: ClassVar[dict[str, str]] = DISTRICT_KINDS


COMMUNE_KINDS = {"xã": "xa", "phường": "phuong", "đặc khu": "dac-khu"}


@dataclass(frozen=True)
class Commune(_Unit):
    """A commune-level unit of the 34-province map (after 1 July 2025): xã, phường, đặc khu."""

    KINDS: ClassVar[dict[str, str]] = COMMUNE_KINDS


@dataclass
class Places:
    provinces: dict[str, Province]  # by key
    districts: dict[str, list[District]] = field(default_factory=dict)  # by province key
    district_keys: dict[str, list[District]] = field(default_factory=dict)  # by district key
    communes: dict[str, list[Commune]] = field(default_factory=dict)  # by province key (2025 map)
    commune_keys: dict[str, list[Commune]] = field(default_factory=dict)  # by commune key

    def province(self, text: str) -> Province | None:
        key = key_of(text)
        key = re.sub(r"^(tinh|thanh pho|tp)\s+", "", key)
        key = PROVINCE_ALIASES.get(key, key)
        return self.provinces.get(key)

    def district(self, province: Province | None, text: str) -> list[District]:
        """Districts whose name is `text` (exactly, folded), in `province` or anywhere."""
        key = key_of(text)
        found = self.district_keys.get(key, [])
        return [d for d in found if province is None or d.province == province]

    def provinces_in(self, key: str) -> list[tuple[Province, int, int]]:
        """Province names in a folded, squashed key, with their word spans."""
        return [(self.provinces[m.group(1)] if m.group(1) in self.provinces
                 else self.provinces[PROVINCE_ALIASES[m.group(1)]], m.start(1), m.end(1))
                for m in self._province_re().finditer(key)]

    @lru_cache(maxsize=1)  # noqa: B019 - one Places per process
    def _province_re(self) -> re.Pattern[str]:
        names = sorted([*self.provinces, *PROVINCE_ALIASES], key=len, reverse=True)
        return re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")

    def __hash__(self) -> int:
        return id(self)


def _short(kind_and_name: str, kind: str) -> str:
    return kind_and_name[len(kind):].strip() if kind_and_name.lower().startswith(kind.lower()) else kind_and_name


def _dataset() -> Callable[[str], list[dict[str, Any]]]:
    """A reader of the package's bundled SQLite file, opened read-only.

    Importing `vietnamadminunits` itself loads its address parsers (seconds of JSON); the map
    is all the importer needs, so the file is found through the package's spec and read as is.
    """
    spec = importlib.util.find_spec("vietnamadminunits")
    if spec is None or not spec.submodule_search_locations:
        raise ImportFailed("the vietnamadminunits package is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "dataset.db"

    def query(sql: str) -> list[dict[str, Any]]:
        try:
            with closing(sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)) as conn:
                conn.row_factory = sqlite3.Row
                return [dict(r) for r in conn.execute(sql).fetchall()]
        except sqlite3.Error as e:
            raise ImportFailed(f"cannot read the administrative units of {path}: {e}") from e

    return query


@lru_cache(maxsize=1)
def load_places() -> Places:
    """The national map, read once per process from the package's bundled database."""
    query = _dataset()
    legacy = query(
        "SELECT DISTINCT province, provinceShort, district, districtShort, districtType "
        "FROM admin_units_legacy"
    )
    current = query("SELECT DISTINCT province, provinceShort, wardShort, wardType FROM admin_units")
    new_names = {row["provinceShort"] for row in current}
    old_names = {row["provinceShort"] for row in legacy}
    provinces: dict[str, Province] = {}
    for row in [*legacy, *current]:
        short = row["provinceShort"]
        key = key_of(short)
        if key not in provinces:
            kind = "thành phố" if row["province"].lower().startswith("thành phố") else "tỉnh"
            provinces[key] = Province(short, kind, key, slug_of(short), short in new_names,
                                      short in old_names)
    places = Places(provinces)
    for row in legacy:
        province = provinces[key_of(row["provinceShort"])]
        kind = row["districtType"].lower()
        if kind not in DISTRICT_KINDS:
            continue
        short = _bare(row["districtShort"])
        district = District(short, kind, province, key_of(short), slug_of(short))
        places.districts.setdefault(province.key, []).append(district)
        places.district_keys.setdefault(district.key, []).append(district)
    for row in current:
        kind = row["wardType"].lower()
        if kind not in COMMUNE_KINDS:
            continue
        province = provinces[key_of(row["provinceShort"])]
        short = _bare(row["wardShort"])
        commune = Commune(short, kind, province, key_of(short), slug_of(short))
        places.communes.setdefault(province.key, []).append(commune)
        places.commune_keys.setdefault(commune.key, []).append(commune)
    return places
