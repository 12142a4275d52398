"""The intermediate reading of one document, shared by the reader's stages.

Each stage (`layout`, `segment`, `header`, `address`, `body`, `signature`, `duties`) reads a
`Context` and fills its `ParsedDocument`; every value keeps the line it came from and a
confidence, and what is not found stays None (the draft turns it into a TODO).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

from importer.agencies import AgencyMatcher, Match, canonical, named_places, slug_for
from importer.normalize import collapse_spaces, fold
from importer.places import District, Province


@dataclass
class Found:
    """One value read from the text: where it is and how sure the reading is."""

    value: Any
    line: int | None
    confidence: float
    note: str = ""


@dataclass
class AgencyRef:
    id: str
    text: str
    line: int
    confidence: float
    note: str
    is_group: bool = False
    new: bool = False  # not in the directory: a proposed entry
    place: str | None = None  # the place a proposed entry is of


@dataclass
class ItemRead:
    letter: str
    text: str
    line: int
    confidence: float
    note: str = ""
    coordinate_with: list[AgencyRef] = field(default_factory=list)


@dataclass
class SectionRead:
    number: int
    line: int
    heading: str
    heading_confidence: float
    heading_note: str
    role: str
    agencies: list[AgencyRef]
    text: str | None
    items: list[ItemRead]
    end_line: int


@dataclass
class Duty:
    """A reporting or consolidation duty with its deadline, as the text states it."""

    kind: str  # "report" | "consolidation"
    line: int
    to: AgencyRef | None
    by: AgencyRef | None
    due: dict[str, Any] | None
    due_note: str
    recurrence: str
    recurrence_stated: bool
    year: int | None
    sentence: str
    confidence: float
    reporters: list[AgencyRef] = field(default_factory=list)  # empty: every tracked agency


@dataclass
class ParsedDocument:
    lines: list[str]
    issuer: AgencyRef | None = None
    kind: Found | None = None
    number: Found | None = None
    symbol: Found | None = None
    place: Found | None = None
    issued_on: Found | None = None
    subject: Found | None = None
    recipients: list[AgencyRef] = field(default_factory=list)
    preamble: Found | None = None
    sections: list[SectionRead] = field(default_factory=list)
    closing: Found | None = None
    duties: list[Duty] = field(default_factory=list)
    signer_on_behalf_of: Found | None = None
    signer_position: Found | None = None
    signer_name: Found | None = None
    distribution: list[Found] = field(default_factory=list)
    cited: list[Found] = field(default_factory=list)
    stray_lines: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    damaged: bool = False
    news: bool = False  # a report quoting the directive, not the directive itself
    scope: str | None = None  # the place whose agencies the document's names were matched to
    matcher: AgencyMatcher | None = field(default=None, repr=False)  # that place's matcher


class Text:
    """The cleaned lines joined into one string, with its folded key and line lookup."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = lines
        self.starts: list[int] = []
        pos = 0
        for line in lines:
            self.starts.append(pos)
            pos += len(line) + 1
        self.text = "\n".join(lines)
        self.key = fold(self.text)

    def line_of(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset)  # 1-based


class Context:
    """What the stages share: the lines, their keys, the document so far and the matcher."""

    def __init__(self, lines: list[str], matcher: AgencyMatcher, doc: ParsedDocument) -> None:
        self.lines = lines
        self.keys = [fold(line) for line in lines]
        self.t = Text(lines)
        self.doc = doc
        self.matcher = matcher
        self.home = matcher
        self.place_slug = ""  # appended to proposed ids of another province ("binh-dinh")
        self.place_name: str | None = None

    def ref(self, m: Match, line: int) -> AgencyRef:
        return AgencyRef(m.id, m.text if not m.synonym else m.source_text, line, m.confidence,
                         m.note(), m.is_group, m.new, m.place)

    def refs_from_list(self, text: str, line: int, *, whole: bool) -> tuple[list[AgencyRef], str]:
        result = self.matcher.read_list(text, whole=whole)
        return [self.ref(m, line) for m in result.matches], result.rest

    def proposal(self, text: str, line: int) -> AgencyRef:
        name = collapse_spaces(text).strip(" ;,.:-")
        elsewhere = self._of_named_place(name, line)
        if elsewhere is not None:
            return elsewhere
        slug = slug_for(name)
        if self.place_slug and not slug.endswith(self.place_slug):
            slug = f"{slug}-{self.place_slug}"
        return AgencyRef(slug, name, line, 0.5,
                         f'"{name}" is not in the directory: proposed as a new entry'
                         + (f" of {self.place_name}" if self.place_name else ""),
                         new=True, place=self.place_name)

    def _of_named_place(self, name: str, line: int) -> AgencyRef | None:
        """A name that names another place than the document's: that place's body, proposed."""
        from importer.places import load_places

        places = load_places()
        tags = named_places(canonical(fold(name)))
        scope_province, scope_district = self.matcher.scope
        province = next((places.provinces[t[2:]] for t in tags if t.startswith("p:")), None)
        district = None
        for tag in tags:
            if tag.startswith("d:"):
                kind, key = tag[2:].split(":", 1)
                found = [d for d in places.district(province, key) if d.kind_slug == kind]
                if len(found) == 1:
                    district = found[0]
                    province = district.province
        for tag in tags:
            if tag.startswith("c:") and district is None:
                kind, key = tag[2:].split(":", 1)
                communes = [c for c in places.commune_keys.get(key, [])
                            if c.kind_slug == kind and (province is None or c.province == province)]
                in_scope = [c for c in communes if c.province.key == scope_province]
                if len(in_scope or communes) == 1:
                    return self._in((in_scope or communes)[0].province, None, name, line)
        if province is None or (province.key == scope_province and district is None) or (
            district is not None and f"{district.kind_slug}:{district.key}" == scope_district
        ):
            return None
        return self._in(province, district, name, line)

    def _in(self, province: Province, district: District | None, name: str,
            line: int) -> AgencyRef | None:
        from importer.national import matcher_for

        m = matcher_for(self.home, province, district).best(name)
        if m is None or not m.new:
            return None
        return AgencyRef(m.id, name, line, m.confidence,
                         f'"{name}" names {m.place}: proposed as {m.id}, a body of that place',
                         m.is_group, True, m.place)
