"""Reader for RAF-DB basic: the "DATASET" class-folder layout and the official EmoLabel layout."""

from __future__ import annotations

import csv
import hashlib
import re
from collections.abc import Collection, Iterator
from pathlib import Path

from ferkit.datasets.base import FaceSample, read_face, require_dir
from ferkit.errors import DatasetError
from ferkit.imageio import IMAGE_SUFFIXES

SOURCE = "rafdb"
#: RAF-DB's label ids (both layouts use them).
RAFDB_CODES = {1: "surprise", 2: "fear", 3: "disgust", 4: "happy", 5: "sad", 6: "angry",
               7: "neutral"}
#: One training face in VAL_BUCKETS goes to validation, chosen by a hash of its file stem
#: (`train_00042`), so the split is the same on every machine and in both layouts.
VAL_BUCKETS = 10
_NAME = re.compile(r"^(train|test)_(\d+)(?:_aligned)?\.(jpe?g|png)$", re.IGNORECASE)


def rafdb_split(name: str) -> str:
    """The split of a RAF-DB file name: test for `test_*`, else train or val by a stable hash."""
    match = _NAME.match(Path(name).name)
    if not match:
        raise DatasetError(f"{name}: expected a RAF-DB name like train_00001_aligned.jpg")
    if match.group(1).lower() == "test":
        return "test"
    stem = f"train_{match.group(2)}"
    return "val" if int(hashlib.sha1(stem.encode()).hexdigest(), 16) % VAL_BUCKETS == 0 else "train"


def _code(raw: str, where: str) -> str:
    try:
        return RAFDB_CODES[int(raw)]
    except (KeyError, ValueError):
        raise DatasetError(f"{where}: expected a RAF-DB label id 1-7, got {raw!r}") from None


def is_rafdb(path: Path) -> bool:
    """Whether `path` holds RAF-DB in either layout."""
    return ((path / "EmoLabel" / "list_patition_label.txt").is_file()
            or (path / "train_labels.csv").is_file()
            or any((path / "train").glob("[1-7]/train_*_aligned.jpg")))


def _official(root: Path) -> Iterator[tuple[Path, str]]:
    labels = root / "EmoLabel" / "list_patition_label.txt"
    images = require_dir(root / "Image" / "aligned", "RAF-DB Image/aligned/")
    for line_no, line in enumerate(labels.read_text(errors="replace").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split()
        where = f"{labels}:{line_no}"
        if len(parts) != 2:
            raise DatasetError(f"{where}: expected 'train_00001.jpg 5', got {line.strip()!r}")
        name, raw = parts
        stem = Path(name).stem
        yield images / f"{stem}_aligned.jpg", _code(raw, where)


def _class_folders(root: Path) -> Iterator[tuple[Path, str]]:
    parts = [p for p in (root / "train", root / "test") if p.is_dir()]
    if not parts:
        raise DatasetError(f"{root}: expected train/<label id>/ folders (RAF-DB DATASET layout)")
    for part in parts:
        for class_dir in sorted(p for p in part.iterdir() if p.is_dir()):
            label = _code(class_dir.name, str(class_dir))
            for file in sorted(class_dir.iterdir()):
                if file.suffix.lower() in IMAGE_SUFFIXES:
                    yield file, label


def _check_csv(root: Path, found: dict[str, str]) -> None:
    """The DATASET layout's `train_labels.csv` must agree with the folders it describes."""
    path = root / "train_labels.csv"
    if not path.is_file():
        return
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        if not {"image", "label"} <= set(reader.fieldnames or ()):
            raise DatasetError(f"{path}: expected columns image,label")
        for row_no, row in enumerate(reader, start=2):
            label = _code(row["label"] or "", f"{path}:{row_no}")
            if row["image"] in found and found[row["image"]] != label:
                raise DatasetError(f"{path}:{row_no}: {row['image']} is {label} here but lies "
                                   f"in the {found[row['image']]} folder")


def read_rafdb(root: str | Path, splits: Collection[str] | None = None,
               color: str = "gray") -> Iterator[FaceSample]:
    """Yield RAF-DB faces from either layout, grayscale or (`color` "bgr") in their own colour,
    of `splits` only when given.

    Training faces are split into train and val by `rafdb_split`; `test_*` faces are test.
    """
    root = require_dir(Path(root), "a RAF-DB folder")
    official = (root / "EmoLabel" / "list_patition_label.txt").is_file()
    files = list(_official(root) if official else _class_folders(root))
    if not official:
        _check_csv(root, {f.name: label for f, label in files})
    if not files:
        raise DatasetError(f"{root}: no RAF-DB faces found")
    for file, label in files:
        split = rafdb_split(file.name)
        if splits is not None and split not in splits:
            continue
        if not file.is_file():
            raise DatasetError(f"{file}: listed in RAF-DB's labels but missing")
        yield FaceSample(image=read_face(file, color), label=label, source=SOURCE, split=split,
                         path=str(file))
