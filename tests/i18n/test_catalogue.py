"""The catalogue: the committed `.mo` is its `.po` compiled, and every message has Vietnamese."""

from __future__ import annotations

import pytest

import i18n
from i18n import catalogue


@pytest.mark.parametrize("lang", i18n.LANGUAGES)
def test_the_committed_mo_is_what_the_po_compiles_to(lang: str) -> None:
    committed = catalogue.po_path(lang).with_suffix(".mo").read_bytes()
    assert committed == catalogue.compiled(lang), (
        f"i18n/locale/{lang}/LC_MESSAGES/chidao.mo is stale: run `python -m i18n.catalogue compile`"
    )


def test_every_message_in_the_code_and_templates_has_its_vietnamese() -> None:
    ids = {msgid for msgid, _where in catalogue.used_ids()}
    assert len(ids) > 50  # the extractor does find the messages
    assert catalogue.untranslated("vi") == []


def test_the_languages_translate_and_fall_back() -> None:
    assert i18n.gettext("Commands", "vi") == "Lệnh"
    assert i18n.gettext("Commands", "en") == "Commands"
    assert i18n.gettext("a message nobody wrote", "vi") == "a message nobody wrote"


def test_vietnamese_is_the_default_and_english_on_request() -> None:
    before = i18n.current_language()
    try:
        assert i18n.set_language(None) == "vi" and i18n._("Options") == "Tùy chọn"
        assert i18n.set_language("en_US.UTF-8") == "en" and i18n._("Options") == "Options"
        with pytest.raises(i18n.UnknownLanguage, match="chidao speaks vi, en"):
            i18n.set_language("fr")
    finally:
        i18n.set_language(before)
