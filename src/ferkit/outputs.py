"""Writing results safely: atomic files, never over a user's input; JSON, figures, images."""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

import cv2
import numpy as np

from ferkit.errors import FerkitError
from ferkit.imageio import IMAGE_SUFFIXES

#: Image suffixes `write_image` encodes (OpenCV writes no GIF).
WRITABLE_IMAGE_SUFFIXES = IMAGE_SUFFIXES - {".gif"}


#: Read once, at import: os.umask can only be read by setting it, which is not thread-safe.
_UMASK = os.umask(0o022)
os.umask(_UMASK)


class AtomicFile:
    """The one way ferkit writes a file: to a hidden temporary file `tmp` beside `path`,
    renamed over `path` by `commit()` (or on leaving a `with` block without an error), removed
    by `abort()`. So a reader never sees half a file, and a failed run leaves the old one.

    Refuses (FerkitError) to write over any of the `protect`ed inputs. `tmp` ends in ".tmp"
    (so globs such as "*.parquet" never see it), or with `keep_suffix` in the suffix of `path`
    as well, for writers that pick a format by suffix (OpenCV's video writer).
    """

    def __init__(self, path: str | os.PathLike, *, protect: Iterable[Path] = (),
                 fsync: bool = False, keep_suffix: bool = False) -> None:
        self.path, self.fsync = Path(path), fsync
        check_outputs([self.path], inputs=protect, overwrite=True)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=f".{self.path.name}.",
                                       suffix=".tmp" + (self.path.suffix if keep_suffix else ""))
            os.close(fd)
        except OSError as exc:
            raise FerkitError(f"{self.path}: cannot write ({exc.strerror or exc})") from None
        self.tmp = Path(tmp)

    def commit(self) -> Path:
        try:
            if self.fsync:  # on disk before the rename makes it count as done
                with open(self.tmp, "rb+") as fh:
                    os.fsync(fh.fileno())
            # mkstemp makes the file private (0600); give it the mode a plain open() would.
            os.chmod(self.tmp, 0o666 & ~_UMASK)
            os.replace(self.tmp, self.path)
        except OSError as exc:
            self.abort()
            raise FerkitError(f"{self.path}: cannot write ({exc.strerror or exc})") from None
        return self.path

    def abort(self) -> None:
        self.tmp.unlink(missing_ok=True)

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        self.commit() if exc_type is None else self.abort()


@contextmanager
def atomic_text(path: Path, *, protect: Iterable[Path] = ()) -> Iterator[TextIO]:
    """A text stream (UTF-8, universal newlines off, for CSV) written to `path` atomically."""
    with AtomicFile(path, protect=protect) as file, \
            file.tmp.open("w", newline="", encoding="utf-8") as stream:
        yield stream


def atomic_write_bytes(path: Path, data: bytes, *, protect: Iterable[Path] = ()) -> None:
    """Write `data` to `path` atomically; FerkitError over a `protect`ed input."""
    atomic_write_many({Path(path): data}, protect=protect)


def atomic_write_many(files: Mapping[Path, bytes], *, protect: Iterable[Path] = ()) -> None:
    """Write several files that belong together: every one to its temporary file first, then
    all renamed into place, so a full disk leaves the earlier set whole rather than a mix."""
    pending: list[AtomicFile] = []
    committed = 0
    try:
        for path, data in files.items():
            pending.append(AtomicFile(path, protect=protect))
            try:
                pending[-1].tmp.write_bytes(data)
            except OSError as exc:
                raise FerkitError(f"{path}: cannot write ({exc.strerror or exc})") from None
        for file in pending:
            file.commit()
            committed += 1
    except BaseException:
        for file in pending[committed:]:
            file.abort()
        raise


def write_json(path: Path, data: Any) -> Path:
    """Write `data` as indented JSON at `path`, atomically; return `path`."""
    atomic_write_bytes(path, (json.dumps(data, indent=2) + "\n").encode())
    return Path(path)


def new_figure(what: str, **kwargs: Any) -> Any:
    """A matplotlib Figure (no pyplot: no global backend or figure state) for `what`, e.g.
    "--plot"; FerkitError naming the extra to install when matplotlib is missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise FerkitError(f"{what} needs matplotlib: pip install 'ferkit[plot]'") from None
    return Figure(**kwargs)


#: Figure files by ending, as matplotlib names their formats.
FIGURE_FORMATS = {".png": "png", ".pdf": "pdf", ".svg": "svg", ".jpg": "jpeg", ".jpeg": "jpeg"}


def figure_format(path: Path) -> str:
    """The format `write_figure` gives `path` by its ending (PNG where it has none), or
    FerkitError for an ending it cannot write (say, before a long analysis)."""
    suffix = Path(path).suffix.lower()
    if suffix and suffix not in FIGURE_FORMATS:
        raise FerkitError(f"{path}: a figure is written as {', '.join(FIGURE_FORMATS)}; "
                          "give one of those endings")
    return FIGURE_FORMATS.get(suffix, "png")


def write_figure(path: Path, fig: Any, **savefig: Any) -> Path:
    """Save a matplotlib figure at `path` in the format its ending names (`figure_format`),
    atomically; return `path`."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format=figure_format(path), **savefig)
    atomic_write_bytes(path, buffer.getvalue())
    return Path(path)


