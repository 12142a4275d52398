"""Matching agency names in (possibly damaged) text against the agency directory.

Names are compared on folded keys (no accents, OCR confusions undone) with rapidfuzz, so
`S& Giao duc va Pao tao` finds `so-gddt`. A match carries its score, so the draft can say how
sure it is; what matches nothing is proposed as a new directory entry, never forced onto one.

Places guard every match: each alias knows the places its words name and the places its agency
is of (`named_places`: provinces, districts with their kind, communes), and a name is matched to
an alias only if it names no place the agency is not of and every place the alias names. So a
fuzzy score never turns "UBND huyện Sơn Hòa" into Sơn Hà, nor a name that goes on ("… thành phố
Hà Nội") into a shorter one of another place.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml
from rapidfuzz import fuzz, process

from definitions.schema import Directory
from importer.errors import ImportFailed
from importer.normalize import collapse_spaces, fold, squash

SURE = 92.0  # at or above: the draft calls the match sure
ACCEPT = 80.0  # below: no match at all
SYNONYM_CONFIDENCE = 0.75

# Generic phrases the documents use for a group, keyed by the group's own folded name.
# Accepted only when the directory has that group; reported as a reading, not a certainty.
GROUP_SYNONYMS: dict[str, tuple[str, ...]] = {
    "ubnd cac huyen thi xa thanh pho": (
        "ubnd cac huyen", "ubnd cac huyen co lien quan", "ubnd huyen thi xa thanh pho",
        "cac dia phuong", "dia phuong", "dia phuong lien quan", "cac dia phuong lien quan",
        "ubnd cap huyen",
    ),
    "cac so ban nganh tinh": (
        "cac so ban nganh", "cac so nganh", "cac so nganh co lien quan", "cac so ban nganh lien quan",
        "cac so ban nganh co lien quan", "cac so nganh lien quan", "cac so ban nganh tinh lien quan",
        "cac co quan chuyen mon thuoc ubnd tinh",
    ),
}

_CANON = (
    (re.compile(r"\buy ban nhan dan\b"), "ubnd"),
    (re.compile(r"\bhoi dong nhan dan\b"), "hdnd"),
    (re.compile(r"\bmat tran to quoc viet nam\b"), "mttqvn"),
)
_TOKEN = re.compile(r"\w+")
# Words that may trail a name in a list without being part of it.
_TRAILERS = (("co", "lien", "quan"), ("lien", "quan"), ("tinh",))
_AGENCY_WORDS = (
    "so", "ban", "bo", "hoi", "ubnd", "uy", "cong", "dai", "bao", "trung", "cuc", "chi", "van",
    "thanh", "kho", "ngan", "lien", "tinh", "doan", "vien", "truong", "benh", "cang", "tong",
    "ho", "quy", "toa", "vks",
)


def canonical(key: str) -> str:
    """A squashed folded key with long official words shortened as documents abbreviate them."""
    key = squash(key)
    for pattern, short in _CANON:
        key = pattern.sub(short, key)
    return key


@dataclass(frozen=True)
class Entry:
    """An agency or group to match: from the directory, or a generic one of the national system."""

    id: str
    name: str
    abbreviations: tuple[str, ...]
    is_group: bool
    new: bool = False  # not in the directory: matching it proposes a new entry
    place: str | None = None  # the place it belongs to, for a proposal ("Sơn Hòa, Phú Yên")
    province: str | None = None  # folded keys of its province and district
    district: str | None = None


def _words(text: str) -> list[str]:
    """The words of `text` as written, diacritics kept (NFC, case folded)."""
    return re.findall(r"\w+", unicodedata.normalize("NFC", text).casefold())


@dataclass(frozen=True)
class Alias:
    id: str
    text: str  # the proper Vietnamese words of this alias
    name: str  # the directory's name of the agency or group
    key: str
    is_group: bool
    synonym: bool = False
    places: frozenset[str] = frozenset()  # places the alias names: the text must name them too
    owner_places: frozenset[str] = frozenset()  # every place the agency is of
    new: bool = False
    place: str | None = None


@dataclass(frozen=True)
class Match:
    id: str
    text: str  # proper text to write in the draft
    name: str
    score: float
    is_group: bool
    start: int  # span in the searched string
    end: int
    synonym: bool = False
    source_text: str = ""
    new: bool = False
    place: str | None = None

    @property
    def confidence(self) -> float:
        if self.synonym:
            return SYNONYM_CONFIDENCE
        return round(min(self.score, 100.0) / 100.0, 2)

    @property
    def sure(self) -> bool:
        return not self.synonym and self.score >= SURE

    def note(self) -> str:
        if self.synonym:
            return f'read "{self.source_text}" as {self.id} ({self.name})'
        if self.score >= 99.5:
            return f"{self.id} ({self.name})"
        return f'matched "{self.source_text}" → {self.id} ({self.name}) at {self.score:.0f}%'


@dataclass
class ListResult:
    matches: list[Match] = field(default_factory=list)
    end: int = 0  # where in the string the list stopped
    rest: str = ""  # what followed, unread


def load_directory_file(path: Path | None = None) -> Directory:
    """The agency directory: through the definitions loader, or one YAML file given by path."""
    try:
        if path is None:
            from definitions.loader import load_directory

            return load_directory()
        if path.is_dir():
            from definitions.loader import load_directory

            return load_directory(path)
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return Directory.model_validate(data)
    except ImportFailed:
        raise
    except Exception as e:  # a broken directory is the user's input too
        raise ImportFailed(f"cannot read the agency directory: {str(e).splitlines()[0]}") from e


@lru_cache(maxsize=8192)
def named_places(key: str) -> frozenset[str]:
    """The places a canonical key names: `p:<province>`, `d:<kind>:<district>`, `c:<kind>:<commune>`.

    A province after `tỉnh`/`thành phố` or standing alone; a district only after its kind
    (`huyện`, `thị xã`, `thành phố`, `quận`), so a person's or a river's name is not a place.
    """
    from importer.places import load_places

    places = load_places()
    tags: set[str] = set()
    taken: list[tuple[int, int]] = []
    for m in _KIND_WORD.finditer(key):
        kind = m.group(1)
        words = key[m.end() :].split()[:4]
        for n in range(len(words), 0, -1):
            name = " ".join(words[:n])
            span = (m.end(), m.end() + len(name))
            province = places.province(name) if kind in ("tinh", "thanh pho", "tp") else None
            if kind != "tinh" and any(d.kind_slug == _KIND_TAG[kind]
                                      for d in places.district_keys.get(name, ())):
                tags.add(f"d:{_KIND_TAG[kind]}:{name}")
                if province is not None and province.kind == "thành phố":
                    tags.add(f"p:{province.key}")
                taken.append(span)
                break
            if province is not None:
                tags.add(f"p:{province.key}")
                taken.append(span)
                break
    for m in _COMMUNE_WORD.finditer(key):
        words = key[m.end() :].split()[:4]
        for n in range(len(words), 0, -1):
            name = " ".join(words[:n])
            if any(c.kind_slug == m.group(1).replace(" ", "-")
                   for c in places.commune_keys.get(name, ())):
                tags.add(f"c:{m.group(1).replace(' ', '-')}:{name}")
                taken.append((m.end(), m.end() + len(name)))
                break
    for province, start, _ in places.provinces_in(key):
        if not any(s <= start < e for s, e in taken):
            tags.add(f"p:{province.key}")
    return frozenset(tags)


_UNIT_KINDS = ("huyen", "thi", "thanh", "quan", "xa", "phuong", "tp")
_KIND_TAG = {"huyen": "huyen", "thi xa": "tx", "thanh pho": "tp", "tp": "tp", "quan": "quan"}
_COMMUNE_WORD = re.compile(r"(?<!\bthi )\b(xa|phuong|dac khu)\s+")
_KIND_WORD = re.compile(r"\b(tinh|thanh pho|tp|huyen|thi xa|quan)\s+")


def directory_province(directory: Directory) -> str | None:
    """The province the directory's issuer is of ("Quảng Ngãi"), if it names one."""
    suffix = _province_suffix(directory)
    return re.sub(r"^(tỉnh|thành phố)\s+", "", suffix) if suffix else None


