"""Recognise a dataset's layout from its path and read it with the matching reader."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Iterator
from pathlib import Path

from ferkit.datasets.base import FaceSample
from ferkit.datasets.ckplus import read_ckplus
from ferkit.datasets.fer2013 import is_fer2013_part, read_fer2013_csv, read_fer2013_folders
from ferkit.datasets.ferplus import read_ferplus
from ferkit.datasets.folder import read_folder, visible_subfolders
from ferkit.datasets.jaffe import read_jaffe
from ferkit.datasets.rafdb import is_rafdb, read_rafdb
from ferkit.errors import DatasetError, FerkitError
from ferkit.labels import canonical

READERS: dict[str, Callable[[Path], Iterator[FaceSample]]] = {
    "fer2013": read_fer2013_folders,
    "fer2013csv": read_fer2013_csv,
    "ferplus": read_ferplus,
    "ckplus": read_ckplus,
    "jaffe": read_jaffe,
    "rafdb": read_rafdb,
    "own": read_folder,
}


def detect_kind(path: Path) -> str:
    """Guess which reader fits `path` from its layout, or raise DatasetError."""
    if path.is_file() and path.suffix.lower() == ".csv":
        return "fer2013csv"
    if path.is_file():
        raise DatasetError(f"{path}: a file, not a dataset; a dataset is a folder (FER2013, "
                           "FER+, CK+, RAF-DB, JAFFE, or <emotion>/ subfolders of your own "
                           "photos) or FER2013's .csv (to analyse a photo: ferkit image)")
    if not path.is_dir():
        raise DatasetError(f"{path}: no such dataset file or folder")
    kind = _known_layout(path)
    if kind is not None:
        return kind
    subfolders = visible_subfolders(path)
    if not subfolders:
        raise DatasetError(f"{path}: not a known dataset layout (FER2013, FER+, CK+, RAF-DB, "
                           "JAFFE, own: <emotion>/ subfolders)")
    if any(_is_emotion(p.name) for p in subfolders):
        return "own"
    datasets = [p.name for p in subfolders if _known_layout(p) or _has_emotion_folders(p)]
    if datasets:
        raise DatasetError(f"{path}: a folder of several datasets ({', '.join(datasets)}); "
                           f"name one, e.g. {path / datasets[0]}")
    names = ", ".join(p.name for p in subfolders[:5]) + (", ..." if len(subfolders) > 5 else "")
    raise DatasetError(f"{path}: not a known dataset layout (FER2013, FER+, CK+, RAF-DB, "
                       f"JAFFE, own: <emotion>/ subfolders), and its subfolders ({names}) are "
                       "not emotions")


def _known_layout(path: Path) -> str | None:
    if (path / "fer2013new.csv").is_file():
        return "ferplus"
    if (path / "CK+48").is_dir() or (path / "cohn-kanade-images").is_dir() or path.name == "CK+48":
        return "ckplus"
    if is_rafdb(path):  # before FER2013: its train/<id>/ folders look alike
        return "rafdb"
    if any(p.suffix.lower() in (".tiff", ".tif") for p in path.iterdir()):
        return "jaffe"
    for part in ("train", "test"):
        if (path / part).is_dir() and any((path / part).glob("*/*_*.jpg")):
            return "fer2013"
    if is_fer2013_part(path):  # FER2013's test/ (or train/) folder on its own
        return "fer2013"
    return None


def _is_emotion(name: str) -> bool:
    try:
        canonical(name)
    except FerkitError:
        return False
    return True


def _has_emotion_folders(path: Path) -> bool:
    return any(p.is_dir() and _is_emotion(p.name) for p in path.iterdir())


def parse_source(spec: str) -> tuple[str, Path]:
    """Parse `kind=path` or a bare path (kind guessed from the layout); DatasetError when
    the path does not exist or cannot be read."""
    kind, sep, rest = spec.partition("=")
    if sep and kind in READERS:
        if not Path(rest).exists():
            raise DatasetError(f"{rest}: no such dataset file or folder")
        return kind, Path(rest)
    if sep and not Path(spec).exists() and Path(rest).exists():  # KIND=PATH, KIND misspelt
        raise DatasetError(f"{spec}: unknown dataset kind {kind!r} (kinds: "
                           f"{', '.join(READERS)})")
    try:
        return detect_kind(Path(spec)), Path(spec)
    except OSError as exc:  # an unreadable folder
        raise DatasetError(f"{exc.filename or spec}: cannot read ({exc.strerror})") from None


def check_outside(outputs: Iterable[Path | None], specs: Iterable[str]) -> None:
    """DatasetError, before any work, where one of `outputs` (None: not given) is a dataset
    file named by `specs` or lies in a dataset folder: what ferkit writes never replaces a
    user's data or joins it (a figure in a folder of faces would be read as a face)."""
    roots = [(spec, parse_source(spec)[1].resolve()) for spec in specs]
    for out in outputs:
        if out is None:
            continue
        target = Path(out).resolve()
        for spec, root in roots:
            if target == root or target.is_relative_to(root):
                raise DatasetError(f"{out}: inside the dataset {spec}; write it elsewhere")


#: Readers whose layouts say each face's split, so they can skip the others undecoded. The
#: rest are read whole: CK+ and JAFFE faces are split "all" (folded by subject downstream),
#: and users' own photos are all training faces.
SPLIT_READERS = {"fer2013", "fer2013csv", "ferplus", "rafdb"}


#: Readers of sources with colour pictures (RAF-DB, users' photos), which can keep it. The
#: rest are grayscale datasets: their faces stay (H, W) and become colour input by repetition.
COLOR_READERS = {"rafdb", "own"}


def read_source(spec: str, splits: Collection[str] | None = None,
                color: str = "gray") -> Iterator[FaceSample]:
    """Read the dataset named by `spec` (see `parse_source`): every sample, or, for layouts
    with splits, those of `splits` only (sources without splits are read whole); `color`
    "bgr" keeps the colour of sources that have it."""
    kind, path = parse_source(spec)
    options: dict = {}
    if splits is not None and kind in SPLIT_READERS:
        options["splits"] = tuple(splits)
    if color != "gray" and kind in COLOR_READERS:
        options["color"] = color
    return _one_line_errors(path, READERS[kind](path, **options))


def _one_line_errors(path: Path, samples: Iterator[FaceSample]) -> Iterator[FaceSample]:
    """`samples`, with what the file system and the text decoder raise while they are read
    (an unreadable file, a CSV that is not UTF-8) as one-line DatasetErrors."""
    try:
        yield from samples
    except OSError as exc:
        raise DatasetError(f"{exc.filename or path}: cannot read ({exc.strerror or exc})"
                           ) from None
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: cannot read: text that is not UTF-8 "
                           f"({exc.reason} at byte {exc.start})") from None
