"""Stage 1: from raw text, as it arrives, to clean lines in the national format's order.

Undoes what copying does to a document: markup leftovers (`</xml`, `**5185**`), words hyphenated
at a line end, words glued together (`thángnăm`, `cácsở`, `BANHÀNH`, `SởThông`), page numbers
and file paths between lines, and a whole document flattened onto one or a few long lines — the
header block, "Kính gửi", the sections and "Nơi nhận" run together — which is broken again at
the markers of Decree 30/2020 (the motto, `Số:`, `V/v`, `Kính gửi:`, `1.`, `a)`, `Nơi nhận:`,
`KT.` …) so that later stages read it like a clean one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from importer.normalize import clean, fold, strip_markup

_STRAY = (
    re.compile(r"^\s*[-–—]?\s*\d{1,3}\s*[-–—]?\s*$"),  # a page number
    re.compile(r"^\s*(trang|page)\s+\d{1,3}(\s*/\s*\d{1,3})?\s*$", re.I),
    re.compile(r"^\s*(?:[a-zA-Z]:)?[\w.~\-]*[\\/][^\s]*\.(?:docx?|pdf|txt|odt|rtf|md)\s*$", re.I),
    re.compile(r"^\s*(?:file|đường dẫn|duong dan)\s*:\s*\S+[\\/]\S+\s*$", re.I),
)
_TAG = re.compile(r"<[/?!]?[A-Za-z][^<>\n]{0,200}>|</?[A-Za-z][\w:.-]*\s*$|^\s*[\w:.-]*>")
_HYPHEN_END = re.compile(r"(?<=[^\W\d_])-\n(?=[a-zà-ỹđ])")
_COMMA_GLUED = re.compile(r"(?<=[^\W\d_]),(?=[^\W\d_])")
_INITIALS = ("ngh", "ng", "nh", "ch", "gh", "gi", "kh", "ph", "qu", "th", "tr", "b", "c", "d",
             "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "x")
_SYLLABLE = re.compile(
    r"^(?:ngh|ng|nh|ch|gh|gi|kh|ph|qu|th|tr|[bcdghklmnprstvx])?[aeiouy]{1,3}(?:ng|nh|ch|[cmnpt])?$"
)
_WORDS = re.compile(r"(?<![^\W\d_])[^\W\d_]{5,14}(?![^\W\d_])")  # two glued syllables at most


@dataclass
class Layout:
    lines: list[str]
    stray_lines: list[int] = field(default_factory=list)  # 1-based, blanked


def is_stray(line: str) -> bool:
    return any(p.match(line) for p in _STRAY)


def _split_syllables(word: str) -> str:
    """`thángnăm` → `tháng năm`: a Vietnamese word is one syllable, so two glued ones split."""
    if len(word) < 5 or len(word) > 14 or word.isascii():  # two syllables are 14 letters at most
        return word
    key = fold(word)
    if _SYLLABLE.match(key):
        return word
    # the longest first syllable whose rest starts with a consonant: "ban|hanh", not "ba|nhanh"
    for i in range(len(key) - 2, 1, -1):
        left, right = key[:i], key[i:]
        if _SYLLABLE.match(left) and _SYLLABLE.match(right) and right.startswith(_INITIALS):
            return f"{word[:i]} {word[i:]}"
    return word


def _letters(upper: bool) -> str:
    cps = (*range(0x41, 0x5B), *range(0x61, 0x7B), *range(0xC0, 0x250), *range(0x1E00, 0x1F00))
    return "".join(re.escape(chr(c)) for c in cps if (chr(c).isupper() if upper else chr(c).islower()))


_CAMEL = re.compile(f"(?<=[{_letters(False)}])(?=[{_letters(True)}][{_letters(False)}])")
_WORD_BEFORE = re.compile(r"[^\W\d_]+$")


def unglue(line: str) -> str:
    """Split words glued together (`SởThông`, `vàTruyền`, `chủ trì,phối hợp`, `thángnăm`)."""
    out: list[str] = []
    last = 0
    for m in _CAMEL.finditer(line):
        before = _WORD_BEFORE.search(line, max(last, m.start() - 30), m.start())
        word = before.group() if before else ""
        # only after a Vietnamese word (diacritics or a short function word): keeps "iOffice"
        if word and (not word.isascii() or fold(word) in ("va", "so", "cua", "voi", "ve")):
            out.append(line[last : m.start()])
            out.append(" ")
            last = m.start()
    out.append(line[last:])
    text = _COMMA_GLUED.sub(", ", "".join(out))
    return _WORDS.sub(lambda m: _split_syllables(m.group()), text)


# --- flattened text: break it again at the format's markers ---------------------------

_BREAK_BEFORE = [
    re.compile(p) for p in (
        r"c\w{1,2}ng h\w{1,2}a x\w{1,2} h\w{1,2}i ch\w{1,2} ngh\w{1,2}a vi\w{1,2}t nam",
        r"\w{0,2}\w?c l\w{1,2}p\s*-\s*t\w do\s*-\s*h\w{1,2}nh ph\w{1,2}c",
        r"(?<![\w/])so\s*:\s*\d",
        r"(?<![\w/])v\s*/\s*v\s",
        r"k\w{1,2}nh g\w{1,2}i\s*:",
        r"n\w{1,2}i nh\w{1,2}n\s*:",
        r"(?<=[;:])\s*-\s+\S",
        r"(?<=[.;:])\s+\d{1,2}\.\s+(?=[a-zđ])",
        r"(?<=[.;:])\s+[a-zđ]\)\s+",
        r"(?<=[.;:])\s+(?:i|ii|iii|iv|v|vi|vii|viii|ix|x)\.\s+(?=[a-zđ])",
        r"(?<=[.;:])\s+dieu\s+\d{1,2}\.\s",
        r"(?<![\w])(?:kt|tm|tl|tuq)\.\s+(?=[a-zđ])",
    )
]
_AFTER_MOTTO = re.compile(
    r"c\w{1,2}ng h\w{1,2}a x\w{1,2} h\w{1,2}i ch\w{1,2} ngh\w{1,2}a vi\w{1,2}t nam|"
    r"\w{0,2}\w?c l\w{1,2}p\s*-\s*t\w do\s*-\s*h\w{1,2}nh ph\w{1,2}c"
)
_PLACE_DATE = re.compile(r",\s*ng\w{1,2}y\s+\d")


def _place_start(line: str, comma: int) -> int | None:
    """Where the place before `, ngày` begins: up to four capitalised words (`Bình Định`)."""
    words = list(re.finditer(r"\S+", line[:comma]))
    start = None
    for m in reversed(words[-4:]):
        word = m.group()
        if not word[:1].isupper() or not word[:1].isalpha() or "/" in word:
            break
        start = m.start()
    return start
# A kind's title in capitals before its subject: "… QUYẾT ĐỊNH Về việc ban hành …"
_KIND_TITLE = re.compile(
    r"(?<=\s)(?:QUYẾT ĐỊNH|KẾ HOẠCH|CHỈ THỊ|THÔNG BÁO|CÔNG ĐIỆN|HƯỚNG DẪN|CHƯƠNG TRÌNH)(?=\s+[A-ZĐÀ-Ỹ][a-zà-ỹđ])"
)
FLAT = 240  # a line longer than this with several markers is a flattened document


def _markers(key: str) -> list[int]:
    found: set[int] = set()
    for p in _BREAK_BEFORE:
        for m in p.finditer(key):
            at = m.start()
            while at < len(key) and key[at] == " ":
                at += 1
            if at > 0:
                found.add(at)
    for m in _AFTER_MOTTO.finditer(key):
        if m.end() < len(key):
            found.add(m.end())
    return sorted(found)


def _upper_titles(line: str) -> list[str]:
    """`KT. CHỦ TỊCH PHÓ CHỦ TỊCH Lâm Hải Giang` → its three lines."""
    from importer.signature import split_title_run

    return split_title_run(line)


def unflatten(line: str) -> list[str]:
    """One long line of a flattened document as the lines of the format."""
    key = fold(line)
    cuts = _markers(key)
    head_end = min([c for c in cuts if key.startswith(("kinh gui", "kính gửi"), c)] or [min(len(line), 700)])
    for m in _PLACE_DATE.finditer(key[:head_end]):
        at = _place_start(line, m.start())
        if at is not None:
            cuts.append(at)
    for m in _KIND_TITLE.finditer(line):
        cuts += [m.start(), m.end()]
    cuts = sorted(set(c for c in cuts if 0 < c < len(line)))
    pieces: list[str] = []
    last = 0
    for c in cuts:
        pieces.append(line[last:c])
        last = c
    pieces.append(line[last:])
    out: list[str] = []
    in_tail = False
    for piece in pieces:
        piece = piece.strip()
        if not piece:
            continue
        in_tail = in_tail or fold(piece).startswith("noi nhan")
        if piece.startswith("- "):  # the last entry of a list runs into the next paragraph
            run_on = re.search(r"[.;]\s+(?=[A-ZĐ])", piece)
            if run_on is not None:
                rest = piece[run_on.end() :]
                out += [piece[: run_on.start() + 1], *(_upper_titles(rest) if in_tail else [rest])]
                continue
        if re.match(r"(?:KT|TM|TL|TUQ)\.\s", piece) or (in_tail and piece.isupper()):
            out.extend(_upper_titles(piece))
        else:
            out.append(piece)
    return out


def prepare(raw: str) -> Layout:
    """Clean lines: markup, hyphenation, glued words, stray lines and flattening undone."""
    text = clean(raw)
    text = _HYPHEN_END.sub("", text)
    lines: list[str] = []
    for line in text.split("\n"):
        line = _TAG.sub("", strip_markup(line)).rstrip()
        line = unglue(line)
        if len(line) > FLAT and len(_markers(fold(line))) >= 3:
            lines.extend(unflatten(line))
        else:
            lines.append(line)
    layout = Layout(lines)
    for i, line in enumerate(lines):
        if line.strip() and is_stray(line):
            layout.stray_lines.append(i + 1)
            lines[i] = ""
    return layout
