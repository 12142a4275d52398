"""Stage 2: where the parts of the national format (Decree 30/2020) begin and end.

Header (issuer, motto, number, place and date, kind and subject), address block (`Kính gửi:` or,
when the label is lost, the dash lines under the subject), body, the end (`Nơi nhận:` and the
signature), and an attachment signed with it (a plan "Ban hành kèm theo Quyết định …"). A text
with no `Số:` near its top but a directive cited with "ban hành"/"ký" is a news report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from importer.header import NUMBER
from importer.signature import NOI_NHAN, SIGN_MARK

KINH_GUI = re.compile(r"^\s*k\w{2,3}h\s+g\w{1,2}i\s*:?")
_ATTACHED = re.compile(r"^\s*\(?\s*(?:ban\s+hanh\s+)?kem\s+theo\s+(?:quyet\s+dinh|cong\s+van)")
_NEWS_LEAD = re.compile(
    r"\b(?:ky|ban\s+hanh)\b[^.]{0,40}?\b(chi\s+thi|cong\s+van|quyet\s+dinh|ke\s+hoach|thong\s+bao|"
    r"cong\s+dien|nghi\s+quyet)\s+so\s+\d"
)


@dataclass
class Segments:
    kinh_gui: int | None  # line index of "Kính gửi"
    noi_nhan: int | None  # line index of "Nơi nhận"
    signature: int | None  # line index of the first signature line (KT./TM./title) after the body
    attachment: int | None  # line index where a document signed with this one begins
    header_end: int  # where the header ends at the latest
    news: bool


def _signature_start(keys: list[str], start: int, stop: int) -> int | None:
    for i in range(start, stop):
        if SIGN_MARK.match(keys[i].strip()):
            return i
    return None


def segment(lines: list[str], keys: list[str]) -> Segments:
    n = len(keys)
    kinh_gui = next((i for i, k in enumerate(keys) if KINH_GUI.match(k)), None)
    noi_nhan = next((i for i, k in enumerate(keys) if NOI_NHAN.match(k)), None)
    attachment = None
    if noi_nhan is not None:
        for i in range(noi_nhan + 1, n):
            if _ATTACHED.match(keys[i]):
                # the attachment's own title block starts a few lines above its "kèm theo" line
                j = i
                while j > noi_nhan + 1 and lines[j - 1].strip() and lines[j - 1].strip()[:1] not in ("-", "+"):
                    j -= 1
                attachment = j
                while attachment > noi_nhan + 1 and lines[attachment - 1].isupper():
                    attachment -= 1
                break
    header_end = kinh_gui if kinh_gui is not None else min(n, 30)
    has_number = any(NUMBER.search(lines[i]) for i in range(min(n, 12)))
    news = not has_number and bool(_NEWS_LEAD.search(" ".join(keys[: min(n, 8)])))
    signature = _signature_start(keys, (noi_nhan if noi_nhan is not None else 0), n)
    return Segments(kinh_gui, noi_nhan, signature, attachment, header_end, news)
