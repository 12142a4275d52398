"""The webhook's access log without secrets: query tokens are redacted before a line is written.

The browser form's links carry a 60-day token in the query (`?token=…`); uvicorn's access log
would write it whole. `RedactTokens` rewrites the request line's query values of sensitive
parameters to `[redacted]` (the path, the method and the status stay, for operators).
"""

from __future__ import annotations

import logging
import re

SENSITIVE = ("token", "key", "secret", "signature", "sig")
_QUERY_VALUE = re.compile(
    r"(?P<name>(?:^|[?&])(?:" + "|".join(SENSITIVE) + r")=)(?P<value>[^&\s\"]*)", re.IGNORECASE
)


def redact(text: str) -> str:
    """`text` with the values of sensitive query parameters replaced."""
    return _QUERY_VALUE.sub(lambda m: m.group("name") + "[redacted]", text)


class RedactTokens(logging.Filter):
    """A logging filter for `uvicorn.access` (its args hold the request line) and any other."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str) and "=" in record.msg:
            record.msg = redact(record.msg)
        return True


def install() -> None:
    """Redact every record of uvicorn's access and error loggers."""
    for name in ("uvicorn.access", "uvicorn.error", "chidao.webhook"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())
