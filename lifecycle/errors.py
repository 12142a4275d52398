"""Why the lifecycle refuses something: one base class, a subclass per kind of refusal.

The faces map the kinds to their own answers (the webhook: 404, 403, 409, 422). A refusal
carries its reason as a catalogue id (English, marked with `N_`, with `{named}` fields) and
the fields' values: `str(e)` is the English text, `e.in_language(lang)` the text in `lang`
(the faces call it: the CLI in the operator's language, the form page in its own), and
`e.reason()` the id and fields for a face that translates later (the webhook's JSON).
"""

from __future__ import annotations

from typing import Any


class LifecycleError(Exception):
    """Base of every error the pure core raises."""


class Refused(LifecycleError):
    """A command the lifecycle will not turn into events; the message says why, in plain words."""

    code = "conflict"

    def __init__(self, message: str, /, **params: Any) -> None:
        self.message_id = message
        self.params = {name: str(value) for name, value in params.items()}
        super().__init__(message.format(**self.params) if params else message)

    def in_language(self, lang: str | None = None) -> str:
        """The reason in `lang` (default: the process's language), through the catalogue."""
        from i18n import gettext

        text = gettext(self.message_id, lang)
        return text.format(**self.params) if self.params else text

    def reason(self) -> dict[str, Any]:
        return {"id": self.message_id, "params": self.params}


class NotFound(Refused):
    code = "not_found"


class Forbidden(Refused):
    code = "forbidden"


class InvalidTransition(Refused):
    code = "conflict"


class OutOfOrder(InvalidTransition):
    """A command dated before the directive's last event: business time never goes back."""

    code = "out_of_order"


class InvalidEvent(LifecycleError):
    """A stored event whose payload does not fit its type's schema."""
