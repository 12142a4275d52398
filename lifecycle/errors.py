"""Why the lifecycle refuses something: one base class, a subclass per kind of refusal.

The faces map the kinds to their own answers (the webhook: 404, 403, 409, 422).
"""

from __future__ import annotations


class LifecycleError(Exception):
    """Base of every error the pure core raises."""


class Refused(LifecycleError):
    """A command the lifecycle will not turn into events; the message says why, in plain words."""

    code = "conflict"


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