def _province_suffix(directory: Directory) -> str | None:
    for agency in directory.agencies:
        if agency.kind == "issuer":
            m = re.search(r"\b(tỉnh|thành phố)\s+.+$", agency.name)
            if m:
                return m.group(0)
    return None


def directory_entries(directory: Directory, province: str | None) -> list[Entry]:
    """The directory's agencies and groups as entries of its province (a folded key)."""
    out = [Entry(a.id, a.name, tuple(a.abbreviations), False, province=province)
           for a in directory.agencies]
    out += [Entry(g.id, g.name, tuple(g.abbreviations), True, province=province)
            for g in directory.groups]
    return out


class AgencyMatcher:
    """Finds agencies and groups in text; built once per directory and scope.

    `home`: the document is of the directory's own province, so its bare names ("Sở Y tế") are
    the directory's; otherwise only directory names that name the province themselves match,
    and `extra` (the national system's generic entries for the document's place) come first.
    Whatever the scope, a name that names a place matches only an entry of that place.
    """

    def __init__(self, directory: Directory, extra: Sequence[Entry] = (), *, home: bool = True,
                 scope: tuple[str | None, str | None] | None = None) -> None:
        self.directory = directory
        self.home = home
        self.province_suffix = _province_suffix(directory)
        home_name = directory_province(directory)
        self.home_province = canonical(fold(home_name)) if home_name else None
        self.scope = scope if scope is not None else (self.home_province, None)
        own = directory_entries(directory, self.home_province)
        entries = [*own, *extra] if home else [*extra, *own]
        self.entries = {e.id: e for e in entries}
        self.names: dict[str, str] = {e.id: e.name for e in entries}
        self.groups = {e.id for e in entries if e.is_group}
        aliases: list[Alias] = []
        suffix_key = canonical(fold(self.province_suffix)) if self.province_suffix else ""
        for entry in entries:
            owner = named_places(canonical(fold(entry.name)))
            if entry.province:
                owner |= {f"p:{entry.province}"}
            if entry.district:
                owner |= {f"d:{entry.district}"}  # "d:<kind>:<name>"
            keys = [(text, canonical(fold(text))) for text in (entry.name, *entry.abbreviations)]
            if not entry.new and not entry.is_group:
                key = canonical(fold(entry.name))
                if suffix_key and not key.endswith(suffix_key.split(" ", 1)[-1]):
                    keys.append((entry.name, f"{key} {suffix_key}"))
            if not entry.new and entry.is_group and home:
                own_keys = {k for _, k in keys}
                for template, phrases in GROUP_SYNONYMS.items():
                    if template in own_keys:
                        for phrase in phrases:
                            aliases.append(Alias(entry.id, phrase, entry.name, phrase, True, True,
                                                 frozenset(), owner))
            for text, key in keys:
                places = named_places(key)
                if not entry.new and not home and not places:
                    continue  # "Sở Y tế" of another province's letter is not this directory's
                aliases.append(Alias(entry.id, text, entry.name, key, entry.is_group, False,
                                     places, owner, entry.new, entry.place))
        # one entry per key; the texts sharing it ("Ủy ban nhân dân …" and "UBND …") are kept
        # so the draft can write the one the document itself used
        seen: dict[str, Alias] = {}
        self.spellings: dict[str, list[str]] = {}
        # agencies whose names fold to one key (xã Sơn Hà and xã Sơn Hạ): told apart by their
        # diacritics only, never by which came first
        self.homonyms: dict[str, list[Alias]] = {}
        for alias in aliases:
            seen.setdefault(alias.key, alias)
            alike = self.homonyms.setdefault(alias.key, [])
            if all(a.id != alias.id for a in alike):
                alike.append(alias)
            texts = self.spellings.setdefault(alias.key, [])
            if alias.text not in texts:
                texts.append(alias.text)
        self.aliases = list(seen.values())
        self.keys = [a.key for a in self.aliases]
        self.max_tokens = max((len(k.split()) for k in self.keys), default=1) + 2

    def __hash__(self) -> int:
        return id(self)

    def __eq__(self, other: object) -> bool:
        return self is other

    # --- whole strings ------------------------------------------------------------

    def best(self, text: str) -> Match | None:
        """The directory entry a whole string names, or None below the acceptance threshold."""
        key = canonical(fold(text))
        if not key:
            return None
        found = self._lookup(key)
        if found is None:
            return None
        alias, score = found
        return self._match(alias, score, 0, len(text), text)

    def _lookup(self, key: str) -> tuple[Alias, float] | None:
        """Best alias for a canonical key whose first word also agrees (Bộ … is not Sở …)."""
        first = key.split(" ", 1)[0]
        for _, score, index in process.extract(
            key, self.keys, scorer=fuzz.ratio, score_cutoff=ACCEPT, limit=4
        ):
            alias = self.aliases[index]
            alias_first = alias.key.split(" ", 1)[0]
            # "Sở" is the word OCR mangles most (S&, S¢, Sé, S6); nothing else gets this slack
            short_alike = alias_first == "so" and len(first) == 2 and first[:1] == "s"
            if not (short_alike or fuzz.ratio(first, alias_first) >= 66):
                continue
            if score < 100 or alias.places:
                named = named_places(key)
                if not alias.places <= named or not named <= alias.owner_places:
                    continue  # names another place than the agency's: never that agency
            return alias, float(score)
        return None

    def _homonym(self, alias: Alias, score: float, source: str) -> tuple[Alias, float]:
        """Of the agencies whose names fold to `alias`'s key, the one the source's diacritics
        name; when they name none of them (`UBND xa Son Ha`: Sơn Hà or Sơn Hạ?), the first,
        below sure, for a person to say. In its own directory a known agency wins over a
        proposed entry of the same name."""
        alike = self.homonyms.get(alias.key, [alias])
        known = [a for a in alike if not a.new] if self.home else []
        if not known:
            known = [alias]
        if len(known) == 1:
            return known[0], score
        names = [set(_words(a.name)) for a in known]
        common = set.intersection(*names)
        said = set(_words(source))
        spelled = [a for a, n in zip(known, names, strict=True) if n - common and n - common <= said]
        if len(spelled) == 1:
            return spelled[0], score
        return known[0], min(score, SURE - 1)

    def _match(self, alias: Alias, score: float, start: int, end: int, source: str) -> Match:
        alias, score = self._homonym(alias, score, source)
        text = alias.text
        spellings = self.spellings.get(alias.key, [text])
        if alias.synonym:
            text = collapse_spaces(source)
        elif len(spellings) > 1:
            source_key = squash(fold(source))
            text = max(spellings, key=lambda t: fuzz.ratio(squash(fold(t)), source_key))
        return Match(
            id=alias.id, text=text, name=alias.name, score=score, is_group=alias.is_group,
            start=start, end=end, synonym=alias.synonym, source_text=collapse_spaces(source),
            new=alias.new, place=alias.place,
        )

    # --- lists at the start of a string ------------------------------------------

    def _best_at(self, tokens: list[tuple[int, int, str]], i: int,
                 key: str = "") -> tuple[float, int, Alias] | None:
        best: tuple[float, int, Alias] | None = None
        for j in range(i + 1, min(len(tokens), i + self.max_tokens) + 1):
            chunk = canonical(" ".join(t[2] for t in tokens[i:j]))
            found = self._lookup(chunk)
            if found is None:
                continue
            alias, score = found
            if key and self._continues_elsewhere(tokens, i, j, key, alias):
                continue
            if best is None or score > best[0] or (score == best[0] and j > best[1]):
                best = (score, j, alias)
        return best

    def _continues_elsewhere(self, tokens: list[tuple[int, int, str]], i: int, j: int, key: str,
                             alias: Alias) -> bool:
        """Whether the name goes on (no comma, no "và") to name a place not the alias's own."""
        k = j
        while k < len(tokens) and k < j + 10:
            gap = key[tokens[k - 1][1] : tokens[k][0]].strip()
            # "các huyện, thị xã, thành phố tỉnh X": commas inside a list of unit kinds
            if (gap and gap not in ("-", "'", "’") and not (gap == "," and tokens[k][2] in _UNIT_KINDS)) or tokens[k][2] == "va":
                break
            k += 1
        if k == j:
            return False
        chunk = canonical(" ".join(t[2] for t in tokens[i:j]))
        longer = canonical(" ".join(t[2] for t in tokens[i:k]))
        extra = named_places(longer) - named_places(chunk)
        return bool(extra - alias.owner_places)

    def read_list(self, text: str, *, whole: bool = False) -> ListResult:
        """Agencies named one after another (`A, B và C …`) from the start of `text`.

        Stops at the first words that name no agency (the task that follows the list). With
        `whole`, the caller expects only names; the unread rest is returned for a proposal.
        """
        key = fold(text)
        tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(key)]
        result = ListResult()
        i = 0
        while i < len(tokens):
            best: tuple[float, int, Alias] | None = None
            skip = _title_length(tokens, i)
            if skip:  # "Giám đốc Sở …", "Chủ tịch UBND …": the person stands for the body
                best = self._best_at(tokens, i + skip, key)
                if best is None:
                    break  # a person's title is no agency ("Thủ trưởng" is not "Thủ tướng")
                i += skip
            else:
                best = self._best_at(tokens, i, key)
            if best is None:
                break
            score, j, alias = best
            start, end = tokens[i][0], tokens[j - 1][1]
            result.matches.append(self._match(alias, score, start, end, text[start:end]))
            # trailing "có liên quan" belongs to the list, not to what follows
            for trailer in _TRAILERS:
                words = tuple(t[2] for t in tokens[j : j + len(trailer)])
                if words == trailer and not (trailer == ("tinh",) and alias.key.endswith("tinh")):
                    j += len(trailer)
                    end = tokens[j - 1][1]
                    break
            result.end = end
            if j >= len(tokens):
                i = j
                break
            gap = key[end : tokens[j][0]]
            if tokens[j][2] == "va" and not gap.strip(" ,"):
                i = j + 1
            elif gap.strip() == "," or gap.strip() == ", -" or gap.strip() == "-":
                i = j
            else:
                i = j
                break
        rest_start = tokens[i][0] if i < len(tokens) and result.matches else (
            0 if not result.matches else len(text)
        )
        result.rest = text[rest_start:].strip(" ,;.:") if whole else text[result.end :]
        return result


