"""Face detectors behind one protocol, chosen by name from DETECTORS (default: retinaface)."""

from __future__ import annotations

import importlib
import inspect
import numbers
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ferkit.errors import FerkitError
from ferkit.faces import Face

#: The detector every front end uses for still images unless told otherwise (streams:
#: `ferkit.detect.spec.VIDEO_DETECTOR`). RetinaFace over BlazeFace's tiles: on the composed
#: scenes of benchmarks/bench_scenes.py and bench_detect.py it found about as many faces (more
#: of 40 px and up, fewer of 20-30 px), 1.4x (640x480) to 3x (1280x720) faster, and its five
#: landmarks give the head pose. See docs/BENCHMARKS.md, "Face detectors on real faces".
DEFAULT_DETECTOR = "retinaface"

#: name -> "module:class", imported only when asked for so `import ferkit` stays cheap.
DETECTORS: dict[str, str] = {
    "retinaface": "ferkit.detect.retinaface:RetinaFaceDetector",
    "blazeface": "ferkit.detect.blazeface:BlazeFaceDetector",
    "haar": "ferkit.detect.haar:HaarDetector",
    "boxes": "ferkit.detect.given:GivenBoxes",
}


@runtime_checkable
class FaceDetector(Protocol):
    """Finds faces: `detect(image_bgr)` returns Faces (no emotion scores), best first.

    Implementations are immutable after construction and safe to share between threads.
    They may set `crop_margin`, the `ferkit.align.crop_face` margin that turns their boxes
    into crops like the classifier's training faces (default `ferkit.align.DEFAULT_MARGIN`).
    """

    name: str

    def detect(self, image_bgr: np.ndarray) -> list[Face]: ...


def create_detector(name: str = DEFAULT_DETECTOR, **options: Any) -> FaceDetector:
    """Build the detector called `name` with its keyword `options`.

    retinaface: max_side=None, min_score=0.4, iou_threshold=0.4, threads=2, near_input=96,
    close_up=True, zoom=True.
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
    params = {key: param for key, param in inspect.signature(cls).parameters.items()
              if param.kind in (param.KEYWORD_ONLY, param.POSITIONAL_OR_KEYWORD)}
    for key, value in options.items():
        _check_option(name, key, value, params)
    try:
        return cls(**options)
    except (TypeError, ValueError) as exc:  # a value the checks above let through
        raise FerkitError(f"bad option for the {name} detector: {exc}") from None


#: What an option's annotation asks of a value given as text (a spec string), said simply.
_KINDS = {"bool": ((bool, np.bool_), "true or false"), "int": (numbers.Integral, "a whole number"),
          "float": (numbers.Real, "a number")}


def _check_option(name: str, key: str, value: Any, params: dict[str, inspect.Parameter]
                  ) -> None:
    """FerkitError, in the words of a spec string, for an unknown option or a value of the
    wrong kind."""
    if key not in params:
        raise FerkitError(f"unknown option {key!r} for the {name} detector; it takes "
                          f"{', '.join(params)}")
    kinds = str(params[key].annotation).replace(" ", "").split("|")
    if (value is None and "None" in kinds) or kinds[0] not in _KINDS:
        return  # None where allowed, or an option of another kind (boxes, a model name)
    allowed, said = _KINDS[kinds[0]]
    is_bool = isinstance(value, (bool, np.bool_))
    if not isinstance(value, allowed) or (kinds[0] != "bool" and is_bool):
        raise FerkitError(f"{name} detector: {key} must be {said}"
                          + (" or none" if "None" in kinds else "") + f", got {value!r}")


__all__ = ["DEFAULT_DETECTOR", "DETECTORS", "FaceDetector", "create_detector"]
