"""Bounded connections for the webhook's HTTP server: slow clients cannot hold it.

uvicorn times out only idle keep-alive connections. This h11 protocol (uvicorn's, extended)
adds, per connection:

- a **header deadline**: a request's headers must be complete within `header_timeout` seconds
  of the connection opening (or of the previous response), else the connection is closed;
- a **minimum body rate**: once the headers are in, the body must keep up with
  `min_body_rate` bytes/s after a grace of `body_grace` seconds (so a large attachment at any
  reasonable speed still uploads, while a stalled one is cut), checked every second.

The cap on concurrent connections is uvicorn's own `limit_concurrency` (beyond it, 503),
set by `chidao serve --limit-concurrency`. Nothing here is per client address, so many
addresses do not help an attacker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("chidao.webhook")


@dataclass(frozen=True)
class Limits:
    header_timeout: float = 5.0
    body_grace: float = 5.0
    min_body_rate: float = 10_000.0  # bytes per second, after the grace
    check_every: float = 1.0


LIMITS = Limits()


def guarded_protocol(limits: Limits) -> type[H11Protocol]:
    """An H11Protocol class enforcing `limits`, for `uvicorn.Config(http=...)`."""

    class GuardedH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None
        _body_timer: asyncio.TimerHandle | None = None
        _body_started = 0.0
        _body_bytes = 0

        def connection_made(self, transport: Any) -> None:
            super().connection_made(transport)
            self._arm_headers()

        def _arm_headers(self) -> None:
            self._cancel()
            self._header_timer = self.loop.call_later(limits.header_timeout, self._headers_late)

        def _cancel(self) -> None:
            for timer in (self._header_timer, self._body_timer):
                if timer is not None:
                    timer.cancel()
            self._header_timer = self._body_timer = None

        def _cut(self, why: str) -> None:
            self._cancel()
            if not self.transport.is_closing():
                log.info("closing a slow connection from %s: %s", self.client, why)
                self.transport.close()

        def _headers_late(self) -> None:
            self._header_timer = None
            self._cut(f"headers not complete within {limits.header_timeout:g} s")

        def _check_body(self) -> None:
            self._body_timer = None
            elapsed = time.monotonic() - self._body_started
            owed = (elapsed - limits.body_grace) * limits.min_body_rate
            if owed > self._body_bytes:
                self._cut(
                    f"body at {self._body_bytes} bytes after {elapsed:.0f} s, under "
                    f"{limits.min_body_rate:g} bytes/s"
                )
                return
            self._body_timer = self.loop.call_later(limits.check_every, self._check_body)

        def data_received(self, data: bytes) -> None:
            if self.conn.their_state is h11.SEND_BODY:
                self._body_bytes += len(data)
            super().data_received(data)
            self._follow()

        def _follow(self) -> None:
            state = self.conn.their_state
            if state is h11.SEND_BODY and self._body_timer is None and self._header_timer:
                # headers complete: the body's clock starts now
                self._cancel()
                self._body_started = time.monotonic()
                self._body_bytes = 0
                self._body_timer = self.loop.call_later(limits.check_every, self._check_body)
            elif state is not h11.SEND_BODY and state is not h11.IDLE:
                self._cancel()  # the request is in (or the connection is ending)

        def on_response_complete(self) -> None:
            super().on_response_complete()
            if not self.transport.is_closing() and self.conn.their_state in (h11.IDLE, h11.DONE):
                # a kept-alive connection: the next request's headers are on the clock too
                self._arm_headers()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel()
            super().connection_lost(exc)

    return GuardedH11Protocol