# A person named for the body they head: how many words to skip to reach the body's name.
_TITLES = {
    ("giam", "doc"): 2, ("pho", "giam", "doc"): 3, ("chu", "tich"): 2, ("pho", "chu", "tich"): 3,
    ("thu", "truong"): 2, ("hieu", "truong"): 2, ("chanh",): 1, ("truong",): 1,
    ("cuc", "truong"): 2, ("chi", "cuc", "truong"): 3, ("tong", "giam", "doc"): 3,
    ("bo", "truong"): 2, ("giam", "doc", "cac"): 2,
}


def _title_length(tokens: list[tuple[int, int, str]], i: int) -> int:
    for n in (3, 2, 1):
        words = tuple(t[2] for t in tokens[i : i + n])
        if len(words) == n and words in _TITLES:
            if words == ("truong",) and (len(tokens) <= i + 1 or tokens[i + 1][2] not in ("phong", "ban")):
                continue
            if words == ("chanh",) and (len(tokens) <= i + 1 or tokens[i + 1][2] not in ("van", "thanh")):
                continue
            return _TITLES[words]
    return 0


_MATCHERS: dict[int, tuple[Directory, AgencyMatcher]] = {}


def matcher_of(directory: Directory) -> AgencyMatcher:
    """The directory's matcher, built once per directory object (each scope's is cached on it)."""
    known = _MATCHERS.get(id(directory))
    if known is not None and known[0] is directory:
        return known[1]
    if len(_MATCHERS) > 16:
        _MATCHERS.clear()
    matcher = AgencyMatcher(directory)
    _MATCHERS[id(directory)] = (directory, matcher)
    return matcher


