"""Keeping the catalogue: `python -m i18n.catalogue compile` (po → mo) or `check`.

`compile` writes each `.mo` from its `.po`; `check` lists the message ids used in the code and
templates (extracted with Babel) that the Vietnamese catalogue does not translate. Babel is
imported here only, never when chidao runs.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Iterator
from pathlib import Path

from i18n import DOMAIN, LANGUAGES, LOCALE_DIR

ROOT = Path(__file__).resolve().parents[1]
# Where person-facing words live, and how Babel reads them.
SOURCES = ("chidao", "lifecycle", "tasks", "flows", "notifications", "ledger", "definitions", "i18n")
KEYWORDS = {"_": None, "N_": None, "gettext": (1,), "ngettext": (1, 2), "pgettext": ((1, "c"), 2)}


def po_path(lang: str) -> Path:
    return LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def compiled(lang: str) -> bytes:
    """What the `.po` of `lang` compiles to."""
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    with po_path(lang).open("rb") as f:
        catalog = read_po(f, locale=lang, domain=DOMAIN)
    out = io.BytesIO()
    write_mo(out, catalog, use_fuzzy=False)
    return out.getvalue()


def compile_all() -> None:
    for lang in LANGUAGES:
        po_path(lang).with_suffix(".mo").write_bytes(compiled(lang))


def used_ids() -> Iterator[tuple[str, str]]:
    """(message id, where) for every marked message in the code and the templates."""
    from babel.messages.extract import extract_from_dir

    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2"),
                  ("**/templates/**.txt", "jinja2")]
    options = {"**/templates/**": {"trim_blocks": "true", "lstrip_blocks": "true"}}
    for folder in SOURCES:
        for filename, lineno, message, _comments, context in extract_from_dir(
            ROOT / folder, method_map, options_map=options, keywords=KEYWORDS
        ):
            # a plural is one entry, found by its singular
            ids = message[:1] if isinstance(message, tuple) else (message,)
            for msgid in ids:
                if msgid:
                    yield (f"{context}\x04{msgid}" if context else msgid,
                           f"{folder}/{filename}:{lineno}")


def untranslated(lang: str = "vi") -> list[str]:
    from babel.messages.pofile import read_po

    with po_path(lang).open("rb") as f:
        catalog = read_po(f, locale=lang, domain=DOMAIN)
    missing = []
    for msgid, where in used_ids():
        context, _sep, text = msgid.rpartition("\x04")
        message = catalog.get(text, context=context or None)
        if message is None or not message.string or message.fuzzy:
            missing.append(f"{where}: {text!r}")
    return sorted(set(missing))


def main(argv: list[str]) -> int:
    if argv[:1] == ["compile"]:
        compile_all()
        return 0
    if argv[:1] == ["check"]:
        missing = untranslated()
        print("\n".join(missing) or "every message has its Vietnamese")
        return 1 if missing else 0
    print("usage: python -m i18n.catalogue compile|check", file=sys.stderr)
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
