"""At 20:30 UTC it is already the next day in Vietnam: every face shows Vietnam's date and time.

Everything here happens at 29/11/2023 20:30 UTC, which is 30/11/2023 03:30 in Asia/Ho_Chi_Minh.
The status table, the CLI's status, history and replay, a mail citing the moment, and a refusal
(the 409 text) must show 30/11/2023 (03:30) and never 29/11/2023; and each, in Vietnamese and
in English, must not carry the other language's words from the catalogue. (The agency's page
is checked the same way in tests/webhook/test_form_times.py.)
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest

import i18n
from chidao.cli import main
from definitions.calendar import default_calendar
from flows.launch import LaunchRefused, record_issuance, resolve_file
from ledger.db import ensure_schema, make_engine
from ledger.directives import Directives
from lifecycle import Refused, due_actions
from lifecycle import commands as c
from lifecycle.status import agency_rows
from notifications.compose import compose
from tasks.status import StatusInput, descriptions, table_rows

ROOT = Path(__file__).resolve().parents[1]
D2810 = ROOT / "definitions" / "directives" / "qn-2810-ubnd-kgvx-2023.yaml"
DIRECTIVE = "qn-2810-ubnd-kgvx-2023"
EVENING = dt.datetime(2023, 11, 29, 20, 30, tzinfo=dt.UTC)  # 30/11/2023 03:30 in Vietnam
VN_DATE, VN_TIME, UTC_DATE = "30/11/2023", "30/11/2023 03:30", "29/11/2023"
LANGS = ("vi", "en")
ISSUED = dt.datetime(2023, 6, 20, 20, 30, tzinfo=dt.UTC)  # 21/06/2023 03:30 in Vietnam


@cache
def _catalogue() -> dict[str, str]:
    from babel.messages.pofile import read_po

    from i18n.catalogue import po_path

    with po_path("vi").open("rb") as f:
        catalog = read_po(f, locale="vi")
    return {m.id: m.string for m in catalog if m.id and isinstance(m.id, str) and m.string}


def _phrases(text: str) -> list[str]:
    """The literal parts of a catalogue text with two words or more (placeholders cut out)."""
    parts = re.split(r"\{[^}]*\}|[;:()*—·\n]", text)
    return [p.strip(" ,.") for p in parts if len(p.strip(" ,.").split()) >= 2]


def other_language_words(text: str, lang: str, data: tuple[str, ...] = ()) -> list[str]:
    """Phrases of the other language's catalogue found in `text` (data such as names removed)."""
    for value in data:
        text = text.replace(value, " ")
    found = []
    for msgid, msgstr in _catalogue().items():
        if msgid == msgstr:
            continue
        for phrase in _phrases(msgid if lang == "vi" else msgstr):
            if phrase in text:
                found.append(phrase)
    return found


# Words that are English only: none may stand in Vietnamese text (data removed).
ENGLISH_WORDS = frozenset(
    "the and of for due report reports agency agencies status level cycle overdue escalation "
    "escalations completed submitted received reminder notice nothing recorded directive "
    "cannot already awaits review open closed".split()
)
# Letters Vietnamese writes and English does not: none may stand in English text (data removed).
VIETNAMESE_LETTERS = re.compile(
    "[àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ]", re.I
)


def mixed_language(text: str, lang: str, data: tuple[str, ...] = ()) -> list[str]:
    """What in `text` belongs to the other language: its catalogue's phrases, and English
    words in Vietnamese or Vietnamese letters in English (data such as names removed)."""
    found = other_language_words(text, lang, data)
    for value in data:
        text = text.replace(value, " ")
    # links, keys and ids are for machines: `http://…/agencies/…`, `qn-…:2023:…`, `so_x`
    text = re.sub(r"\S*(?:https?://|[:/_])\S*", " ", text)
    if lang == "vi":
        found += sorted({w for w in re.findall(r"[A-Za-z]+", text) if w.lower() in ENGLISH_WORDS
                         and not re.search(rf"[\w-]{w}|{w}[\w-]", text)})  # not part of an id
    else:
        found += sorted({m.group(0) for m in VIETNAMESE_LETTERS.finditer(text)})
    return found


def assert_vietnam_time(text: str, *, time_too: bool = False) -> None:
    assert (VN_TIME if time_too else VN_DATE) in text, text
    assert UTC_DATE not in text, text


@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Directives]]:
    folder = tmp_path_factory.mktemp("evening")
    url = f"sqlite:///{folder / 'ledger.db'}"
    mp = pytest.MonkeyPatch()
    mp.setenv("CHIDAO_HOME", str(folder / "home"))
    mp.setenv("CHIDAO_DATABASE_URL", url)
    engine = make_engine(url)
    ensure_schema(engine)
    directives = Directives.over(engine)
    # issued on its date (business time), so `replay --as-of` the evening sees it issued
    record_issuance(directives, resolve_file(D2810), ISSUED, actor="operator:test")
    report = c.SubmitReport(actor="so-ldtbxh", agency="so-ldtbxh", cycle="2023", text="Báo cáo.")
    directives.execute(DIRECTIVE, report, EVENING, key="evening:report")
    ask = c.RequestExtension(
        actor="ubnd-ba-to", agency="ubnd-ba-to", cycle="2023",
        reason="Đang chờ số liệu của các xã.", proposed_due=dt.date(2023, 12, 8),
    )  # fmt: skip
    directives.execute(DIRECTIVE, ask, EVENING, key="evening:ask")
    grant = c.GrantExtension(actor="ubnd-tinh", agency="ubnd-ba-to", cycle="2023")
    directives.execute(DIRECTIVE, grant, EVENING + dt.timedelta(minutes=5), key="evening:grant")
    yield url, directives
    engine.dispose()
    mp.undo()


