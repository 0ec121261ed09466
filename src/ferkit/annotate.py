"""Drawing results: a new image with each face's box, label and probability."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np

from ferkit.faces import Face

#: BGR colour per emotion, so a label reads at a glance in every output.
COLOURS: dict[str, tuple[int, int, int]] = {
    "happy": (0, 200, 255), "angry": (0, 0, 230), "sad": (200, 90, 0),
    "neutral": (200, 200, 200), "surprise": (0, 230, 120), "disgust": (40, 140, 60),
    "fear": (160, 40, 160), "contempt": (120, 120, 0),
}


def draw(image_bgr: np.ndarray, faces: Sequence[Face]) -> np.ndarray:
    """A copy of `image_bgr` with every face's box and "label 0.87" (and track id) drawn."""
    out = image_bgr.copy()
    thickness = max(1, round(max(out.shape[:2]) / 400))
    for face in faces:
        x1, y1, x2, y2 = (round(v) for v in face.box_xyxy)
        label = face.label
        colour = COLOURS.get(label or "", (255, 255, 255))
        cv2.rectangle(out, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
        text = "face" if label is None else f"{label} {face.scores[label]:.2f}"
        if face.track_id is not None:
            text = f"#{face.track_id} {text}"
        scale = max(0.4, (x2 - x1) / 220)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
        top = max(y1 - th - base - 4, 0)
        cv2.rectangle(out, (x1, top), (x1 + tw + 4, top + th + base + 4), colour, -1)
        cv2.putText(out, text, (x1 + 2, top + th + 2), cv2.FONT_HERSHEY_SIMPLEX, scale,
                    (0, 0, 0), thickness, cv2.LINE_AA)
    return out
