"""Face crops for the classifier: square, with a margin, eyes levelled when landmarks exist."""

from __future__ import annotations

import math

import cv2
import numpy as np

from ferkit.faces import Face

#: Extra room on each side of the detector box, as a fraction of the box's larger side.
#: FER2013-style training crops run from the brow to the chin, close to a BlazeFace box.
DEFAULT_MARGIN = 0.1


def eye_angle(face: Face) -> float | None:
    """Degrees the face is rolled (positive: its left eye, on the image's right, sits lower),
    from landmarks 0 and 1 (the subject's right and left eye); None without landmarks."""
    if not face.landmarks or len(face.landmarks) < 2:
        return None
    (rx, ry), (lx, ly) = face.landmarks[0], face.landmarks[1]
    if rx == lx and ry == ly:
        return None
    return math.degrees(math.atan2(ly - ry, lx - rx))


def crop_face(
    image_bgr: np.ndarray,
    face: Face,
    *,
    size: int | None = None,
    margin: float = DEFAULT_MARGIN,
    align: bool = True,
    gray: bool = True,
) -> np.ndarray:
    """The face as a square crop: centred on its box, side = larger box side x (1 + 2 margin),
    rotated about the box centre so the eyes are level when `align` and landmarks allow.

    Pixels beyond the image border repeat the edge pixels. `size` resizes the crop to
    size x size (None: the crop's own pixel size). Returns uint8 gray (H, W) or BGR (H, W, 3).
    """
    x1, y1, x2, y2 = face.box_xyxy
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    side = max(x2 - x1, y2 - y1, 1.0) * (1 + 2 * margin)
    angle = eye_angle(face) if align else None
    native = max(1, round(side))
    out = size or native
    # Warp at no less than native resolution, then shrink with INTER_AREA: warpAffine has no
    # area filter, and bilinear alone aliases a big face shrunk to 48 px.
    warp = max(out, native) if out < native / 2 else out
    scale = warp / side
    matrix = cv2.getRotationMatrix2D((cx, cy), angle or 0.0, scale)
    matrix[0, 2] += warp / 2 - cx
    matrix[1, 2] += warp / 2 - cy
    # Only the pixels the rotated square can reach (plus one for bilinear) are converted and
    # warped: a photo with many faces would otherwise convert the whole image once per face.
    height, width = image_bgr.shape[:2]
    reach = side * math.sqrt(0.5) + 2
    x0, y0 = max(0, math.floor(cx - reach)), max(0, math.floor(cy - reach))
    x1, y1 = min(width, math.ceil(cx + reach)), min(height, math.ceil(cy + reach))
    if x0 >= x1 or y0 >= y1:  # a box wholly off the image: the border pixels, as before
        x0, y0, x1, y1 = 0, 0, width, height
    source = image_bgr[y0:y1, x0:x1]
    matrix[:, 2] += matrix[:, :2] @ (x0, y0)
    if gray and source.ndim == 3:
        source = cv2.cvtColor(source, cv2.COLOR_BGR2GRAY)
    crop = cv2.warpAffine(source, matrix, (warp, warp), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE)
    if warp != out:
        crop = cv2.resize(crop, (out, out), interpolation=cv2.INTER_AREA)
    if not gray and crop.ndim == 2:
        crop = cv2.cvtColor(crop, cv2.COLOR_GRAY2BGR)
    return crop

