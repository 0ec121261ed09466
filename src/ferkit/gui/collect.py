"""Collect mode: save face crops into `<root>/<emotion>/`, the layout `read_folder` reads."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ferkit.align import crop_face
from ferkit.errors import FerkitError
from ferkit.faces import Face
from ferkit.labels import EMOTIONS, canonical
from ferkit.outputs import write_image

#: Saved crops are shrunk to at most this side (training uses 48 px; this keeps room to spare).
MAX_CROP_SIDE = 256


def collect_emotion(name: str) -> str:
    """The canonical emotion a collect folder is named after; FerkitError for anything else."""
    try:
        emotion = canonical(name)
    except FerkitError:
        emotion = None
    if emotion not in EMOTIONS:
        raise FerkitError(f"cannot collect {name!r}: choose one of {', '.join(EMOTIONS)}")
    return emotion


def save_face_crops(image_bgr: np.ndarray, faces: Sequence[Face], root: str | Path,
                    emotion: str, *, stem: str | None = None) -> list[Path]:
    """Write each face's (aligned, colour) crop as `<root>/<emotion>/<stem>-<n>.png`.

    Never overwrites: a taken name gets a counter. Returns the paths written.
    """
    emotion = collect_emotion(emotion)
    folder = Path(root) / emotion
    stem = stem or time.strftime("%Y%m%d-%H%M%S")
    written = []
    for n, face in enumerate(faces):
        crop = crop_face(image_bgr, face, gray=False)
        if max(crop.shape[:2]) > MAX_CROP_SIDE:
            crop = cv2.resize(crop, (MAX_CROP_SIDE, MAX_CROP_SIDE), interpolation=cv2.INTER_AREA)
        path = folder / f"{stem}-{n}.png"
        k = 1
        while path.exists():
            path = folder / f"{stem}-{n}-{k}.png"
            k += 1
        write_image(path, crop)
        written.append(path)
    return written
