"""Helpers for tests that call the `ferkit` command line in-process."""

from __future__ import annotations

import json

from ferkit.cli import main


def run(capsys, *argv) -> tuple[int, str, str]:
    """Run `ferkit ARGV...`; return (exit code, stdout, stderr)."""
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def json_rows(out: str) -> list[dict]:
    """The JSON-lines rows a command printed."""
    return [json.loads(line) for line in out.splitlines() if line.strip()]
