"""Reading the national document format (Decree 30/2020/NĐ-CP) into an intermediate model.

Works line by line on cleaned text, with detection done on `fold`ed keys (so OCR damage such
as `S6:2810/UBND-KGVX` or `Qudng Ngai, ngay 20 thang 6 nam 2023` still reads) and values taken
from the cleaned text. Every value keeps the line it came from and a confidence; what is not
found stays None, and the draft turns that into a TODO.
"""

from __future__ import annotations

import bisect
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any

from importer.agencies import AgencyMatcher, Match, looks_like_agency
from importer.normalize import clean, collapse_spaces, fold, squash, strip_markup

# The Vietnamese item letters in order (the definition format's ITEM_LETTERS, first part).
LETTERS = ("a", "b", "c", "d", "đ", "e", "g", "h", "i", "k", "l", "m", "n")

KINDS = {
    "cong van": "Công văn", "chi thi": "Chỉ thị", "ke hoach": "Kế hoạch",
    "quyet dinh": "Quyết định", "thong bao": "Thông báo", "cong dien": "Công điện",
    "nghi quyet": "Nghị quyết", "ket luan": "Kết luận", "thong tu": "Thông tư",
    "nghi dinh": "Nghị định", "luat": "Luật", "huong dan": "Hướng dẫn", "de an": "Đề án",
    "chuong trinh": "Chương trình", "bao cao": "Báo cáo", "to trinh": "Tờ trình",
}
TITLES = {
    "chu tich": "CHỦ TỊCH", "pho chu tich": "PHÓ CHỦ TỊCH", "giam doc": "GIÁM ĐỐC",
    "pho giam doc": "PHÓ GIÁM ĐỐC", "bo truong": "BỘ TRƯỞNG", "thu truong": "THỨ TRƯỞNG",
    "truong ban": "TRƯỞNG BAN", "pho truong ban": "PHÓ TRƯỞNG BAN",
    "chanh van phong": "CHÁNH VĂN PHÒNG", "pho chanh van phong": "PHÓ CHÁNH VĂN PHÒNG",
    "ubnd": "ỦY BAN NHÂN DÂN", "uy ban nhan dan": "ỦY BAN NHÂN DÂN", "thu tuong": "THỦ TƯỚNG",
    "pho thu tuong": "PHÓ THỦ TƯỚNG", "chanh thanh tra": "CHÁNH THANH TRA",
}
# Deputies sign "KT." for their principal: the position under "KT. X" is the deputy of X.
DEPUTY = {"CHỦ TỊCH": "PHÓ CHỦ TỊCH", "GIÁM ĐỐC": "PHÓ GIÁM ĐỐC", "BỘ TRƯỞNG": "THỨ TRƯỞNG",
          "TRƯỞNG BAN": "PHÓ TRƯỞNG BAN", "CHÁNH VĂN PHÒNG": "PHÓ CHÁNH VĂN PHÒNG",
          "THỦ TƯỚNG": "PHÓ THỦ TƯỚNG"}
PHRASES = {"giao": "Giao", "de nghi": "Đề nghị", "yeu cau": "Yêu cầu",
           "chiu trach nhiem": "chịu trách nhiệm", "chu tri": "chủ trì"}
PLACES = (
    "An Giang", "Bà Rịa - Vũng Tàu", "Bắc Giang", "Bắc Kạn", "Bạc Liêu", "Bắc Ninh", "Bến Tre",
    "Bình Định", "Bình Dương", "Bình Phước", "Bình Thuận", "Cà Mau", "Cần Thơ", "Cao Bằng",
    "Đà Nẵng", "Đắk Lắk", "Đắk Nông", "Điện Biên", "Đồng Nai", "Đồng Tháp", "Gia Lai", "Hà Giang",
    "Hà Nam", "Hà Nội", "Hà Tĩnh", "Hải Dương", "Hải Phòng", "Hậu Giang", "Hòa Bình", "Hưng Yên",
    "Khánh Hòa", "Kiên Giang", "Kon Tum", "Lai Châu", "Lâm Đồng", "Lạng Sơn", "Lào Cai",
    "Long An", "Nam Định", "Nghệ An", "Ninh Bình", "Ninh Thuận", "Phú Thọ", "Phú Yên",
    "Quảng Bình", "Quảng Nam", "Quảng Ngãi", "Quảng Ninh", "Quảng Trị", "Sóc Trăng", "Sơn La",
    "Tây Ninh", "Thái Bình", "Thái Nguyên", "Thanh Hóa", "Thừa Thiên Huế", "Huế", "Tiền Giang",
    "Thành phố Hồ Chí Minh", "TP. Hồ Chí Minh", "Trà Vinh", "Tuyên Quang", "Vĩnh Long",
    "Vĩnh Phúc", "Yên Bái",
)

