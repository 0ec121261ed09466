"""What requests may hold at once: body bytes in memory and decoded pixels, shared by all."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import anyio

from ferkit.errors import FerkitError


def check_limits(*, max_upload_bytes: float, max_video_bytes: float, max_queued_videos: int,
                 max_concurrent: int | None, max_image_pixels: float,
                 max_pixels_in_flight: float | None, max_upload_bytes_in_flight: float | None,
                 client_timeout_s: float, names: Mapping[str, str] | None = None) -> None:
    """FerkitError for a server limit that makes no sense: not positive and finite (counts: under
    1), or a budget for all requests smaller than one request's limit (None: the default).
    A limit is named as `names` spells it (the command line: by its option), else by its
    parameter name. The one place these rules live: `create_app` and `ferkit serve` call it."""
    def name(parameter: str) -> str:
        return (names or {}).get(parameter, parameter)

    for parameter, value in (("max_upload_bytes", max_upload_bytes),
                             ("max_video_bytes", max_video_bytes),
                             ("max_image_pixels", max_image_pixels),
                             ("max_pixels_in_flight", max_pixels_in_flight),
                             ("max_upload_bytes_in_flight", max_upload_bytes_in_flight),
                             ("client_timeout_s", client_timeout_s)):
        if value is not None and not 0 < value < math.inf:  # nan fails too
            raise FerkitError(f"{name(parameter)} must be a positive finite number")
    for parameter, count in (("max_queued_videos", max_queued_videos),
                             ("max_concurrent", max_concurrent)):
        if count is not None and count < 1:
            raise FerkitError(f"{name(parameter)} must be at least 1")
    budgets = (("max_pixels_in_flight", max_pixels_in_flight, "max_image_pixels",
                max_image_pixels),
               ("max_upload_bytes_in_flight", max_upload_bytes_in_flight, "max_upload_bytes",
                max_upload_bytes))
    for budget, total, each, single in budgets:
        if total is not None and total < single:
            raise FerkitError(f"{name(budget)} must be at least {name(each)}")


class Busy(Exception):
    """The server's shared budget is spent: the client should retry later (503)."""


class ByteBudget:
    """Request-body bytes all requests may hold in memory together.

    Bytes are taken as they arrive (or all at once for a declared Content-Length) and never
    waited for: a request that would overflow the budget is refused, so half-read uploads
    cannot wait on each other forever. Everything runs on the event loop: no lock needed.
    """

    def __init__(self, total: int):
        self.total = total
        self.used = 0

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[ByteClaim]:
        claim = ByteClaim(self)
        try:
            yield claim
        finally:
            self.used -= claim.held


class ByteClaim:
    """One request's share of a ByteBudget; released when its `hold()` block ends."""

    def __init__(self, budget: ByteBudget):
        self._budget = budget
        self.held = 0

    def grow_to(self, size: int) -> None:
        """Hold `size` bytes in all (no-op when already held); Busy when the budget is spent."""
        if size > self.held:
            self.resize(size)

    def resize(self, size: int) -> None:
        """Hold exactly `size` bytes, giving back what is no longer needed; Busy (holding what
        it held) when more would not fit."""
        more = size - self.held
        if more > 0 and self._budget.used + more > self._budget.total:
            raise Busy
        self._budget.used += more
        self.held = size


class PixelBudget:
    """Decoded pixels all requests may hold together; a request waits until its image fits.

    Each image reserves the pixel count its header announces before it is decoded, so a few
    kilobytes of compressed bomb cannot make several gigabyte-sized decodes run at once.
    """

    def __init__(self, total: int, wait_s: float = 30.0):
        self.total = total
        self.free = total
        self.wait_s = wait_s
        self._changed = anyio.Condition()

    @asynccontextmanager
    async def reserve(self, pixels: int) -> AsyncIterator[None]:
        """Hold `pixels` for the block; Busy when they do not fit within `wait_s` seconds
        (ValueError when they could never fit: the caller checks the per-image limit first)."""
        if pixels > self.total:
            raise ValueError(f"{pixels} pixels never fit a budget of {self.total}")
        with anyio.move_on_after(self.wait_s) as waiting:
            async with self._changed:
                while self.free < pixels:
                    await self._changed.wait()
                self.free -= pixels
        if waiting.cancelled_caught:
            raise Busy
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):
                async with self._changed:
                    self.free += pixels
                    self._changed.notify_all()
