"""Small factories for the video tests: a synthetic clip, a face at a place, probabilities."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ferkit.faces import Face

LABELS = ("happy", "angry", "sad", "neutral", "surprise")




def write_video(path: Path, frames: int = 10, size_wh=(64, 48), fps: float = 10.0,
                fourcc: str = "MJPG") -> Path:
    """A small video whose frame k is filled with grey level 20 * k (k < 12)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size_wh)
    assert writer.isOpened()
    for k in range(frames):
        writer.write(np.full((size_wh[1], size_wh[0], 3), (20 * k) % 256, np.uint8))
    writer.release()
    return path


def box_face(x: float, y: float, w: float = 40, scores=None) -> Face:
    return Face((x, y, x + w, y + w), 0.9, scores=scores)


def probs(*values: float) -> dict[str, float]:
    return dict(zip(LABELS, values, strict=True))