_STRAY = (
    re.compile(r"^\s*[-–—]?\s*\d{1,3}\s*[-–—]?\s*$"),  # a page number
    re.compile(r"^\s*(trang|page)\s+\d{1,3}(\s*/\s*\d{1,3})?\s*$", re.I),
    re.compile(r"^\s*(?:[a-zA-Z]:)?[\w.~\-]*[\\/][^\s]*\.(?:docx?|pdf|txt|odt|rtf|md)\s*$", re.I),
    re.compile(r"^\s*(?:file|đường dẫn|duong dan)\s*:\s*\S+[\\/]\S+\s*$", re.I),
)
_KINH_GUI = re.compile(r"^\s*k\w{2,3}h\s+g\w{1,2}i\s*:?")
_NOI_NHAN = re.compile(r"^\s*n\w{1,2}i\s+nh\w{1,2}n\s*:?")
_NUMBER = re.compile(
    r"^\s*(s\w{0,2})\s*[:.;]\s*(\d{1,6})\s*(/)?\s*([a-z0-9đ][a-z0-9đ&\-]*)", re.I
)
_DATE = re.compile(
    r"ng\w{1,2}y\s+(\d{1,2})\s+th\w{1,3}ng\s+(\d{1,2})\s+n\w{1,2}m\s+(\d{4})"
)
_SECTION = re.compile(r"^\s*(\d{1,2})\s*[.)]\s*(\S.*)$")
_ITEM = re.compile(r"^\s*([a-zđp])\s*\)\s*(.*)$")
_ITEM_DOT = re.compile(r"^\s*([a-zđ])\s*\.\s+(\S.*)$")
_HEAD_PREFIX = re.compile(r"^\s*(giao|de nghi|yeu cau)\b[\s,:]*")
_HEAD_SUFFIX = re.compile(r"^\s*(chiu trach nhiem|chu tri)\b")
_COORD = re.compile(r"ph\w{1,2}i\s+h\w{1,2}p\s+(?:ch\w{1,2}t\s+ch\w{1,2}\s+)?v\w{1,2}i\s+")
_REPORT = re.compile(r"\bb\w{1,2}o\s+c\w{1,2}o\b")
_CONSOLIDATE = re.compile(r"\bt\w{1,2}ng\s+h\w{1,2}p\b")
_BEFORE_DATE = re.compile(
    r"(?:\btr(?!ong\b)\w{1,4}|\bch\w{1,2}m\s+nh\w{1,2}t(?:\s+l\w)?)\s+ng\w{1,2}y\s+(\d{1,2})\s*[/.\-]\s*(\d{1,2})"
    r"(?:\s*[/.\-]\s*(\d{4}))?"
)
_BEFORE_DAY = re.compile(r"\btr(?!ong\b)\w{1,4}\s+ng\w{1,2}y\s+(\d{1,2})\b(?!\s*[/.\-]\s*\d)")
_WITHIN = re.compile(
    r"trong\s+(?:vong\s+|thoi\s+han\s+)?(\d{1,3})\s+ng\w{1,2}y(\s+l\w{1,2}m\s+vi\w{1,2}c)?"
)
_ANNUAL = re.compile(r"\bh\w{1,2}ng\s+n\w{1,2}m\b|\bdinh\s+ky\s+(?:hang\s+)?nam\b")
_HALF = re.compile(r"\b(?:dinh\s+ky\s+|hang\s+)?(?:6|sau)\s+thang(?:\s+mot\s+lan)?\b")
_QUARTER = re.compile(r"\bh\w{1,2}ng\s+quy\b|\bdinh\s+ky\s+(?:hang\s+)?quy\b|\btheo\s+quy\b")
_TO_WORD = re.compile(r"\b(?:ve|cho|gui|len|den|toi)\s+")
_CITED = re.compile(
    r"\b(\w+(?:\s+\w+)?)\s+(?:so\s*:?\s+)?(\d{1,5}[/\-][a-z0-9d][a-z0-9d/\-]*)"
    r"\s+ng\w{1,2}y\s+(\d{1,2})\s*/\s*(\d{1,2})\s*/\s*(\d{4})"
)
_CITED_ISSUER = re.compile(
    r"^\s*c\w{1,3}\s+(.{3,80}?)(?=\s+(?:ve|tai|nham|da|ve viec|quy dinh|trong|kinh gui)\b|[,;.(]|\n\s*\n|$)", re.S
)
_CLOSING_CUES = re.compile(
    r"^\s*(?:yeu cau|can cu|de nghi|trong qua trinh|nhan duoc|cac so|thu truong|giao|"
    r"ubnd tinh|uy ban nhan dan tinh|chu tich|dinh ky|hang nam|hang quy|tren day|"
    r"cac co quan|cac don vi)\b"
)
_SIGN_MARK = re.compile(r"\b(kt|tm|tl|tuq|q)\s*\.\s*")


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


class _Text:
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


_COMMA_GLUED = re.compile(r"(?<=[^\W\d_]),(?=[^\W\d_])")


