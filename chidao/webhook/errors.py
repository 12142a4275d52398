"""The webhook's own exceptions: each carries the HTTP status and the short code it answers with.

Lifecycle refusals (`lifecycle.errors.Refused`) are mapped to these at the edge, so every
error answer has one shape: `{"error": code, "detail": message}`.
"""

from __future__ import annotations


class WebhookError(Exception):
    """Base class: an answer other than success, with its status code and a plain message."""

    status_code = 400
    code = "bad_request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class Unauthorized(WebhookError):
    status_code = 401
    code = "unauthorized"


class Forbidden(WebhookError):
    status_code = 403
    code = "forbidden"


class NotFound(WebhookError):
    status_code = 404
    code = "not_found"


class Conflict(WebhookError):
    status_code = 409
    code = "conflict"


class NonceReused(WebhookError):
    """The signature's nonce was seen before: a replay, refused with nothing written."""

    status_code = 409
    code = "nonce_reused"


class IdempotencyKeyReused(WebhookError):
    """The idempotency-key was used before for a different request."""

    status_code = 409
    code = "idempotency_key_reused"


class PayloadTooLarge(WebhookError):
    status_code = 413
    code = "payload_too_large"


class Unavailable(WebhookError):
    status_code = 503
    code = "unavailable"


class Busy(WebhookError):
    """A transient conflict: other writers kept winning; the same call succeeds later."""

    status_code = 503
    code = "busy"

    def __init__(self, detail: str, *, retry_after: int = 1) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class SecretStoreError(WebhookError):
    """The secret store cannot do what was asked (no secret yet, one already exists, bad key)."""

    status_code = 500
    code = "secret_store"
