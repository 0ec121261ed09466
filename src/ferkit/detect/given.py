"""A detector that returns boxes the caller already knows: from another tool, or the whole image."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ferkit.errors import FerkitError
from ferkit.faces import Face


class GivenBoxes:
    """Reports `boxes` (x1, y1, x2, y2 in pixels) as faces, clipped to each image.

    With `boxes=None` the whole image is one face: for photos that are already face crops.
    `landmarks`, if given, holds one sequence of (x, y) points per box (eyes first, subject's
    right then left, so crops can be aligned).
    """

    name = "boxes"

    def __init__(
        self,
        boxes: Sequence[Sequence[float]] | np.ndarray | str | None = None,
        *,
        landmarks: Sequence[Sequence[Sequence[float]]] | None = None,
        score: float = 1.0,
    ) -> None:
        if isinstance(boxes, str):
            boxes = parse_boxes(boxes)
        if boxes is None:
            self.boxes = None
        else:
            try:
                array = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
            except ValueError:
                raise FerkitError(f"boxes must be rows of x1, y1, x2, y2; got {boxes!r}") from None
            bad = (array[:, 2] <= array[:, 0]) | (array[:, 3] <= array[:, 1])
            if bad.any():
                raise FerkitError(f"box {array[bad][0].tolist()} needs x2 > x1 and y2 > y1")
            self.boxes = tuple(tuple(map(float, row)) for row in array)
        if landmarks is not None and (self.boxes is None or len(landmarks) != len(self.boxes)):
            raise FerkitError("landmarks need one entry per box")
        self.landmarks = None if landmarks is None else tuple(
            tuple((float(x), float(y)) for x, y in points) for points in landmarks)
        self.score = float(score)

    def __repr__(self) -> str:
        return f"GivenBoxes({'whole image' if self.boxes is None else list(self.boxes)})"

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        height, width = image_bgr.shape[:2]
        if self.boxes is None:
            return [Face((0.0, 0.0, float(width), float(height)), self.score)]
        faces = []
        for i, (x1, y1, x2, y2) in enumerate(self.boxes):
            clipped = (max(x1, 0.0), max(y1, 0.0), min(x2, width), min(y2, height))
            if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
                raise FerkitError(
                    f"box {(x1, y1, x2, y2)} lies outside the {width}x{height} image")
            points = None if self.landmarks is None else self.landmarks[i]
            faces.append(Face(clipped, self.score, points))
        return faces


def parse_boxes(text: str) -> tuple[tuple[float, float, float, float], ...]:
    """Parse "x1,y1,x2,y2" boxes separated by spaces or semicolons, as typed on a command line."""
    boxes = []
    for part in text.replace(";", " ").split():
        values = part.split(",")
        try:
            if len(values) != 4:
                raise ValueError
            boxes.append(tuple(float(v) for v in values))
        except ValueError:
            raise FerkitError(f"bad box {part!r}: expected x1,y1,x2,y2") from None
    if not boxes:
        raise FerkitError("no boxes given: expected x1,y1,x2,y2 [x1,y1,x2,y2 ...]")
    return tuple(boxes)
