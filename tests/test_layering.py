"""Imports run one way, from the front ends down to the library: never back up, and no front
end borrows from another's command-line module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ferkit"
FRONT_ENDS = ("ferkit.cli", "ferkit.commands", "ferkit.gui", "ferkit.server", "ferkit.batch")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {n for n in names if n == "ferkit" or n.startswith("ferkit.")}


def under(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_point_down(path):
    name = module_name(path)
    mine = next((f for f in FRONT_ENDS if under(name, f)), None)
    for target in imported(path):
        owner = next((f for f in FRONT_ENDS if under(target, f)), None)
        if name == "ferkit.__main__":
            continue  # `python -m ferkit` is the command line
        if mine is None:
            assert owner is None, f"{name} (library) imports the front end {target}"
        elif owner is not None and owner != mine:
            assert mine in ("ferkit.cli", "ferkit.commands"), f"{name} imports {target}"
