"""Reader for JAFFE: `<subject>.<EXPR><n>.<id>.tiff` portraits (whole images until cropped)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ferkit.datasets.base import FaceSample, label_of, read_gray, require_dir
from ferkit.errors import DatasetError

SOURCE = "jaffe"
_NAME = re.compile(r"^([A-Za-z]{2})\.([A-Za-z]{2})(\d+)\.(\d+)\.tiff?$")


def read_jaffe(root: str | Path) -> Iterator[FaceSample]:
    """Yield JAFFE images with their labels; the face is not yet cropped from the portrait."""
    root = require_dir(Path(root), "a JAFFE folder of .tiff files")
    files = sorted(p for p in root.iterdir() if p.suffix.lower() in (".tiff", ".tif"))
    if not files:
        raise DatasetError(f"{root}: no JAFFE .tiff files")
    for file in files:
        match = _NAME.match(file.name)
        if not match:
            raise DatasetError(f"{file}: expected a JAFFE name like KA.AN1.39.tiff")
        yield FaceSample(
            image=read_gray(file), label=label_of(match.group(2), file), source=SOURCE, split="all",
            subject=match.group(1).upper(), path=str(file),
        )