def _unglue(line: str) -> str:
    """Split words OCR glued together (`SởThông`, `vàTruyền`, `chủ trì,phối hợp`)."""
    out: list[str] = []
    word_start = 0
    for i, ch in enumerate(line):
        if not ch.isalpha():
            word_start = i + 1
        elif (
            0 < i < len(line) - 1 and ch.isupper() and line[i - 1].islower()
            and line[i + 1].islower()
        ):
            word = line[word_start:i]
            # only after a Vietnamese word (diacritics or a short function word): keeps "iOffice"
            if not word.isascii() or fold(word) in ("va", "so", "cua", "voi", "ve"):
                out.append(" ")
                word_start = i
        out.append(ch)
    return _COMMA_GLUED.sub(", ", "".join(out))


def _is_stray(line: str) -> bool:
    return any(p.match(line) for p in _STRAY)


def _before_cue(text: str) -> str:
    """The words of a heading before its task begins (`… chủ trì, …`, `…:`)."""
    key = fold(text)
    m = re.search(r"\s(?:chiu trach nhiem|chu tri|phoi hop|thuc hien|to chuc)\b|[,:;]", key)
    return text[: m.start()] if m else text


def _restore_phrase(key: str, original: str) -> str:
    return PHRASES.get(squash(key), original)


def _date(day: str, month: str, year: str | None) -> dt.date | None:
    try:
        return dt.date(int(year), int(month), int(day)) if year else None
    except ValueError:
        return None


