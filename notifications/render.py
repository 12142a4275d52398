"""Rendering the jinja2 templates: one subject, a plain-text part and an HTML part per message.

A message's templates are `templates/<kind>.txt` and `.html`, one for both languages: their
words go through the one gettext catalogue (jinja2's i18n extension, `{% trans %}`), and the
environment of each language has that language's catalogue installed. (A kind not moved yet
keeps one file per language, `templates/<lang>/<kind>.txt`, found when the shared one is not.)
The `.txt` template of a kind defines two blocks, `subject` and `body`; its HTML twin defines
`body`. The environment uses
`StrictUndefined`, so a template that names a value the context lacks raises (and fails the
tests) instead of sending a mail with a hole in it. HTML is autoescaped; plain text is not.

Dates follow one rule in Vietnamese mail, the rule of Decree 30/2020/NĐ-CP for the date of a
document: the day on two digits, the month on two digits only for January and February
(`05/10/2021`, `20/6/2023`, `07/02/2023`, `30/11/2023`). That is how 2810 itself cites
`ngày 01/6/2023` and `ngày 07/02/2023`.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    TemplateError,
    TemplateNotFound,
    pass_context,
    select_autoescape,
)
from jinja2.runtime import Context
from markupsafe import Markup

from i18n import translator
from i18n.times import local_date
from notifications.errors import RenderError, UnknownKind

TEMPLATES_DIR: Final = Path(__file__).parent / "templates"
LANGUAGES: Final = ("vi", "en")
KINDS: Final = (
    "issue_notice",
    "reminder",
    "escalation",
    "consolidation_request",
    "consolidated_ack",
    "extension_granted",
    "extension_refused",
    "report_returned",
    "cycle_closed",
    "directive_closed",
    "delivery_failed",
    "overdue_summary",
    "explanation_requested",
)
# The HTML layout wraps a message's own content in these comments, so that a digest can lift
# the content of several messages into one document without parsing HTML.
BODY_START: Final = "<!--chidao:body-->"
BODY_END: Final = "<!--/chidao:body-->"

MONTHS_EN: Final = (
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
)


def vi_date(day: dt.date) -> str:
    """`30/11/2023`, `05/10/2021`, `20/6/2023`, `07/02/2023` (Decree 30/2020, Appendix I)."""
    month = f"{day.month:02d}" if day.month <= 2 else str(day.month)
    return f"{day.day:02d}/{month}/{day.year}"


def en_date(day: dt.date) -> str:
    """`30 November 2023`."""
    return f"{day.day} {MONTHS_EN[day.month - 1]} {day.year}"


def format_date(day: dt.date | dt.datetime, language: str) -> str:
    """A date in a message; a moment gives its date in Vietnam (20:30 UTC is the next day)."""
    if isinstance(day, dt.datetime):
        day = local_date(day)
    return vi_date(day) if language == "vi" else en_date(day)


@pass_context
def _date_filter(context: Context, day: dt.date | dt.datetime) -> str:
    # The language is part of every context, so one filter serves both languages.
    return format_date(day, str(context["lang"]))


def _plural(count: int, singular: str, plural: str | None = None) -> str:
    """English plural: `1 working day`, `3 working days`."""
    return f"{count} {singular if count == 1 else (plural or singular + 's')}"


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def make_environment(folder: Path = TEMPLATES_DIR, language: str = "vi") -> Environment:
    """The templates' environment for `language`, its catalogue installed (jinja2.ext.i18n)."""
    env = Environment(
        loader=FileSystemLoader(str(folder)),
        undefined=StrictUndefined,
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translator(language), newstyle=True)  # type: ignore[attr-defined]
    env.filters["date"] = _date_filter
    env.filters["plural"] = _plural
    env.globals["Markup"] = Markup  # markup passed into a translated sentence (`<strong>`)
    return env


_ENVS: dict[str, Environment] = {}


def environment(language: str = "vi") -> Environment:
    if language not in _ENVS:
        _ENVS[language] = make_environment(language=language)
    return _ENVS[language]


def template_names(kind: str, language: str) -> tuple[str, str]:
    """The `.txt` and `.html` templates of `kind`: the shared pair, else `language`'s own."""
    if (TEMPLATES_DIR / f"{kind}.txt").exists():
        return f"{kind}.txt", f"{kind}.html"
    return f"{language}/{kind}.txt", f"{language}/{kind}.html"


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def _tidy_text(text: str) -> str:
    # Templates are written for legibility; collapse the blank lines their tags leave behind.
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip() + "\n"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def render(kind: str, language: str, context: Mapping[str, Any]) -> Rendered:
    """The subject, text and HTML of a message of `kind` in `language`."""
    if language not in LANGUAGES:
        raise UnknownKind(f"no templates in language {language!r}; there are {', '.join(LANGUAGES)}")
    if kind not in KINDS:
        raise UnknownKind(f"no template for a {kind!r} message; kinds are {', '.join(KINDS)}")
    env = environment(language)
    values = {**context, "lang": language, "kind": kind}
    text_name, html_name = template_names(kind, language)
    try:
        text_template = env.get_template(text_name)
        html_template = env.get_template(html_name)
        subject = "".join(text_template.blocks["subject"](text_template.new_context(values)))
        text = text_template.render(values)
        html = html_template.render(values)
    except TemplateNotFound as e:
        raise UnknownKind(f"template {e.name} is missing") from e
    except KeyError as e:
        raise RenderError(f"template {language}/{kind}.txt has no subject block") from e
    except (TemplateError, TypeError, ValueError, AttributeError) as e:
        raise RenderError(f"template {language}/{kind} failed: {e}") from e
    return Rendered(nfc(_one_line(subject)), nfc(_tidy_text(text)), nfc(html))


def html_body(html: str) -> str:
    """The content of a rendered message's HTML, without its layout."""
    start, end = html.find(BODY_START), html.find(BODY_END)
    if start < 0 or end < start:
        return html
    return html[start + len(BODY_START) : end]


def text_body(text: str) -> str:
    """A rendered message's text without its footer (what follows the `--` line)."""
    return text.split("\n--\n", 1)[0].strip()


@dataclass(frozen=True)
class DigestPart:
    subject: str
    text: str
    html: str


REFERENCE = re.compile(r"^\[([^\]]+)\]")


def render_digest(language: str, day: dt.date, parts: Sequence[DigestPart]) -> Rendered:
    """One message listing several, for a recipient owed several on the same day."""
    if language not in LANGUAGES:
        raise UnknownKind(f"no templates in language {language!r}")
    references: list[str] = []
    for part in parts:
        found = REFERENCE.match(part.subject)
        if found and found.group(1) not in references:
            references.append(found.group(1))
    values = {
        "lang": language,
        "kind": "digest",
        "day": day,
        "references": references,
        # each part's HTML was escaped when it was rendered; it goes in as markup
        "parts": [
            {"subject": p.subject, "text": text_body(p.text), "html": Markup(html_body(p.html))} for p in parts
        ],
    }
    env = environment(language)
    text_name, html_name = template_names("digest", language)
    try:
        text_template = env.get_template(text_name)
        html_template = env.get_template(html_name)
        subject = "".join(text_template.blocks["subject"](text_template.new_context(values)))
        text = text_template.render(values)
        html = html_template.render(values)
    except (TemplateError, TypeError, ValueError, AttributeError) as e:
        raise RenderError(f"digest template {language} failed: {e}") from e
    return Rendered(nfc(_one_line(subject)), nfc(_tidy_text(text)), nfc(html))
