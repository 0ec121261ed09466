"""Writing results safely: atomic files, never over a user's input, CSV/JSON-lines rows."""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ferkit.errors import FerkitError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp"}


def atomic_write_bytes(path: Path, data: bytes, *, protect: Iterable[Path] = ()) -> None:
    """Write `data` to `path` via a temporary file in the same folder, then rename.

    Refuses (FerkitError) when `path` is one of the `protect`ed inputs.
    """
    path = Path(path)
    for p in protect:
        if Path(p).exists() and path.exists() and path.resolve() == Path(p).resolve():
            raise FerkitError(f"{path}: refusing to overwrite an input file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        # mkstemp makes the file private (0600); give it the mode a plain open() would.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except OSError as exc:
        raise FerkitError(f"{path}: cannot write ({exc.strerror or exc})") from None


def write_json(path: Path, data: Any) -> Path:
    """Write `data` as indented JSON at `path`, atomically; return `path`."""
    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())
    return Path(path)


def write_figure(path: Path, fig: Any, **savefig: Any) -> Path:
    """Save a matplotlib figure as PNG at `path`, atomically; return `path`."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", **savefig)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def write_image(path: Path, image_bgr: np.ndarray, *, protect: Iterable[Path] = ()) -> None:
    """Encode by `path`'s suffix (JPEG when unknown) and write atomically."""
    suffix = path.suffix.lower() if path.suffix.lower() in IMAGE_SUFFIXES else ".jpg"
    ok, encoded = cv2.imencode(suffix, image_bgr)
    if not ok:
        raise FerkitError(f"{path}: cannot encode image as {suffix}")
    atomic_write_bytes(path, encoded.tobytes(), protect=protect)


def expand_inputs(paths: Sequence[Path], suffixes: set[str] = IMAGE_SUFFIXES
                  ) -> list[tuple[Path, Path]]:
    """(file, name relative to the argument it came from) for files and folders (recursive).

    Files named directly are kept whatever their suffix, so a bad one is reported, not skipped.
    """
    found = []
    for root in paths:
        if root.is_dir():
            for file in sorted(root.rglob("*")):
                if file.is_file() and file.suffix.lower() in suffixes:
                    found.append((file, file.relative_to(root)))
        else:
            found.append((root, Path(root.name)))
    return found


def plan_outputs(inputs: Sequence[tuple[Path, Path]], out_dir: Path, *,
                 overwrite: bool = False) -> list[Path]:
    """One output path in `out_dir` per (file, relative name) of `expand_inputs`, checked
    before any work: never an input, never one file for two inputs, never an existing file
    unless `overwrite`.

    Inputs keep their relative names; when two different inputs would share one (a/x.jpg and
    b/x.jpg), every input mirrors its path below the inputs' common folder instead.
    """
    out_dir = Path(out_dir)
    sources = [Path(os.path.abspath(p)) for p, _ in inputs]
    outputs = [out_dir / rel for _, rel in inputs]
    if _collide(sources, outputs):
        common = Path(os.path.commonpath([p.parent for p in sources]))
        outputs = [out_dir / p.relative_to(common) for p in sources]
    if _collide(sources, outputs):  # cannot happen for distinct files; kept as a guard
        raise FerkitError(f"two inputs would be written to the same file in {out_dir}")
    resolved_inputs = {p.resolve() for p in sources if p.exists()}
    for out in outputs:
        if out.exists() and out.resolve() in resolved_inputs:
            raise FerkitError(f"{out}: refusing to overwrite an input file; choose another "
                              "output folder")
    existing = sorted({out for out in outputs if out.exists()})
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise FerkitError(f"{existing[0]} already exists{more}; pass --overwrite to replace, "
                          "or choose another output folder")
    return outputs


def _collide(sources: Sequence[Path], outputs: Sequence[Path]) -> bool:
    owner: dict[Path, Path] = {}
    for source, out in zip(sources, outputs, strict=True):
        if owner.setdefault(out, source) != source:
            return True
    return False


class RowWriter:
    """Streams result rows to a text stream as JSON lines or CSV (header from the first row)."""

    def __init__(self, stream: io.TextIOBase, fmt: str = "json"):
        self.stream, self.fmt = stream, fmt
        self._csv: csv.DictWriter | None = None

    def write(self, row: dict[str, Any]) -> None:
        if self.fmt == "json":
            self.stream.write(json.dumps(row) + "\n")
        else:
            if self._csv is None:
                self._csv = csv.DictWriter(self.stream, fieldnames=list(row), extrasaction="ignore")
                self._csv.writeheader()
            self._csv.writerow(row)
        self.stream.flush()
