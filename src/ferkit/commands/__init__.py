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


def positive_float(text: str) -> float:
    """argparse type: a finite float above 0 (a weight: 0 or less means nothing)."""
    value = finite_float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text!r}")
    return value


def non_negative_float(text: str) -> float:
    """argparse type: a finite float, 0 or more (a penalty's strength)."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text!r}")
    return value


def threads_count(text: str) -> int:
    """argparse type of every --threads: 1 or more (not given: ONNX Runtime's default)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more (leave it out for the default), "
                                         f"got {value}")
    return value
