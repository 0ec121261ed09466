"""Recognizer: the public entry point that turns images (or face crops) into faces with emotions."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from ferkit.align import DEFAULT_MARGIN, crop_face
from ferkit.detect import DEFAULT_DETECTOR, FaceDetector
from ferkit.detect.spec import parse_detector
from ferkit.faces import BoxXYXY, Face
from ferkit.imageio import ImageSource, load_image, shrink
from ferkit.labels import label_names
from ferkit.model import ExpressionModel

#: Larger images are detected on a copy shrunk to this longer side; boxes map back to the
#: original and crops come from the full-resolution pixels.
DETECT_MAX_SIDE = 1920
#: Whether photos are also classified mirrored, the two answers averaged. Off: the shipped
#: model already averages two networks, and the mirror added 0.7 points on RAF-DB validation,
#: 0.3 on FER2013 and -0.2 / -0.5 on FER+ / CK+ (noise) for twice the classifier's time
#: (docs/MODEL.md). `tta=True` (`--tta`) still asks for it; video frames never by default.
PHOTO_TTA = False


def photo_tta(asked: bool | None) -> bool:
    """Whether a photo's faces are also read mirrored: as `asked`, else as `PHOTO_TTA` says."""
    return PHOTO_TTA if asked is None else asked


class Recognizer:
    """Classifies facial expressions with an exported ferkit model.

    `model` is a path to an .onnx file, an `ExpressionModel`, or None for the model shipped
    with ferkit. `detector`: a detector spec ("retinaface", "blazeface:tiles=false", ...; see
    `ferkit.detect.spec.parse_detector`) or a detector object. Immutable and thread-safe, like
    the model it wraps: per-call options are arguments. `margin`: crop margin around each box
    (see `ferkit.align.crop_face`); None: the detector's `crop_margin`.
    """

    __slots__ = ("_model", "_detector", "_align", "_margin")

    def __init__(self, model: str | Path | ExpressionModel | None = None, *,
                 detector: str | FaceDetector = DEFAULT_DETECTOR, threads: int | None = None,
                 align: bool = True, margin: float | None = None):
        if model is None:
            model = ExpressionModel.shipped(threads=threads)
        elif not isinstance(model, ExpressionModel):
            model = ExpressionModel(model, threads=threads)
        if isinstance(detector, str):
            detector = parse_detector(detector)
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_detector", detector)
        object.__setattr__(self, "_align", align)
        if margin is None:
            # Detectors draw boxes of their own proportions; each says what margin makes its
            # box the classifier's crop (ferkit.align.DEFAULT_MARGIN where it does not).
            margin = getattr(detector, "crop_margin", DEFAULT_MARGIN)
        object.__setattr__(self, "_margin", float(margin))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Recognizer is immutable")

    def __repr__(self) -> str:
        return f"Recognizer({self._model!r})"

    @property
    def model(self) -> ExpressionModel:
        return self._model

    @property
    def detector(self) -> FaceDetector:
        return self._detector

    def classify(self, crops: Iterable[np.ndarray], label_set: str = "seed5", *,
                 tta: bool | None = None) -> np.ndarray:
        """Probabilities (N, K) for face crops, columns in `ferkit.label_names(label_set)` order.

        Crops are grayscale, BGR or BGRA uint8/uint16 arrays of any size; see
        `ExpressionModel.preprocess`. `tta` averages each crop with its horizontal mirror
        (None: as `PHOTO_TTA` says).
        """
        return self._model.probabilities(crops, label_set, tta=photo_tta(tta))

    def analyze(self, image: ImageSource, label_set: str = "seed5", *,
                tta: bool | None = None, near: Sequence[BoxXYXY] | None = None) -> list[Face]:
        """Every face in `image` with its emotion probabilities, best detection first.

        `image` is a path, encoded bytes, or an array (gray, BGR or BGRA; 8 or 16 bit). Files
        honour EXIF orientation. Boxes are in the image's own pixels. A face-less image gives
        an empty list. All faces of the image are classified in one batch. `tta`: see
        `classify`; video streams turn it off (`StreamOptions.tta_for`).
        `near`: boxes where faces are expected (the previous video frame's); detectors that
        can (`detect_near`) then look only around them, which is much faster. Others ignore it.
        """
        names = label_names(label_set)  # fail on a bad label set before any work
        faces, crops = self.face_crops(image, near=near)
        probs = self.classify(crops, label_set, tta=tta)
        return [f.with_scores(dict(zip(names, row.tolist(), strict=True)))
                for f, row in zip(faces, probs, strict=True)]

    def face_crops(self, image: ImageSource, *, near: Sequence[BoxXYXY] | None = None
                   ) -> tuple[list[Face], list[np.ndarray]]:
        """Every face in `image` (best detection first, unscored) and its crop as `analyze`
        classifies it: at the model's input size, in its colour. `image`, `near`: see
        `analyze`."""
        bgr = load_image(image)
        if near is not None and hasattr(self._detector, "detect_near"):
            faces = self._detector.detect_near(bgr, near)
        else:
            faces = self._detect(bgr)
        # Crops at the model's size, in its colour: a gray model's are gray from the start.
        gray = self._model.color == "gray"
        crops = [crop_face(bgr, f, size=self._model.input_size, margin=self._margin,
                           align=self._align, gray=gray) for f in faces]
        return faces, crops

    def _detect(self, bgr: np.ndarray) -> list[Face]:
        small = shrink(bgr, DETECT_MAX_SIDE)
        if small is bgr:
            return self._detector.detect(bgr)
        # One factor per axis: rounding each side to whole pixels scales them differently.
        fx, fy = bgr.shape[1] / small.shape[1], bgr.shape[0] / small.shape[0]
        return [_rescale(f, fx, fy) for f in self._detector.detect(small)]


class RecognizerPool:
    """One recognizer per detector spec, built on first use and shared; thread-safe.

    `factory(spec)` builds one; by default a `Recognizer` on one `ExpressionModel` (`model`,
    None for the shipped one, with `threads`) that every spec shares, loaded on first use.
    The server and the app hold one pool each.
    """

    def __init__(self, factory: Callable[[str], Any] | None = None, *,
                 model: str | Path | None = None, threads: int | None = None) -> None:
        self._factory = factory or self._shared_model_factory
        self._model, self._threads = model, threads
        self._expression: ExpressionModel | None = None
        self._lock = threading.Lock()
        self._recognizers: dict[str, Any] = {}

    def _shared_model_factory(self, detector: str) -> Recognizer:
        if self._expression is None:  # under the lock of `get`
            self._expression = (ExpressionModel.shipped(threads=self._threads)
                                if self._model is None
                                else ExpressionModel(self._model, threads=self._threads))
        return Recognizer(self._expression, detector=detector)

    def get(self, detector: str) -> Any:
        with self._lock:  # creation is rare; holding the lock keeps it to one per spec
            if detector not in self._recognizers:
                self._recognizers[detector] = self._factory(detector)
            return self._recognizers[detector]


def _rescale(face: Face, fx: float, fy: float) -> Face:
    x1, y1, x2, y2 = face.box_xyxy
    box = (x1 * fx, y1 * fy, x2 * fx, y2 * fy)
    points = None if face.landmarks is None else tuple(
        (x * fx, y * fy) for x, y in face.landmarks)
    return replace(face, box_xyxy=box, landmarks=points)
