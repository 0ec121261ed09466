"""Readers for FER2013: the Kaggle CSV and the per-class JPEG folder layout."""

from __future__ import annotations

import csv
from collections.abc import Collection, Iterator
from pathlib import Path

import numpy as np

from ferkit.datasets.base import FaceSample, label_of, read_gray, require_dir
from ferkit.errors import DatasetError
from ferkit.imageio import IMAGE_SUFFIXES
from ferkit.labels import FER2013_CODES

SOURCE = "fer2013"
#: FER2013's Usage column (and file-name prefix) to ferkit's split names; FER+ uses it too.
USAGE_TO_SPLIT = {"Training": "train", "PublicTest": "val", "PrivateTest": "test"}


def read_fer2013_csv(path: str | Path, splits: Collection[str] | None = None
                     ) -> Iterator[FaceSample]:
    """Yield samples from Kaggle's `fer2013.csv` (columns emotion, pixels, Usage), of
    `splits` only when given (train, val, test)."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: FER2013 CSV not found")
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh)
        missing = {"emotion", "pixels", "Usage"} - set(reader.fieldnames or ())
        if missing:
            raise DatasetError(
                f"{path}: not a FER2013 CSV, missing column(s) {', '.join(sorted(missing))}"
            )
        for row_no, row in enumerate(reader, start=2):
            if splits is not None and USAGE_TO_SPLIT.get(row["Usage"]) not in splits:
                continue
            try:
                pixels = np.array(row["pixels"].split(), dtype=np.uint8)
                label = FER2013_CODES[int(row["emotion"])]
                split = USAGE_TO_SPLIT[row["Usage"]]
            # Short rows give None fields; pixel values over 255 overflow uint8.
            except (KeyError, ValueError, TypeError, AttributeError, OverflowError) as exc:
                raise DatasetError(f"{path}:{row_no}: malformed row ({exc})") from None
            if pixels.size != 48 * 48:
                raise DatasetError(f"{path}:{row_no}: expected 2304 pixels, got {pixels.size}")
            yield FaceSample(
                image=pixels.reshape(48, 48), label=label, source=SOURCE, split=split,
                path=f"{path}:{row_no}",
            )


def split_from_filename(name: str) -> str:
    """Map a `Training_`, `PublicTest_` or `PrivateTest_` file-name prefix to a split."""
    prefix = Path(name).name.split("_", 1)[0]
    try:
        return USAGE_TO_SPLIT[prefix]
    except KeyError:
        raise DatasetError(
            f"{name}: expected a Training_/PublicTest_/PrivateTest_ file name"
        ) from None


def is_fer2013_part(folder: Path) -> bool:
    """Whether `folder` looks like FER2013's train/ or test/: <class>/<Usage>_<id>.jpg."""
    return any(next(folder.glob(f"*/{usage}_*.jpg"), None) is not None
               for usage in USAGE_TO_SPLIT)


def read_fer2013_folders(root: str | Path, splits: Collection[str] | None = None
                         ) -> Iterator[FaceSample]:
    """Yield samples from the `train|test/<class>/<Usage>_<id>.jpg` layout, of `splits` only
    when given (the split comes from the file name, so the others are never decoded)."""
    root = require_dir(Path(root), "a FER2013 folder with train/ and test/")
    parts = [p for p in (root / "train", root / "test") if p.is_dir()]
    if not parts and is_fer2013_part(root):
        parts = [root]  # the train/ or test/ folder itself: file names still give the split
    if not parts:
        raise DatasetError(f"{root}: expected train/ and/or test/ class folders (FER2013 layout)")
    for part in parts:
        for class_dir in sorted(p for p in part.iterdir() if p.is_dir()):
            label = label_of(class_dir.name, class_dir)
            for file in sorted(class_dir.iterdir()):
                if file.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                split = split_from_filename(str(file))
                if splits is not None and split not in splits:
                    continue
                yield FaceSample(image=read_gray(file), label=label, source=SOURCE,
                                 split=split, path=str(file))
