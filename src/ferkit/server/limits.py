"""What requests may hold at once: body bytes in memory and decoded pixels, shared by all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio


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