class DocumentReader:
    """Reads one text; `read()` returns the ParsedDocument."""

    def __init__(self, raw: str, matcher: AgencyMatcher) -> None:
        self.matcher = matcher
        lines = [_unglue(strip_markup(line).rstrip()) for line in clean(raw).split("\n")]
        self.doc = ParsedDocument(lines=lines)
        for i, line in enumerate(lines):
            if line.strip() and _is_stray(line):
                self.doc.stray_lines.append(i + 1)
                lines[i] = ""
        self.t = _Text(lines)
        self.keys = [fold(line) for line in lines]
        words = re.findall(r"[^\W\d_]{2,}", self.t.text)
        accented = sum(1 for w in words if not w.isascii())
        # Clean Vietnamese prose has diacritics on most words; OCR that lost them has few.
        self.damaged = bool(words) and accented / len(words) < 0.35
        self.doc.damaged = self.damaged

    # --- helpers ----------------------------------------------------------------

    def _ref(self, m: Match, line: int) -> AgencyRef:
        return AgencyRef(m.id, m.text if not m.synonym else m.source_text, line, m.confidence,
                         m.note(), m.is_group)

    def _refs_from_list(self, text: str, line: int, *, whole: bool) -> tuple[list[AgencyRef], str]:
        result = self.matcher.read_list(text, whole=whole)
        return [self._ref(m, line) for m in result.matches], result.rest

    def _proposal(self, text: str, line: int) -> AgencyRef:
        from importer.agencies import slug_for

        name = collapse_spaces(text).strip(" ;,.:-")
        return AgencyRef(slug_for(name), name, line, 0.5,
                         f'"{name}" is not in the directory: proposed as a new entry',
                         new=True)

    # --- the parts ----------------------------------------------------------------

    def read(self) -> ParsedDocument:
        n = len(self.keys)
        kinh_gui = next((i for i, k in enumerate(self.keys) if _KINH_GUI.match(k)), None)
        noi_nhan = next((i for i, k in enumerate(self.keys) if _NOI_NHAN.match(k)), None)
        header_end = kinh_gui if kinh_gui is not None else min(n, 30)
        self._read_number_date(header_end)
        self._read_issuer(header_end)
        subject_end = self._read_kind_subject(header_end, kinh_gui)
        body_start = subject_end
        if kinh_gui is not None:
            body_start = self._read_recipients(kinh_gui)
        body_end = noi_nhan if noi_nhan is not None else self._signature_start(body_start)
        self._read_body(body_start, body_end)
        self._read_tail(body_end)
        if kinh_gui is None and self.doc.sections:
            seen: set[str] = set()
            for section in self.doc.sections:
                for ref in section.agencies:
                    if ref.id not in seen:
                        seen.add(ref.id)
                        self.doc.recipients.append(AgencyRef(
                            ref.id, ref.text, ref.line, min(ref.confidence, 0.6),
                            "no “Kính gửi” in the text: taken from the section headings",
                            ref.is_group, ref.new,
                        ))
        self._read_cited()
        self._read_duties()
        return self.doc

    def _read_number_date(self, end: int) -> None:
        for i in range(min(end + 1, len(self.keys))):
            line, key = self.t.lines[i], self.keys[i]
            if self.doc.number is None:
                m = _NUMBER.search(line)
                if m and fold(m.group(1)).startswith("s"):
                    prefix_ok = fold(m.group(1)) == "so"
                    slash = bool(m.group(3))
                    symbol = m.group(4).upper().strip("-")
                    conf, notes = 0.95, []
                    if not prefix_ok:
                        conf -= 0.1
                        notes.append(f'"{m.group(1)}:" read as "Số:"')
                    if not slash:
                        conf -= 0.2
                        notes.append("the slash between number and symbol is missing")
                    if symbol.replace("-", "").isalpha() is False and not re.fullmatch(
                        r"[A-ZĐ0-9&-]+", symbol
                    ):
                        conf -= 0.2
                    self.doc.number = Found(int(m.group(2)), i + 1, round(conf, 2), "; ".join(notes))
                    self.doc.symbol = Found(symbol, i + 1, round(conf, 2), "; ".join(notes))
            if self.doc.issued_on is None:
                d = _DATE.search(key)
                if d:
                    day = _date(d.group(1), d.group(2), d.group(3))
                    if day is not None:
                        clean_words = "ngay" in key[d.start() : d.start() + 4] and "nam" in key
                        self.doc.issued_on = Found(day, i + 1, 0.95 if clean_words else 0.85)
                        self._read_place(i, line, key, d.start())

    def _read_place(self, index: int, line: str, key: str, date_at: int) -> None:
        head = line[:date_at].rstrip(" ,")
        if self.doc.number is not None and self.doc.number.line == index + 1:
            m = _NUMBER.search(line)
            if m:
                head = line[m.end() : date_at].rstrip(" ,")
        head = re.split(r"\s{2,}", head.strip())[-1]  # the right column of a two-column line
        head = collapse_spaces(head.strip(" ,-*"))
        if not head:
            return
        candidates = [fold(p) for p in PLACES]
        from rapidfuzz import fuzz, process

        found = process.extractOne(fold(head), candidates, scorer=fuzz.ratio, score_cutoff=75)
        if found is not None:
            place = PLACES[found[2]]
            sure = found[1] >= 99.5 and fold(head) == fold(place) and head == place
            note = "" if head == place else f'text says "{head}"'
            self.doc.place = Found(place, index + 1, 0.95 if sure else round(found[1] / 100, 2), note)
        else:
            self.doc.place = Found(head, index + 1, 0.5, "not a province name the importer knows")

    def _read_issuer(self, end: int) -> None:
        parts: list[tuple[str, int]] = []
        for i in range(min(end, 8)):
            line, key = self.t.lines[i], self.keys[i]
            if not line.strip():
                continue
            if self.doc.number is not None and i + 1 >= (self.doc.number.line or 0):
                break
            cut = len(line)
            for pattern in (r"c\w{1,2}ng\s+h\w{1,2}a\s+x", r"\w{0,2}\w?c\s+l\w{1,2}p\s*-", r"\bt\w\s+do\s*-"):
                motto = re.search(pattern, key)
                if motto:
                    cut = min(cut, motto.start())
            left = line[:cut].strip(" -")
            if left:
                parts.append((left, i + 1))
        if parts:
            text = " ".join(p for p, _ in parts)
            m = self.matcher.best(text)
            if m is None and len(parts) > 1:
                m = self.matcher.best(" ".join(p for p, _ in parts[-2:]))
            if m is not None and not m.is_group:
                self.doc.issuer = AgencyRef(m.id, m.name, parts[0][1], m.confidence,
                                            f'matched "{collapse_spaces(text)}" → {m.id} ({m.name}) at {m.score:.0f}%')
                return
            if looks_like_agency(text):
                self.doc.issuer = self._proposal(text, parts[0][1])
                return
        # No header block (a clean extract often starts at "Số:"): fall back to the symbol.
        if self.doc.symbol is not None:
            head = self.doc.symbol.value.split("-")[0]
            issuers = [a for a in self.matcher.directory.agencies if a.kind == "issuer"]
            if head == "UBND" and len(issuers) == 1:
                a = issuers[0]
                self.doc.issuer = AgencyRef(
                    a.id, a.name, self.doc.symbol.line or 0, 0.6,
                    f'no issuer block; the symbol starts with "UBND", so {a.id} ({a.name}) assumed',
                )

    def _read_kind_subject(self, header_end: int, kinh_gui: int | None) -> int:
        start = None
        for i in range(min(header_end, len(self.keys))):
            key = self.keys[i].strip()
            if re.match(r"^v\s*/\s*v\b", key):
                start = i
                self.doc.kind = Found("Công văn", i + 1, 0.8, 'a "V/v" subject line is the form of a công văn')
                break
            title = squash(key)
            if title in KINDS and title != "bao cao":
                self.doc.kind = Found(KINDS[title], i + 1, 0.9)
                j = i + 1
                while j < len(self.keys) and not self.t.lines[j].strip():
                    j += 1
                start = j
                break
        if start is None:
            return (kinh_gui + 1) if kinh_gui is not None else 0
        stop = kinh_gui if kinh_gui is not None else len(self.keys)
        words: list[str] = []
        i = start
        blank_run = 0
        while i < stop:
            line = self.t.lines[i].strip()
            if not line:
                blank_run += 1
                if kinh_gui is None and words:
                    break
                if blank_run > 2 and words:
                    break
            else:
                blank_run = 0
                if self.doc.issued_on is not None and i + 1 == self.doc.issued_on.line:
                    d = _DATE.search(self.keys[i])
                    left = self.t.lines[i][: d.start()] if d else ""
                    left = re.split(r"\s{2,}", left.strip())[0] if "  " in left.strip() else ""
                    if left.strip():
                        words.append(left.strip())
                    if kinh_gui is None or not left.strip():
                        if words:
                            i += 1
                            break
                else:
                    words.append(line)
            i += 1
        if words:
            text = collapse_spaces(" ".join(words))
            self.doc.subject = Found(
                text, start + 1, 0.7 if self.damaged else 0.9,
                "OCR text, diacritics not restored" if self.damaged else "",
            )
        return i

    def _read_recipients(self, kinh_gui: int) -> int:
        line = self.t.lines[kinh_gui]
        m = re.match(r"^\s*\S+\s+\S+\s*:?\s*", line)
        first = line[m.end() :] if m else ""
        entries: list[tuple[str, int]] = []
        if first.strip():
            entries.append((first, kinh_gui + 1))
        i = kinh_gui + 1
        while i < len(self.keys):
            text = self.t.lines[i].strip()
            if not text:
                i += 1
                if entries and i < len(self.keys) and self.t.lines[i].strip()[:1] not in "-+•":
                    break
                continue
            if text[:1] in "-+•" or not entries:
                entries.append((text, i + 1))
                i += 1
                continue
            break
        for text, line_no in entries:
            text = text.strip().lstrip("-+•").strip().rstrip(";.,")
            if not text:
                continue
            refs, rest = self._refs_from_list(text, line_no, whole=True)
            if rest and looks_like_agency(rest):
                refs.append(self._proposal(rest, line_no))
            elif rest and not refs:
                refs.append(self._proposal(text, line_no))
            self.doc.recipients.extend(refs)
        return i

    def _signature_start(self, start: int) -> int:
        for i in range(start, len(self.keys)):
            if _SIGN_MARK.match(self.keys[i].strip()):
                return i
        return len(self.keys)

    def _read_body(self, start: int, end: int) -> None:
        expected = 1
        marks: list[tuple[int, int]] = []  # (line index, section number)
        for i in range(start, end):
            m = _SECTION.match(self.t.lines[i])
            if m and int(m.group(1)) == expected:
                marks.append((i, expected))
                expected += 1
        pre_end = marks[0][0] if marks else end
        if not marks:
            self.doc.notes.append("no numbered sections found")
        body_end = self._closing_start(marks[-1][0] if marks else start, end)
        pre = self._paragraphs(start, pre_end)
        if pre:
            self.doc.preamble = Found("\n".join(pre), start + 1, 0.8)
        for k, (i, number) in enumerate(marks):
            stop = marks[k + 1][0] if k + 1 < len(marks) else body_end
            self.doc.sections.append(self._read_section(i, stop, number))
        if body_end < end:
            text = "\n".join(self._paragraphs(body_end, end))
            if text:
                self.doc.closing = Found(text, body_end + 1, 0.7,
                                         "where the last item ends and the closing begins is a reading")

    def _paragraphs(self, start: int, end: int) -> list[str]:
        paras: list[str] = []
        current: list[str] = []
        for i in range(start, end):
            line = self.t.lines[i].strip()
            if line:
                current.append(line)
            elif current:
                paras.append(" ".join(current))
                current = []
        if current:
            paras.append(" ".join(current))
        # OCR breaks paragraphs mid-sentence: rejoin a paragraph that does not end a sentence
        joined: list[str] = []
        for p in paras:
            if joined and not re.search(r"[.;:!?…”\"]$|\./\.$", joined[-1]) and p[:1].islower():
                joined[-1] += " " + p
            else:
                joined.append(p)
        return [collapse_spaces(p) for p in joined]

    def _closing_start(self, last_section: int, end: int) -> int:
        """The line where the closing paragraph begins, after the last section's items."""
        prev_end_char = ""
        candidate = end
        for i in range(last_section + 1, end):
            line = self.t.lines[i].strip()
            if not line:
                continue
            starts_para = i == 0 or not self.t.lines[i - 1].strip()
            if (starts_para and prev_end_char in ".;" and line[:1].isupper()
                    and not _ITEM.match(line) and _CLOSING_CUES.match(self.keys[i].strip())):
                candidate = i
                break
            prev_end_char = line[-1:]
        return candidate

    def _read_section(self, i: int, stop: int, number: int) -> SectionRead:
        m = _SECTION.match(self.t.lines[i])
        assert m is not None
        first = m.group(2)
        colon = first.find(":")
        heading_raw = first[:colon] if colon >= 0 else first
        after_colon = first[colon + 1 :].strip() if colon >= 0 else ""
        heading, role, agencies, h_conf, h_note, tail = self._read_heading(heading_raw, i + 1)
        # items
        items: list[ItemRead] = []
        item_marks: list[tuple[int, str, float, str]] = []
        pos = 0
        for j in range(i + 1, stop):
            line = self.t.lines[j]
            im = _ITEM.match(line) or _ITEM_DOT.match(line)
            if not im or pos >= len(LETTERS):
                continue
            letter, expected = im.group(1), LETTERS[pos]
            conf, note = 0.95, ""
            if letter != expected:
                if expected == "đ" and letter in ("d", "p") and pos > 0:
                    conf, note = 0.8, f'"{letter})" after "d)" read as "đ)" (OCR)'
                elif letter == "p" and expected == "d":
                    conf, note = 0.8, '"p)" read as "d)" (OCR)'
                else:
                    continue
            item_marks.append((j, expected, conf, note))
            pos += 1
        text_end = item_marks[0][0] if item_marks else stop
        own = [after_colon] if after_colon else []
        if tail and not after_colon and not item_marks:
            own = [tail]
        own += self._paragraphs(i + 1, text_end)
        section_text = collapse_spaces(" ".join(own)) or None
        if not item_marks and not section_text:
            section_text = collapse_spaces(first)
        for k, (j, letter, conf, note) in enumerate(item_marks):
            end = item_marks[k + 1][0] if k + 1 < len(item_marks) else stop
            im = _ITEM.match(self.t.lines[j]) or _ITEM_DOT.match(self.t.lines[j])
            assert im is not None
            body = collapse_spaces(" ".join([im.group(2), *self._paragraphs(j + 1, end)]))
            item = ItemRead(letter, body, j + 1, conf, note)
            item.coordinate_with = self._coordinates(body, j + 1, {a.id for a in agencies})
            items.append(item)
        return SectionRead(number, i + 1, heading, h_conf, h_note, role, agencies,
                           section_text if not items or after_colon else None, items, stop)

    def _read_heading(
        self, raw: str, line: int
    ) -> tuple[str, str, list[AgencyRef], float, str, str]:
        key = fold(raw)
        role = "lead"
        out = raw
        prefix_text = ""
        rest = raw
        pm = _HEAD_PREFIX.match(key)
        if pm:
            prefix_text = _restore_phrase(pm.group(1), raw[: pm.end(1)])
            if squash(pm.group(1)) == "de nghi":
                role = "requested"
            rest = raw[pm.end() :]
        refs, _ = self._refs_from_list(rest, line, whole=False)
        tail = ""
        suffix_text = ""
        if refs:
            result = self.matcher.read_list(rest)
            after = rest[result.end :]
            sm = _HEAD_SUFFIX.match(fold(after))
            if sm:
                suffix_text = _restore_phrase(sm.group(1), after[: sm.end()])
                tail = after[sm.end() :].strip(" ,:")
            else:
                tail = after.strip(" ,:")
                if tail and looks_like_agency(tail):
                    refs.append(self._proposal(tail, line))
                    tail = ""
            # rebuild the heading from the directory's proper names, keeping the separators
            pieces: list[str] = []
            cursor = 0
            for m in result.matches:
                pieces.append(rest[cursor : m.start])
                pieces.append(m.text if not m.synonym else rest[m.start : m.end])
                cursor = m.end
            names = "".join(pieces).strip()
            out = " ".join(p for p in (prefix_text, names, suffix_text) if p)
            if tail and not sm:
                out = collapse_spaces(raw)
        elif looks_like_agency(_before_cue(rest)):
            refs = [self._proposal(_before_cue(rest), line)]
            out = collapse_spaces(raw)
        else:
            out = collapse_spaces(raw)
        conf = min([r.confidence for r in refs] or [0.3])
        note = "; ".join(r.note for r in refs if r.confidence < 0.92 or r.new)
        if not refs:
            note = "could not tell which agency this section is given to"
        return collapse_spaces(out), role, refs, conf, note, tail

    def _coordinates(self, body: str, line: int, own: set[str]) -> list[AgencyRef]:
        key = fold(body)
        found: list[AgencyRef] = []
        for m in _COORD.finditer(key):
            clause_start = max(key.rfind(";", 0, m.start()), key.rfind(".", 0, m.start()))
            clause = key[clause_start + 1 : m.start()]
            if re.search(r"\bchi dao\b|\bhuong dan\b", clause) and not re.search(r"\bchu tri\b", clause):
                continue  # someone else's coordination ("chỉ đạo các cơ sở … phối hợp với …")
            refs, _ = self._refs_from_list(body[m.end() :], line, whole=False)
            for ref in refs:
                if ref.id not in own and ref.id not in {f.id for f in found}:
                    found.append(ref)
        return found

    def _read_tail(self, start: int) -> None:
        """`Nơi nhận` on the left, the signature block on the right (often on the same lines)."""
        left: list[tuple[str, int]] = []
        right: list[tuple[str, int]] = []
        in_list = False
        for i in range(start, len(self.keys)):
            line, key = self.t.lines[i], self.keys[i]
            if not line.strip():
                continue
            nm = _NOI_NHAN.match(key)
            if nm:
                in_list = True
                rest = line[nm.end() :].strip()
                if rest:
                    right.append((rest, i + 1))
                continue
            stripped = line.strip()
            if in_list and stripped[:1] in "-+•":
                body = stripped.lstrip("-+•").strip()
                cut = re.search(r"[;.](?=\s|$)", body)
                if cut:
                    item, other = body[: cut.start()], body[cut.end() :].strip()
                else:
                    sm = re.search(r"\s{2,}|\s(?=(?:KT|TM|TL)\.|[A-ZĐ]{2,}(?:\s+[A-ZĐ]{2,})+$)", body)
                    item, other = (body[: sm.start()], body[sm.end() :].strip()) if sm else (body, "")
                left.append((item.strip(), i + 1))
                if other:
                    right.append((other, i + 1))
            else:
                right.append((stripped, i + 1))
        for item, line_no in left:
            if squash(fold(item)) in ("nhu tren", "nhu tren,"):
                continue
            if not item:
                continue
            m = self.matcher.best(item)
            if m is not None and m.score >= 85 and not m.synonym:
                exact = squash(fold(m.text)) == squash(fold(item))
                text = m.text if (exact or item.isascii()) else item
                if item.isascii() and not exact:
                    text = m.text
                self.doc.distribution.append(
                    Found(text, line_no, m.confidence, "" if text == item else m.note())
                )
            else:
                self.doc.distribution.append(Found(collapse_spaces(item), line_no, 0.9))
        self._read_signer(right)

    def _read_signer(self, right: list[tuple[str, int]]) -> None:
        titles: list[tuple[str, int, str]] = []  # (proper title, line, raw)
        names: list[tuple[str, int]] = []
        for text, line_no in right:
            key = fold(text).strip()
            mark = _SIGN_MARK.match(key)
            if mark:
                rest_key = squash(key[mark.end() :])
                title = TITLES.get(rest_key)
                if title is None:
                    from rapidfuzz import fuzz, process

                    best = process.extractOne(rest_key, list(TITLES), scorer=fuzz.ratio, score_cutoff=80)
                    title = TITLES[best[0]] if best else text[mark.end() + (len(text) - len(key)) :].strip()
                self.doc.signer_on_behalf_of = Found(
                    title, line_no, 0.95 if rest_key in TITLES else 0.75,
                    f'"{mark.group(1).upper()}." signer' + ("" if rest_key in TITLES else f'; text says "{text}"'),
                )
                continue
            title_key = squash(key)
            if title_key in TITLES and text.upper() == text:
                titles.append((TITLES[title_key], line_no, text))
            elif re.fullmatch(r"[A-ZĐÀ-Ỹ][\wÀ-ỹ]*(\s+[A-ZĐÀ-Ỹ][\wÀ-ỹ]*){1,4}", text) and not any(
                c.isdigit() for c in text
            ):
                names.append((text, line_no))
        if titles:
            title, line_no, raw = titles[0]
            conf, note = (0.95, "") if raw == title else (0.85, f'text says "{raw}"')
            boss = self.doc.signer_on_behalf_of
            if boss is not None and boss.value == title and title in DEPUTY:
                title = DEPUTY[title]
                conf, note = 0.6, (
                    f'text says "{raw}" under "KT. {boss.value}"; a KT. signer is the deputy, '
                    f"so {title} is assumed (the OCR probably lost a word)"
                )
            self.doc.signer_position = Found(title, line_no, conf, note)
        elif self.doc.signer_on_behalf_of is not None and self.doc.signer_on_behalf_of.value in DEPUTY:
            boss = self.doc.signer_on_behalf_of
            self.doc.signer_position = Found(
                DEPUTY[boss.value], boss.line, 0.6, f"no position line; deputy of {boss.value} assumed"
            )
        if names:
            name, line_no = names[-1]
            self.doc.signer_name = Found(name, line_no, 0.9 if not name.isascii() else 0.6,
                                         "" if not name.isascii() else "OCR text, diacritics lost")

    def _read_cited(self) -> None:
        own_line = self.doc.number.line if self.doc.number else None
        seen: set[str] = set()
        from rapidfuzz import fuzz, process

        kinds = list(KINDS)
        for m in _CITED.finditer(self.t.key):
            line = self.t.line_of(m.start(2))
            if line == own_line:
                continue
            words = m.group(1).split()
            kind_key = " ".join(words[-2:]) if len(words) > 1 else words[0]
            best = process.extractOne(kind_key, kinds, scorer=fuzz.ratio, score_cutoff=70)
            if best is None and len(words) > 1:
                best = process.extractOne(words[-1], kinds, scorer=fuzz.ratio, score_cutoff=80)
            if best is None:
                continue
            number = self.t.text[m.start(2) : m.end(2)].rstrip("/-")
            if number in seen:
                continue
            day = _date(m.group(3), m.group(4), m.group(5))
            if day is None:
                continue
            seen.add(number)
            cited: dict[str, Any] = {"kind": KINDS[best[0]], "number": number, "issued_on": day}
            im = _CITED_ISSUER.match(self.t.key[m.end() : m.end() + 120])
            if im:
                start = m.end() + im.start(1)
                issuer = collapse_spaces(self.t.text[start : m.end() + im.end(1)])
                if issuer and issuer[0].isupper():
                    cited["issuer"] = issuer
            damaged = not self.t.text[m.start() : m.end()].replace(" ", "").isascii() or best[1] < 100
            self.doc.cited.append(Found(cited, line, 0.8 if damaged else 0.9))

    # --- reporting ------------------------------------------------------------------

    def _read_duties(self) -> None:
        regions: list[tuple[str, int, list[AgencyRef]]] = []
        for s in self.doc.sections:
            if s.text:
                regions.append((s.text, s.line, s.agencies))
            for it in s.items:
                regions.append((it.text, it.line, s.agencies))
        if self.doc.closing:
            regions.append((self.doc.closing.value.replace("\n", " "), self.doc.closing.line or 0, []))
        for text, line, owners in regions:
            self._duties_in(text, line, owners)

    def _duties_in(self, text: str, line: int, owners: list[AgencyRef]) -> None:
        key = fold(text)
        deadlines: list[tuple[int, int, dict[str, Any] | None, str, int | None]] = []
        for m in _BEFORE_DATE.finditer(key):
            year = int(m.group(3)) if m.group(3) else None
            deadlines.append((m.start(), m.end(), {"d": int(m.group(1)), "m": int(m.group(2))},
                              "", year))
        for m in _WITHIN.finditer(key):
            deadlines.append((m.start(), m.end(),
                              {"days_after_issue": int(m.group(1)), "working": bool(m.group(2))},
                              "", None))
        for m in _BEFORE_DAY.finditer(key):
            deadlines.append((m.start(), m.end(), None,
                              f'"{text[m.start():m.end()]}" names a day but no month', None))
        deadlines.sort(key=lambda d: d[0])
        prev_end = 0
        for start, end, found_rule, note, year in deadlines:
            rule = found_rule
            clause_start = max(key.rfind(";", prev_end, start), key.rfind(". ", prev_end, start), prev_end)
            clause = key[clause_start:start]
            report = list(_REPORT.finditer(clause))
            if not report:
                prev_end = end
                continue
            consolidating = bool(_CONSOLIDATE.search(clause[: report[-1].start()]))
            recurrence, stated = "once", False
            sentence_start = max(key.rfind(";", 0, start), key.rfind(". ", 0, start), 0)
            around = key[sentence_start : min(len(key), end + 40)]
            if _QUARTER.search(around):
                recurrence, stated = "quarterly", True
            elif _HALF.search(around) and "thang" in around:
                recurrence, stated = "half_yearly", True
            elif _ANNUAL.search(around):
                recurrence, stated = "annual", True
            to = self._recipient_after(text, clause_start + report[-1].end(), start, line)
            by = None
            if consolidating and self.doc.duties:
                by = self.doc.duties[-1].to  # "báo cáo về X … để X tổng hợp, báo cáo Y"
            elif consolidating and owners:
                by = owners[0]
            due: dict[str, Any] | None = None
            due_note = note
            conf = 0.85
            if rule is not None and "d" in rule:
                if year is None:
                    year = self.doc.issued_on.value.year if self.doc.issued_on else None
                    due_note = "the deadline names no year; the year of issue assumed"
                    conf = 0.6
                if recurrence == "annual":
                    due = {"each_year": f"{rule['d']}/{rule['m']}"}
                elif year is not None and _date(str(rule["d"]), str(rule["m"]), str(year)):
                    due = {"on": dt.date(year, rule["m"], rule["d"])}
                    if recurrence in ("quarterly", "half_yearly"):
                        conf = 0.6
                        due_note = ("the first cycle's date; later cycles repeat it every "
                                    "quarter/half-year — check against the text")
            elif rule is not None:
                due = dict(rule)
                if recurrence != "once":
                    due_note = "a days-after-issue deadline cannot recur; check the rule"
                    conf = 0.5
            if self.doc.issued_on and year is None:
                year = self.doc.issued_on.value.year
            sentence = collapse_spaces(text[clause_start:end].strip(" ;.,"))
            self.doc.duties.append(Duty(
                "consolidation" if consolidating and self.doc.duties else "report",
                self._line_in(text, line, start), to, by, due, due_note, recurrence, stated, year,
                sentence, conf,
            ))
            prev_end = end

    def _line_in(self, text: str, first_line: int, offset: int) -> int:
        # Region texts are joined paragraphs; find the line through the document key instead.
        words = fold(text[offset : offset + 40]).split()[:4]
        if words:
            pattern = re.compile(r"\s+".join(map(re.escape, words)))
            found = pattern.search(self.t.key, self.t.starts[first_line - 1] if first_line else 0)
            if found:
                return self.t.line_of(found.start())
        return first_line

    def _recipient_after(self, text: str, start: int, stop: int, line: int) -> AgencyRef | None:
        key = fold(text)
        positions = [start] + [m.end() for m in _TO_WORD.finditer(key, start, stop)]
        for pos in positions:
            skip = re.match(r"\s*(?:ket\s+qua(?:\s+thuc\s+hien)?\s*)?", key[pos:stop])
            at = pos + (skip.end() if skip else 0)
            refs, _ = self._refs_from_list(text[at:stop], line, whole=False)
            if refs and not refs[0].is_group:
                return refs[0]
        return None


def read_document(text: str, matcher: AgencyMatcher) -> ParsedDocument:
    return DocumentReader(text, matcher).read()
