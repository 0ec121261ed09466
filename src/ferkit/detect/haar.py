"""OpenCV's Haar cascade frontal-face detector: no extra files, frontal faces only."""

from __future__ import annotations

import threading
from pathlib import Path

import cv2
import numpy as np

from ferkit.errors import FerkitError
from ferkit.faces import Face

CASCADE = "haarcascade_frontalface_default.xml"


def available() -> bool:
    """Whether this OpenCV build has the cascade classifier and its bundled cascade files."""
    return hasattr(cv2, "CascadeClassifier") and hasattr(getattr(cv2, "data", None),
                                                         "haarcascades")


class HaarDetector:
    """Viola-Jones cascade as shipped with opencv-python 4.x; no landmarks.

    `detector_score` is n / (n + min_neighbors) for n overlapping raw hits, so 0.5 is the
    weakest face reported: a ranking, not a probability.
    Safe to share between threads: each thread gets its own cascade, since OpenCV's
    CascadeClassifier keeps scratch state per object.
    """

    name = "haar"

    def __init__(
        self,
        *,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size: int = 24,
        cascade: str | Path | None = None,
    ) -> None:
        if not available():
            raise FerkitError(f"OpenCV {cv2.__version__} has no Haar cascades (OpenCV 5 dropped "
                              "them); install opencv-python-headless<5 or use blazeface")
        if cascade is None:
            cascade = Path(cv2.data.haarcascades) / CASCADE
        self.cascade_path = str(cascade)
        self.scale_factor = float(scale_factor)
        self.min_neighbors = int(min_neighbors)
        self.min_size = int(min_size)
        if self.scale_factor <= 1 or self.min_neighbors < 0 or self.min_size < 1:
            raise FerkitError("haar needs scale_factor > 1, min_neighbors >= 0 and min_size >= 1; "
                              f"got {self.scale_factor}, {self.min_neighbors}, {self.min_size}")
        self._local = threading.local()
        self._cascade()  # fail now, not on the first image, if the file is missing

    def __repr__(self) -> str:
        return (f"HaarDetector(scale_factor={self.scale_factor}, "
                f"min_neighbors={self.min_neighbors}, min_size={self.min_size})")

    def _cascade(self) -> cv2.CascadeClassifier:
        cascade = getattr(self._local, "cascade", None)
        if cascade is None:
            cascade = cv2.CascadeClassifier(self.cascade_path)
            if cascade.empty():
                raise FerkitError(f"cannot load Haar cascade {self.cascade_path}")
            self._local.cascade = cascade
        return cascade

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        gray = image_bgr if image_bgr.ndim == 2 else cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
        # Equalising first is the classic recipe: the cascade was trained on normalised crops.
        gray = cv2.equalizeHist(gray)
        boxes, counts = self._cascade().detectMultiScale2(
            gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
            minSize=(self.min_size, self.min_size))
        faces = []
        for (x, y, w, h), n in zip(np.reshape(boxes, (-1, 4)), np.ravel(counts), strict=True):
            score = n / (n + max(self.min_neighbors, 1))
            faces.append(Face((x, y, x + w, y + h), score))
        faces.sort(key=lambda f: -f.detector_score)
        return faces
