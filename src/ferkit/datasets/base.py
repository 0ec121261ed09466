"""The labelled-face sample type every dataset reader yields, and shared reading helpers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ferkit.errors import DatasetError, FerkitError
from ferkit.labels import canonical

#: Split names used by every reader: FER2013 PublicTest and FER+ Valid are "val".
SPLITS = ("train", "val", "test", "all")


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


def read_gray(path: Path) -> np.ndarray:
    """Read an image file as 2-D grayscale uint8, or raise DatasetError naming the file."""
    return read_face(path, "gray")


def read_face(path: Path, color: str = "gray") -> np.ndarray:
    """Read an image file as uint8, or raise DatasetError naming the file: 2-D grayscale
    (`color` "gray"), or as stored (`color` "bgr": BGR with alpha dropped, gray files 2-D)."""
    data = np.fromfile(str(path), dtype=np.uint8) if path.is_file() else None
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data is not None and data.size else None
    if image is None:
        image = _read_with_pillow(path, color)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if image.ndim == 3:
        if color == "gray":
            code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        else:
            code = cv2.COLOR_BGRA2BGR if image.shape[2] == 4 else None
        if code is not None:
            image = cv2.cvtColor(image, code)
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    return np.ascontiguousarray(image.astype(np.uint8))


def _read_with_pillow(path: Path, color: str = "gray") -> np.ndarray:
    """Fallback for formats OpenCV declines (e.g. palette-mode TIFF in JAFFE)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            if color == "gray" or img.mode in ("L", "I;16", "1"):
                return np.asarray(img.convert("L"))
            return np.asarray(img.convert("RGB"))[:, :, ::-1]
    except (OSError, UnidentifiedImageError, ValueError) as exc:
        raise DatasetError(f"{path}: not a readable image ({exc.__class__.__name__})") from None


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