def looks_like_agency(text: str) -> bool:
    """Whether unmatched words look like the name of a body (worth proposing as a new entry)."""
    key = canonical(fold(text))
    words = key.split()
    if key.startswith(_TASK_WORDS):  # "Chỉ đạo …", "Báo cáo …": a task, not a body
        return False
    return bool(words) and words[0] in _AGENCY_WORDS and 1 < len(words) <= 16


_TASK_WORDS = ("chi dao", "bao cao", "bao dam", "ban hanh", "to chuc", "thuc hien", "chu tri",
               "phoi hop", "tang cuong", "trien khai", "tong hop", "hoi nghi", "ban giao",
               "tham muu", "huong dan", "ra soat", "kiem tra", "cong tac", "chi tra")


def slug_for(text: str) -> str:
    key = canonical(fold(text))
    words = [w for w in key.split() if w not in ("va", "cac")]
    slug = "-".join(words)[:60].strip("-")
    return slug or "agency"


def guess_kind(text: str) -> str:
    key = canonical(fold(text))
    for prefix, kind in (
        ("so ", "department"), ("ban ", "board"), ("bo ", "ministry"), ("hoi ", "association"),
        ("dai ", "media"), ("bao ", "media"), ("ubnd huyen", "district_committee"),
        ("ubnd thanh pho", "district_committee"), ("ubnd thi xa", "district_committee"),
        ("van phong", "office"), ("tinh uy", "party"), ("hdnd", "council"),
    ):
        if key.startswith(prefix):
            return kind
    return "national_body"
