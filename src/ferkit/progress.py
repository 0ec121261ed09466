"""Progress bars on stderr for the slow phases (reading datasets, de-duplicating, scoring)."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def progress(items: Iterable[T], desc: str, *, unit: str = "face", total: int | None = None,
             enabled: bool | None = None) -> Iterator[T]:
    """`items`, with a tqdm bar on stderr while they are consumed.

    `enabled=None` shows the bar only when stderr is a terminal, so pipes, logs and tests stay
    clean; the bar is removed when done, leaving the command's own output.
    """
    from tqdm import tqdm

    stream = sys.stderr
    if enabled is None:
        enabled = bool(getattr(stream, "isatty", lambda: False)())
    if total is None and hasattr(items, "__len__"):
        total = len(items)
    return iter(tqdm(items, desc=desc, unit=unit, total=total, file=stream,
                     disable=not enabled, leave=False, dynamic_ncols=True, mininterval=0.5))
