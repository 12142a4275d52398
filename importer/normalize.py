"""Text clean-up and matching keys for Vietnamese text, clean or damaged by OCR.

`clean` makes text NFC and drops what no reader wants (stray combining marks, control and
zero-width characters). `fold` gives a matching key of the *same length* as its input, so a
regex match on the key maps back to the same span of the cleaned text: accents go, `đ` → `d`,
letters are lower-cased, and the usual OCR confusions of this corpus are undone.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Characters OCR puts where a Vietnamese letter stood. Only applied inside words that also
# hold letters, so "2810" or "30/11/2023" keep their digits.
_OCR_IN_WORD = {
    "4": "a",  # x4 hội → xã
    "3": "a",  # X3 hội → Xã
    "1": "i",  # Ho1 → Hội
    "0": "o",
    "6": "o",  # S6 → Số
    "&": "o",  # S& → Sở
    "¢": "o",  # S¢ → Sở
    "§": "y",  # m§ → mỹ
    "@": "a",
}
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)
_DASHES = str.maketrans({"–": "-", "—": "-", "‐": "-", "‑": "-", "−": "-"})
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_COMBINING = re.compile("[\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f]")
_WORD = re.compile(r"\w[\w&¢§@]*", re.UNICODE)


def clean(text: str) -> str:
    """NFC text without control characters, zero-width marks or combining marks left alone.

    A tone mark split off by OCR (`Sở` written as `S` + `ơ` + U+0309 after a space) either
    composes again under NFC or is dropped: a lone combining mark carries nothing a reader can use.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    text = _CONTROL.sub("", text.translate(_ZERO_WIDTH))
    text = unicodedata.normalize("NFC", text)
    if _COMBINING.search(text):
        text = "".join(ch for ch in text if not unicodedata.combining(ch))
    return text


@lru_cache(maxsize=4096)
def _base(ch: str) -> str:
    if ch in "đĐ":
        return "d"
    decomposed = unicodedata.normalize("NFD", ch)
    base = decomposed[0].lower() if decomposed else ch
    return base if len(base) == 1 else ch


def _fold_table() -> dict[int, str]:
    table = {cp: _base(chr(cp)) for cp in (*range(0x80), *range(0xC0, 0x250), *range(0x1E00, 0x1F00))}
    table.update({ord(k): v for k, v in {"–": "-", "—": "-", "‐": "-", "‑": "-", "−": "-"}.items()})
    return table


_FOLD = _fold_table()
_OCR_CHARS = re.compile("[" + re.escape("".join(_OCR_IN_WORD)) + "]")


def fold(text: str) -> str:
    """Accent-free, lower-case matching key, one character per character of `text`."""
    key = text.translate(_FOLD)
    if not key.isascii():  # letters beyond the Latin blocks: one at a time
        key = "".join(_base(ch) for ch in key)
    if _OCR_CHARS.search(key):
        chars = list(key)
        done = -1
        for hit in _OCR_CHARS.finditer(key):
            if hit.start() < done:
                continue
            start = end = hit.start()
            while start > 0 and (key[start - 1].isalnum() or key[start - 1] in "_&¢§@"):
                start -= 1
            while end < len(key) and (key[end].isalnum() or key[end] in "_&¢§@"):
                end += 1
            done = end
            word = key[start:end]
            if word.isdigit() or not any(c.isalpha() for c in word):
                continue
            for i, c in enumerate(word):
                if c in _OCR_IN_WORD:
                    chars[start + i] = _OCR_IN_WORD[c]
        key = "".join(chars)
    return _fix_initial_p(key)


_INITIAL_P = re.compile(r"\bp(?=[aeiouy])")


def _fix_initial_p(key: str) -> str:
    # No native Vietnamese word starts with a bare `p` (only `ph`); OCR reads `Đ` as `P`.
    return _INITIAL_P.sub("d", key)


_PUNCT = re.compile(r"[^\w]+|_")


def squash(key: str) -> str:
    """A folded key with punctuation turned into single spaces, for whole-string similarity."""
    return _PUNCT.sub(" ", key).strip()


def collapse_spaces(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def strip_markup(line: str) -> str:
    """Markdown emphasis (`**5185**`, `*Gia đình học tập*`) is layout, not text."""
    return line.replace("**", "").replace("__", "").replace("*", "")
