"""Clients too slow to be served: request headers and bodies that trickle in are cut off.

uvicorn waits forever for a request's headers and the app for its body, so a few hundred
connections sending a byte now and then would hold the server. Headers must arrive within
`timeout_s` of their first byte (or of the connection); a body may pause at most `timeout_s`
and must average MIN_BODY_RATE after its first `timeout_s` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time

import anyio
import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("ferkit.server")

DEFAULT_TIMEOUT_S = 10.0
#: Slowest average a request body may arrive at (bytes/s): a 20 MB photo over a 0.2 Mbit/s link.
MIN_BODY_RATE = 16 * 1024


class TooSlow(Exception):
    """The client sent its request body too slowly."""


def guarded_h11(timeout_s: float) -> type[H11Protocol]:
    """uvicorn's h11 protocol, closing connections whose request headers take over `timeout_s`."""

    class GuardedH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            # IDLE: a request has begun (or the connection is new) but its headers are not
            # complete. Other states mean the headers are in: the body has its own limit.
            if self.conn.their_state is h11.IDLE and not self.transport.is_closing():
                self._arm()
            else:
                self._disarm()

        def on_response_complete(self) -> None:
            self._disarm()  # between requests uvicorn's keep-alive timeout applies
            super().on_response_complete()

        def handle_websocket_upgrade(self, event) -> None:
            self._disarm()
            super().handle_websocket_upgrade(event)

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(timeout_s, self._headers_too_slow)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_too_slow(self) -> None:
            self._header_timer = None
            if not self.transport.is_closing():
                client = "{}:{}".format(*self.client) if self.client else "a client"
                log.warning("%s - closed: no complete request headers within %g s",
                            client, timeout_s)
                self.transport.close()

    return GuardedH11Protocol


class SlowBodyMiddleware:
    """ASGI middleware: an HTTP request body that stalls or trickles raises TooSlow in the app
    (which answers 408 and closes the connection). WebSockets are left alone."""

    def __init__(self, app, timeout_s: float = DEFAULT_TIMEOUT_S,
                 min_rate: float = MIN_BODY_RATE):
        self.app = app
        self.timeout_s = timeout_s
        self.min_rate = min_rate

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started: float | None = None
        received = 0
        complete = False

        async def timed_receive():
            nonlocal started, received, complete
            if complete:  # what follows the body is a wait for disconnect: not timed
                return await receive()
            now = time.monotonic()
            if started is None:
                started = now
            # mod_reqtimeout's rule: timeout_s to start, plus one second per min_rate bytes.
            deadline = started + self.timeout_s + received / self.min_rate
            wait = min(self.timeout_s, deadline - now)
            if wait <= 0:
                raise TooSlow
            with anyio.move_on_after(wait):
                message = await receive()
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                return message
            raise TooSlow

        await self.app(scope, timed_receive, send)