def _data(directives: Directives) -> tuple[str, ...]:
    """Names and texts that are data, not words of the program (Vietnamese in both languages)."""
    state = directives.state(DIRECTIVE)
    d = state.definition.definition
    names = [a.name for a in state.definition.tracked] + [state.definition.issuer.name]
    return (d.subject, d.reference, *sorted(names, key=len, reverse=True))


@pytest.mark.parametrize("lang", LANGS)
def test_the_status_table_shows_vietnam_time_in_one_language(
    ledger: tuple[str, Directives], lang: str
) -> None:
    _url, directives = ledger
    state = directives.state(DIRECTIVE)
    rows = agency_rows(state, "2023", EVENING + dt.timedelta(hours=1))
    table = table_rows(rows, lang)
    reported = next(r for r in table if "so-ldtbxh" in r.values())
    assert reported[i18n.gettext("Last event at", lang)] == VN_TIME
    text = repr(table)
    assert UTC_DATE not in text
    wake = EVENING + dt.timedelta(hours=2)
    inp = StatusInput(directive=DIRECTIVE, reference="2810/UBND-KGVX", cycle="2023", rows=rows,
                      share_reported=0.1, next_wakeup=wake, failed_notifications=2, events=[],
                      language=lang)  # fmt: skip
    described = " ".join(descriptions(inp))
    assert "30/11/2023 05:30" in described
    assert mixed_language(text + described, lang, _data(directives)) == []


@pytest.mark.parametrize("lang", LANGS)
def test_the_cli_shows_vietnam_time_in_one_language(
    ledger: tuple[str, Directives], lang: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url, directives = ledger
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CHIDAO_DATABASE_URL", url)
        assert main(["--lang", lang, "history", DIRECTIVE]) == 0
        history = capsys.readouterr().out
        assert_vietnam_time(history, time_too=True)
        assert main(["--lang", lang, "replay", DIRECTIVE, "--as-of", "2023-11-29T20:31:00+00:00"]) == 0
        replay = capsys.readouterr().out
        assert "30/11/2023 03:31" in replay and UTC_DATE not in replay
        assert main(["--lang", lang, "status", DIRECTIVE, "--as-of", "2023-11-29T20:31:00+00:00"]) == 0
        status = capsys.readouterr().out
        assert "30/11/2023" in status and UTC_DATE not in status
        assert i18n.gettext("completed on time", lang) in status
    data = _data(directives)
    for text in (history, replay, status):
        assert mixed_language(text, lang, data) == [], text


@pytest.mark.parametrize("lang", LANGS)
def test_a_mail_citing_the_moment_gives_vietnam_date(
    ledger: tuple[str, Directives], lang: str
) -> None:
    _url, directives = ledger
    state = directives.state(DIRECTIVE)
    later = EVENING + dt.timedelta(minutes=6)
    actions = [a for a in due_actions(state, later, default_calendar()) if a.agency == "ubnd-ba-to"]
    granted = [n for a in actions for n in compose(a, state, answer_url="http://x", language=lang)
               if n.kind == "extension_granted"]  # fmt: skip
    assert granted, [a.kind for a in actions]
    notice = granted[0]
    # it cites the day the extension was asked for: 30/11 in Vietnam, not 29/11
    assert VN_DATE in notice.text if lang == "vi" else "30 November 2023" in notice.text
    assert UTC_DATE not in notice.text and "29 November 2023" not in notice.text
    data = (*_data(directives), state.definition.definition.subject.removeprefix("V/v "),
            "Đang chờ số liệu của các xã.")  # the agency's own words
    for text in (notice.subject, notice.text, notice.html):
        assert mixed_language(text, lang, data) == [], text


@pytest.mark.parametrize("lang", LANGS)
def test_a_refusal_gives_vietnam_date(ledger: tuple[str, Directives], lang: str) -> None:
    _url, directives = ledger
    with pytest.raises(LaunchRefused) as twice:  # launching again names when, in Vietnam
        record_issuance(directives, resolve_file(D2810), EVENING, actor="operator:test")
    assert "21/06/2023 03:30" in str(twice.value) and "20/06/2023" not in str(twice.value)
    again = c.SubmitReport(actor="so-ldtbxh", agency="so-ldtbxh", cycle="2023", text="Lại.")
    with pytest.raises(Refused) as refused:
        directives.execute(DIRECTIVE, again, EVENING + dt.timedelta(hours=1), key="evening:again")
    assert_vietnam_time(str(refused.value))
    said = refused.value.in_language(lang)  # what the faces show, in their language
    assert_vietnam_time(said)
    assert mixed_language(said, lang, _data(directives)) == [], said
    i18n.set_language(lang)
    try:
        with pytest.raises(LaunchRefused) as twice:
            record_issuance(directives, resolve_file(D2810), EVENING, actor="operator:test")
    finally:
        i18n.set_language(None)
    assert "21/06/2023 03:30" in str(twice.value)
    assert mixed_language(str(twice.value), lang, _data(directives)) == [], str(twice.value)
