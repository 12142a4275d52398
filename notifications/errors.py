"""The errors of the notifications layer; every one is a `NotificationError`."""

from __future__ import annotations


class NotificationError(Exception):
    """Something the notifications layer could not do; the message says what and why."""


class UnknownKind(NotificationError):
    """A notification kind, or a language, that has no template."""


class RenderError(NotificationError):
    """A template that failed to render (e.g. it refers to a value the context lacks)."""


class UnknownRecipient(NotificationError):
    """An agency id found neither in the directive, nor its issuer, nor the directory."""


class NotApplicable(NotificationError):
    """A preview asked for a message the directive would never send (wrong agency, kind)."""
