"""One module per `ferkit` subcommand, each with `register(subparsers)` and a `run(args)`."""

from __future__ import annotations

import argparse
import math


def finite_float(text: str) -> float:
    """argparse type: a float, but not nan or inf (float() takes both, and no limit,
    threshold or duration means anything as either)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"give a finite number, not {text!r}")
    return value
