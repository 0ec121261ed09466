"""Factories for detector tests: the shipped photos, their true face boxes, composed frames."""

from __future__ import annotations

import cv2
import numpy as np

from ferkit.imageio import example_path, load_image

#: Face boxes (x1, y1, x2, y2) in the shipped 512x512 photos, drawn by hand.
TRUTH = {"astronaut": (173, 70, 278, 176), "camera": (185, 110, 262, 205)}


def photo(name: str = "astronaut") -> np.ndarray:
    return load_image(example_path(name))


def iou(a, b) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - w * h
    return w * h / union


def head(name: str, face_w: int) -> tuple[np.ndarray, np.ndarray]:
    """A head-and-shoulders cut of a shipped photo with the face `face_w` px wide, and its box."""
    box = np.array(TRUTH[name], float)
    scale = face_w / (box[2] - box[0])
    image = cv2.resize(photo(name), None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    box *= scale
    cx, cy, reach = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, 1.3 * face_w
    x0, y0 = int(max(cx - reach, 0)), int(max(cy - reach, 0))
    x1, y1 = int(min(cx + reach, image.shape[1])), int(min(cy + 1.3 * reach, image.shape[0]))
    return image[y0:y1, x0:x1], box - (x0, y0, x0, y0)


def compose(placements, size_wh=(640, 480)) -> tuple[np.ndarray, list[np.ndarray]]:
    """A frame on a soft grey gradient with (name, face_w, x, y) heads pasted at (x, y)."""
    width, height = size_wh
    ramp = np.linspace(90, 170, width, dtype=np.float32)
    frame = np.repeat(np.tile(ramp, (height, 1))[..., None], 3, axis=2).astype(np.uint8)
    truth = []
    for name, face_w, x, y in placements:
        patch, box = head(name, face_w)
        ph, pw = patch.shape[:2]
        frame[y:y + ph, x:x + pw] = patch[: height - y, : width - x]
        truth.append(box + (x, y, x, y))
    return frame, truth


#: Five heads on 640x480, faces 32 to 120 px wide, one of them turned well to the side.
CROWD = [("astronaut", 32, 20, 20), ("astronaut", 40, 140, 300), ("camera", 64, 250, 40),
         ("astronaut", 120, 300, 170), ("astronaut", 48, 530, 30)]
