"""Reader for JAFFE: `<subject>.<EXPR><n>.<id>.tiff` portraits, faces cropped by the detector."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ferkit.datasets.base import FaceSample, label_of, read_gray, require_dir
from ferkit.errors import DatasetError

SOURCE = "jaffe"
_NAME = re.compile(r"^([A-Za-z]{2})\.([A-Za-z]{2})(\d+)\.(\d+)\.tiff?$")


def read_jaffe(root: str | Path, crop: bool = True) -> Iterator[FaceSample]:
    """Yield JAFFE faces with their labels.

    With `crop`, each 256x256 portrait is cut down to its most confident detected face
    (eyes levelled, as at inference); a portrait with no detected face is kept whole.
    """
    root = require_dir(Path(root), "a JAFFE folder of .tiff files")
    files = sorted(p for p in root.iterdir() if p.suffix.lower() in (".tiff", ".tif"))
    if not files:
        raise DatasetError(f"{root}: no JAFFE .tiff files")
    for file in files:
        match = _NAME.match(file.name)
        if not match:
            raise DatasetError(f"{file}: expected a JAFFE name like KA.AN1.39.tiff")
        image = read_gray(file)
        if crop:
            image = _crop_face(image)
        yield FaceSample(
            image=image, label=label_of(match.group(2), file), source=SOURCE, split="all",
            subject=match.group(1).upper(), path=str(file),
        )


def _crop_face(gray: np.ndarray) -> np.ndarray:
    """The portrait's most confident face as a square crop, or the portrait if none is found."""
    import cv2

    from ferkit.align import crop_face

    bgr = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    faces = _detector().detect(bgr)
    if not faces:
        return gray
    best = max(faces, key=lambda f: f.detector_score)
    return crop_face(bgr, best, gray=True)


@functools.cache
def _detector():
    # One detector for all portraits: building its ONNX session costs more than a detection.
    from ferkit.detect import create_detector

    return create_detector("blazeface")
