"""Stage: the end of the document — `Nơi nhận` on the left, the signature block on the right.

The two columns often share lines (`- Như trên;            PHÓ CHỦ TỊCH`); a flattened text has
them run together (`KT. CHỦ TỊCH PHÓ CHỦ TỊCH Lâm Hải Giang`), which `split_title_run` takes apart
by the known titles. The signer is `KT./TM./TL.` + what the signer signs for, the position, the
name; the distribution is every `Nơi nhận` entry beyond `Như trên` and the archive.
"""

from __future__ import annotations

import re

from rapidfuzz import fuzz, process

from importer.model import Context, Found
from importer.normalize import collapse_spaces, fold, squash

TITLES = {
    "chu tich": "CHỦ TỊCH", "pho chu tich": "PHÓ CHỦ TỊCH", "giam doc": "GIÁM ĐỐC",
    "pho giam doc": "PHÓ GIÁM ĐỐC", "bo truong": "BỘ TRƯỞNG", "thu truong": "THỨ TRƯỞNG",
    "truong ban": "TRƯỞNG BAN", "pho truong ban": "PHÓ TRƯỞNG BAN",
    "chanh van phong": "CHÁNH VĂN PHÒNG", "pho chanh van phong": "PHÓ CHÁNH VĂN PHÒNG",
    "ubnd": "ỦY BAN NHÂN DÂN", "uy ban nhan dan": "ỦY BAN NHÂN DÂN", "thu tuong": "THỦ TƯỚNG",
    "pho thu tuong": "PHÓ THỦ TƯỚNG", "chanh thanh tra": "CHÁNH THANH TRA",
    "bo truong chu nhiem": "BỘ TRƯỞNG, CHỦ NHIỆM", "chu nhiem": "CHỦ NHIỆM",
    "pho chu nhiem": "PHÓ CHỦ NHIỆM", "truong phong": "TRƯỞNG PHÒNG",
    "pho truong phong": "PHÓ TRƯỞNG PHÒNG", "cuc truong": "CỤC TRƯỞNG",
    "pho cuc truong": "PHÓ CỤC TRƯỞNG", "vu truong": "VỤ TRƯỞNG", "pho vu truong": "PHÓ VỤ TRƯỞNG",
}
# Deputies sign "KT." for their principal: the position under "KT. X" is the deputy of X.
DEPUTY = {"CHỦ TỊCH": "PHÓ CHỦ TỊCH", "GIÁM ĐỐC": "PHÓ GIÁM ĐỐC", "BỘ TRƯỞNG": "THỨ TRƯỞNG",
          "TRƯỞNG BAN": "PHÓ TRƯỞNG BAN", "CHÁNH VĂN PHÒNG": "PHÓ CHÁNH VĂN PHÒNG",
          "THỦ TƯỚNG": "PHÓ THỦ TƯỚNG", "BỘ TRƯỞNG, CHỦ NHIỆM": "PHÓ CHỦ NHIỆM",
          "TRƯỞNG PHÒNG": "PHÓ TRƯỞNG PHÒNG", "CỤC TRƯỞNG": "PHÓ CỤC TRƯỞNG"}
NOI_NHAN = re.compile(r"^\s*n\w{1,2}i\s+nh\w{1,2}n\s*:?")
SIGN_MARK = re.compile(r"\b(kt|tm|tl|tuq|q)\s*\.\s*")
_NAME = re.compile(r"[A-ZĐÀ-Ỹ][\wÀ-ỹ]*(\s+[A-ZĐÀ-Ỹ][\wÀ-ỹ]*){1,4}")


def _title_key(words: list[str]) -> str:
    return squash(fold(" ".join(words)))


