"""The labelled-face sample type every dataset reader yields, and shared reading helpers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ferkit.errors import DatasetError, FerkitError, ImageError
from ferkit.imageio import load_image
from ferkit.labels import canonical

#: Split names used by every reader: FER2013 PublicTest and FER+ Valid are "val".
SPLITS = ("train", "val", "test", "all")
#: Users' own images over this many px on their shorter side are whole photos, not face
#: crops: `ferkit evaluate` and `ferkit head` search them for a face (ferkit.evaluation), and
#: `ferkit train`, which reads every image whole, says how many it read. The GUI's collected
#: crops stay at or under it.
PHOTO_MIN_SIDE = 160


@dataclass(frozen=True)
class FaceSample:
    """One labelled face: a uint8 image, grayscale (H, W) or, from sources read in colour,
    BGR (H, W, 3), plus where it came from.

    `label` is a canonical emotion name (None where the source gives only votes);
    `votes` is the FER+ vote vector over (`ferkit.labels.EMOTIONS` + unknown, NF) or None.
    """

    image: np.ndarray
    label: str | None
    source: str
    split: str
    subject: str | None = None
    votes: np.ndarray | None = None
    path: str = ""

    @property
    def is_own_photo(self) -> bool:
        """A user's own image over PHOTO_MIN_SIDE px on its shorter side: a whole photo."""
        return self.source == "own" and min(self.image.shape[:2]) > PHOTO_MIN_SIDE


def read_gray(path: Path) -> np.ndarray:
    """Read an image file as 2-D grayscale uint8, or raise DatasetError naming the file."""
    return read_face(path, "gray")


def read_face(path: Path, color: str = "gray") -> np.ndarray:
    """Read a research dataset's image file as uint8, EXIF orientation applied: 2-D grayscale
    (`color` "gray") or BGR; or raise DatasetError naming it. OpenCV decodes what it can (4x
    faster than `load_image` on RAF-DB's JPEGs, the same pixels; an alpha channel is dropped);
    the rest (palette TIFFs, damaged files) by `read_photo`."""
    data = np.fromfile(str(path), dtype=np.uint8) if path.is_file() else None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data is not None and data.size else None
    if image is None:
        return read_photo(path, color)
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if color == "gray" else image


def read_photo(path: Path, color: str = "gray") -> np.ndarray:
    """Read an image file as `ferkit image` reads photos (EXIF orientation applied, alpha over
    white): 2-D grayscale (`color` "gray") or BGR; or raise DatasetError naming it."""
    try:
        image = load_image(path)
    except ImageError as exc:
        raise DatasetError(str(exc)) from None
    return cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) if color == "gray" else image


def label_of(name: str, where: Path) -> str:
    """Canonical emotion for a folder name or file code; DatasetError naming `where` if unknown."""
    try:
        return canonical(name)
    except FerkitError as exc:
        raise DatasetError(f"{where}: {exc}") from None


def require_dir(path: Path, what: str) -> Path:
    """Return `path` if it is a directory, else raise DatasetError saying what was expected."""
    if not path.is_dir():
        raise DatasetError(f"{path}: expected {what}, but no such directory")
    return path
