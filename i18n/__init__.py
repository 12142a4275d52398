"""One gettext catalogue for every word a person reads: the CLI, tables, mail, pages, errors.

The catalogue is `i18n/locale/<lang>/LC_MESSAGES/chidao.po` (Babel's format), compiled to the
`.mo` beside it. Both are committed: the program reads the `.mo` with the standard library's
`gettext` (no Babel import, no compile step at install or at run time, nothing written into a
read-only site-packages), and `tests/i18n/test_catalogue.py` fails when a `.mo` is not what its
`.po` compiles to. After editing a `.po`, run `python -m i18n.catalogue compile`.

Message ids are English; `en` is therefore the ids themselves (its `.po` holds only the
header), and `vi` translates every one of them (a test extracts the ids from the code and
the templates and checks that each has its Vietnamese). Vietnamese is the default.

Lower layers are given a language and call `gettext(message, lang)`; the faces (the CLI)
choose one for the process with `set_language` and use `_`. Mark a message kept for later
translation (a table of labels) with `N_`, so the extractor still finds it.
"""

from __future__ import annotations

import gettext as _gettext
from functools import cache
from pathlib import Path
from typing import Final, Literal, cast

Language = Literal["vi", "en"]
LANGUAGES: Final[tuple[Language, ...]] = ("vi", "en")
DEFAULT_LANGUAGE: Final[Language] = "vi"
DOMAIN: Final = "chidao"
LOCALE_DIR: Final = Path(__file__).parent / "locale"


class UnknownLanguage(ValueError):
    """A language chidao has no catalogue for."""


def language_of(value: str | None, default: Language = DEFAULT_LANGUAGE) -> Language:
    """`vi`, `en` (also `en_US.UTF-8`, `EN`); None or empty gives the default."""
    if not value:
        return default
    code = value.strip().lower().replace("-", "_").split(".")[0].split("_")[0]
    if code not in LANGUAGES:
        raise UnknownLanguage(
            f"no language {value!r}; chidao speaks {', '.join(LANGUAGES)}"
        )
    return cast(Language, code)


@cache
def translator(lang: str = DEFAULT_LANGUAGE) -> _gettext.NullTranslations:
    """The compiled catalogue of `lang` (the ids themselves when it has no `.mo`)."""
    return _gettext.translation(
        DOMAIN, localedir=str(LOCALE_DIR), languages=[language_of(lang)], fallback=True
    )


_active: Language = DEFAULT_LANGUAGE


def set_language(lang: str | None) -> Language:
    """Choose the language of this process's person-facing text (the faces call this)."""
    global _active
    _active = language_of(lang)
    return _active


def current_language() -> Language:
    return _active


def gettext(message: str, lang: str | None = None) -> str:
    return translator(lang or _active).gettext(message)


def ngettext(singular: str, plural: str, n: int, lang: str | None = None) -> str:
    return translator(lang or _active).ngettext(singular, plural, n)


def pgettext(context: str, message: str, lang: str | None = None) -> str:
    return translator(lang or _active).pgettext(context, message)


def _(message: str) -> str:
    """`message` in the process's language."""
    return translator(_active).gettext(message)


def N_(message: str) -> str:
    """Marks `message` for the catalogue without translating it now."""
    return message
