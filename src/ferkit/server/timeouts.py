"""Clients too slow to be served: request headers and bodies that trickle in are cut off.

uvicorn waits forever for a request's headers and the app for its body, so a few hundred
connections sending a byte now and then would hold the server. Headers must arrive within
`timeout_s` of their first byte (or of the connection); a body the app reads may pause at most
`timeout_s` and must average MIN_BODY_RATE after its first `timeout_s` seconds; one it does not
read (the answer came first) must end within `timeout_s` of the answer.
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
    """uvicorn's h11 protocol, closing connections that keep the server waiting on the client:
    request headers not complete `timeout_s` after their first byte (or after connecting),
    or a body still arriving `timeout_s` after the app answered without reading it all (401,
    413, ...: uvicorn would read and discard it for as long as the client trickles)."""

    class GuardedH11Protocol(H11Protocol):
        _timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._waiting_on_client():
                self._arm()
            else:
                self._disarm()

        def on_response_complete(self) -> None:
            super().on_response_complete()
            # Waiting for a request between requests is the keep-alive timeout's job; a body
            # the app never read is ours.
            if self.conn.their_state is h11.SEND_BODY:
                self._arm()
            else:
                self._disarm()

        def handle_websocket_upgrade(self, event) -> None:
            self._disarm()
            super().handle_websocket_upgrade(event)

        def connection_lost(self, exc) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _waiting_on_client(self) -> bool:
            """Headers not complete yet, or a body still arriving after the response."""
            return not self.transport.is_closing() and (
                self.conn.their_state is h11.IDLE
                or (self.conn.our_state is h11.DONE and self.conn.their_state is h11.SEND_BODY))

        def _arm(self) -> None:
            if self._timer is None:  # the deadline runs from the first wait, not the last byte
                self._timer = self.loop.call_later(timeout_s, self._too_slow)

        def _disarm(self) -> None:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

        def _too_slow(self) -> None:
            self._timer = None
            if self._waiting_on_client():
                client = "{}:{}".format(*self.client) if self.client else "a client"
                what = ("no complete request headers" if self.conn.their_state is h11.IDLE
                        else "request body still arriving after the answer")
                log.warning("%s - closed: %s within %g s", client, what, timeout_s)
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