def split_title_run(text: str) -> list[str]:
    """A run of signature lines on one line, split where one known title ends and the next begins."""
    words = text.split()
    out: list[str] = []
    i = 0
    if words and re.fullmatch(r"(?:KT|TM|TL|TUQ|Q)\.", words[0]):
        mark, i = words[0], 1
    else:
        mark = ""
    while i < len(words):
        best = 0
        for j in range(min(len(words), i + 5), i, -1):
            if _title_key(words[i:j]) in TITLES and all(w.upper() == w for w in words[i:j]):
                best = j
                break
        if not best:
            break
        out.append(f"{mark} {' '.join(words[i:best])}".strip())
        mark = ""
        i = best
    if i < len(words) and out:
        # the signer's name: the capitalised words after the titles, then whatever follows
        k = i
        while (k < len(words) and k < i + 5 and words[k][:1].isupper()
               and not (words[k].isupper() and len(words[k]) > 1)):
            k += 1
        if k - i >= 2:
            out.append(" ".join(words[i:k]))
            i = k
    if i < len(words):
        out.append(" ".join(words[i:]))
    elif mark:
        out.append(mark)
    return out or [text]


def read_tail(ctx: Context, start: int, end: int | None = None) -> None:
    """`Nơi nhận` and the signature block, from line index `start` to `end`."""
    left: list[tuple[str, int]] = []
    right: list[tuple[str, int]] = []
    in_list = False
    stop = len(ctx.keys) if end is None else end
    for i in range(start, stop):
        line, key = ctx.lines[i], ctx.keys[i]
        if not line.strip():
            continue
        nm = NOI_NHAN.match(key)
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
    ctx.doc.distribution.extend(read_distribution(ctx, left))
    read_signer(ctx, right)


def read_distribution(ctx: Context, left: list[tuple[str, int]]) -> list[Found]:
    found: list[Found] = []
    for item, line_no in left:
        if not item or squash(fold(item)) in ("nhu tren", "nhu tren,"):
            continue
        m = ctx.matcher.best(item)
        if m is not None and m.score >= 85 and not m.synonym:
            exact = squash(fold(m.text)) == squash(fold(item))
            text = m.text if (exact or item.isascii()) else item
            found.append(Found(text, line_no, m.confidence, "" if text == item else m.note()))
        else:
            found.append(Found(collapse_spaces(item), line_no, 0.9))
    return found


def _title_of(text: str) -> tuple[str, bool]:
    """The proper title a (damaged) title names, and whether the words were exactly a title."""
    key = squash(fold(text))
    if key in TITLES:
        return TITLES[key], True
    best = process.extractOne(key, list(TITLES), scorer=fuzz.ratio, score_cutoff=80)
    return (TITLES[best[0]], False) if best else (text.strip(), False)


def read_signer(ctx: Context, right: list[tuple[str, int]]) -> None:
    doc = ctx.doc
    titles: list[tuple[str, int, str]] = []  # (proper title, line, raw)
    names: list[tuple[str, int]] = []
    for text, line_no in right:
        key = fold(text).strip()
        mark = SIGN_MARK.match(key)
        if mark:
            raw = text[mark.end() :].strip()
            title, exact = _title_of(raw)
            doc.signer_on_behalf_of = Found(
                title, line_no, 0.95 if exact else 0.75,
                f'"{mark.group(1).upper()}." signer' + ("" if exact else f'; text says "{text}"'),
            )
            continue
        title_key = squash(key)
        if title_key in TITLES and text.upper() == text:
            titles.append((TITLES[title_key], line_no, text))
        elif _NAME.fullmatch(text) and not any(c.isdigit() for c in text) and text.upper() != text:
            names.append((text, line_no))
    if titles:
        title, line_no, raw = titles[0]
        # the same words, accents restored from the closed list of titles: still sure
        conf, note = (0.95, "") if raw == title else (0.9, f'text says "{raw}"')
        boss = doc.signer_on_behalf_of
        if boss is not None and boss.value == title and title in DEPUTY:
            title = DEPUTY[title]
            conf, note = 0.6, (
                f'text says "{raw}" under "KT. {boss.value}"; a KT. signer is the deputy, '
                f"so {title} is assumed (the OCR probably lost a word)"
            )
        doc.signer_position = Found(title, line_no, conf, note)
    elif doc.signer_on_behalf_of is not None and doc.signer_on_behalf_of.value in DEPUTY:
        boss = doc.signer_on_behalf_of
        doc.signer_position = Found(
            DEPUTY[boss.value], boss.line, 0.6, f"no position line; deputy of {boss.value} assumed"
        )
    if names:
        name, line_no = names[-1]
        doc.signer_name = Found(name, line_no, 0.9 if not name.isascii() else 0.6,
                                "" if not name.isascii() else "OCR text, diacritics lost")
