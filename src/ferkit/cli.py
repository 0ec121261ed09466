"""The `ferkit` command line: one subcommand per job; errors become one line and exit code 1."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from ferkit import __version__
from ferkit.errors import FerkitError

#: Subcommand modules under ferkit.commands, imported lazily so `ferkit --help` stays fast.
COMMANDS = ("image", "video", "webcam", "report", "data", "train", "evaluate", "calibrate",
            "export", "head", "distill_cache", "gui", "serve", "batch")


class _Parser(argparse.ArgumentParser):
    """argparse with its usage errors on one line, like every other ferkit error (subcommand
    parsers are made of this class too)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand registered."""
    parser = _Parser(prog="ferkit", description=__doc__)
    parser.add_argument("--version", action="version", version=f"ferkit {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"ferkit.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run `ferkit` with `argv`; return the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except FerkitError as exc:
        print(f"ferkit: error: {exc}", file=sys.stderr)
        return 1
    except ImportError as exc:
        print(f"ferkit: error: {exc} (is the right extra installed? "
              "e.g. pip install 'ferkit[train]')", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ferkit: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`ferkit video x.mp4 | head`): stop quietly, as Unix tools do.
        _silence_stdout()
        return 141


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush raises nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # no real file descriptor (captured)
        pass


if __name__ == "__main__":
    sys.exit(main())