def writable_image_name(path: Path) -> Path:
    """`path` if `write_image` can encode its suffix, else `path` with ".png" added (an
    annotated copy of x.gif is x.gif.png: a PNG, not a JPEG named .gif)."""
    path = Path(path)
    if path.suffix.lower() in WRITABLE_IMAGE_SUFFIXES:
        return path
    return path.with_name(path.name + ".png")


def write_image(path: Path, image_bgr: np.ndarray, *, protect: Iterable[Path] = ()) -> None:
    """Encode by `path`'s suffix (one of WRITABLE_IMAGE_SUFFIXES) and write atomically."""
    suffix = path.suffix.lower()
    if suffix not in WRITABLE_IMAGE_SUFFIXES:
        raise FerkitError(f"{path}: cannot write images as {suffix or 'a file with no suffix'}; "
                          f"use one of {', '.join(sorted(WRITABLE_IMAGE_SUFFIXES))}")
    ok, encoded = cv2.imencode(suffix, image_bgr)
    if not ok:
        raise FerkitError(f"{path}: cannot encode image as {suffix}")
    atomic_write_bytes(path, encoded.tobytes(), protect=protect)


def expand_inputs(paths: Sequence[Path], suffixes: set[str] = IMAGE_SUFFIXES, *,
                  skip: Iterable[Path | None] = ()) -> list[tuple[Path, Path]]:
    """(file, name relative to the argument it came from) for files and folders (recursive).

    Files named directly are kept whatever their suffix, so a bad one is reported, not skipped.
    Files in a folder of `skip` (the command's own output folders; None: not given) are left
    out of folders searched, so a run's outputs never become the next run's inputs.
    """
    outputs = [Path(os.path.abspath(folder)) for folder in skip if folder is not None]
    found = []
    for root in paths:
        if root.is_dir():
            for file in sorted(root.rglob("*")):
                if (file.is_file() and file.suffix.lower() in suffixes
                        and not any(Path(os.path.abspath(file)).is_relative_to(folder)
                                    for folder in outputs)):
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
    check_outputs(outputs, inputs=sources, overwrite=overwrite,
                  hint="choose another output folder")
    return outputs


def check_outputs(outputs: Iterable[Path | None], *, inputs: Iterable[Path] = (),
                  overwrite: bool = False, hint: str = "") -> None:
    """Refuse (FerkitError), before any work, to write to a folder, to one file twice, over
    one of the `inputs` (whatever `overwrite` says), or over an existing file unless
    `overwrite`. None in `outputs` (an option not given) is skipped; `hint` ends the message."""
    tail = f"; {hint}" if hint else ""
    outputs = [Path(out) for out in outputs if out is not None]
    resolved_inputs = {Path(p).resolve() for p in inputs if Path(p).exists()}
    for out in outputs:
        if out.is_dir():
            raise FerkitError(f"{out}: is a folder; give a file name")
        _check_folder(out)
        if out.exists() and out.resolve() in resolved_inputs:
            raise FerkitError(f"{out}: refusing to overwrite an input file{tail}")
    seen: set[Path] = set()
    for out in outputs:
        target = Path(os.path.abspath(out))
        if target in seen:
            raise FerkitError(f"{out}: given for two outputs; give each its own file")
        seen.add(target)
    existing = sorted({out for out in outputs if out.exists()})
    if existing and not overwrite:
        more = f" (and {len(existing) - 1} more)" if len(existing) > 1 else ""
        raise FerkitError(f"{existing[0]} already exists{more}; pass --overwrite to replace"
                          + (f", or {hint}" if hint else ""))


def _check_folder(out: Path) -> None:
    """FerkitError, before any work, where `out`'s folder cannot be made or written: the
    nearest existing folder above it is a file or is not writable, or none exists."""
    folder = Path(os.path.abspath(out)).parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    if not folder.exists():  # even the root is missing: a drive that is not there
        raise FerkitError(f"{out}: cannot write: {folder} does not exist")
    if not folder.is_dir():
        raise FerkitError(f"{out}: cannot write: {folder} is a file, not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise FerkitError(f"{out}: cannot write into {folder} (permission denied)")


def _collide(sources: Sequence[Path], outputs: Sequence[Path]) -> bool:
    owner: dict[Path, Path] = {}
    for source, out in zip(sources, outputs, strict=True):
        if owner.setdefault(out, source) != source:
            return True
    return False
