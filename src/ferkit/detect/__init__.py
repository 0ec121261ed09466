"""Face detectors behind one protocol, chosen by name: "blazeface" (default), "haar", "boxes"."""

from __future__ import annotations

import importlib
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ferkit.errors import FerkitError
from ferkit.faces import Face

DEFAULT_DETECTOR = "blazeface"

#: name -> "module:class", imported only when asked for so `import ferkit` stays cheap.
DETECTORS: dict[str, str] = {
    "blazeface": "ferkit.detect.blazeface:BlazeFaceDetector",
    "haar": "ferkit.detect.haar:HaarDetector",
    "boxes": "ferkit.detect.given:GivenBoxes",
}


@runtime_checkable
class FaceDetector(Protocol):
    """Finds faces: `detect(image_bgr)` returns Faces (no emotion scores), best first.

    Implementations are immutable after construction and safe to share between threads.
    """

    name: str

    def detect(self, image_bgr: np.ndarray) -> list[Face]: ...


def create_detector(name: str = DEFAULT_DETECTOR, **options: Any) -> FaceDetector:
    """Build the detector called `name` with its keyword `options`.

    blazeface: model="full_range"|"short_range", min_face_px=28, tiles=True, close_up=True,
    min_score, threads, max_side=None, near_input=80. haar: scale_factor=1.1,
    min_neighbors=5, min_size=24. boxes: boxes=[(x1, y1, x2, y2), ...] or None for the whole
    image as one face.
    """
    try:
        target = DETECTORS[name]
    except KeyError:
        raise FerkitError(
            f"unknown face detector {name!r}; choose one of {', '.join(DETECTORS)}") from None
    module_name, class_name = target.split(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    try:
        return cls(**options)
    except TypeError as exc:
        raise FerkitError(f"bad option for the {name} detector: {exc}") from None


__all__ = ["DEFAULT_DETECTOR", "DETECTORS", "FaceDetector", "create_detector"]
