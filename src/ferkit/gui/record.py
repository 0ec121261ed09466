"""Snapshots and recordings: an annotated video plus a CSV row per face and frame."""

from __future__ import annotations

import csv
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ferkit.errors import FerkitError
from ferkit.faces import POSE_COLUMNS, Face, faces_to_records
from ferkit.labels import label_names
from ferkit.outputs import write_image
from ferkit.video_writer import AtomicVideoWriter

_COLUMNS = ["frame", "time_s", "face", "track_id", "x1", "y1", "x2", "y2", "detector_score",
            *POSE_COLUMNS, "label"]


def timestamped(folder: str | Path, prefix: str, suffix: str) -> Path:
    """`<folder>/<prefix>-YYYYmmdd-HHMMSS<suffix>`, with a counter if that name is taken."""
    folder = Path(folder)
    base = f"{prefix}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, k = folder / f"{base}{suffix}", 1
    while path.exists() or path.with_suffix(".csv").exists():
        path, k = folder / f"{base}-{k}{suffix}", k + 1
    return path


def save_snapshot(folder: str | Path, annotated_bgr: np.ndarray) -> Path:
    """Write the annotated frame as a PNG in `folder`; returns its path."""
    path = timestamped(folder, "snapshot", ".png")
    write_image(path, annotated_bgr)
    return path


class Recorder:
    """Writes annotated frames to `<stem>.mp4` and results to `<stem>.csv` until `close()`.

    The video (ferkit's one video writer: H.264 where PyAV is installed) opens with the first
    frame's size and appears at `<stem>.mp4` only when closed, playable; frames of another size
    are resized to it.
    """

    def __init__(self, stem: str | Path, fps: float, label_set: str):
        self.video_path = Path(stem).with_suffix(".mp4")
        self.csv_path = Path(stem).with_suffix(".csv")
        self.fps = fps if fps > 0 else 10.0
        self._names = label_names(label_set)
        self._writer = AtomicVideoWriter(self.video_path, self.fps)
        try:
            self.video_path.parent.mkdir(parents=True, exist_ok=True)
            self._csv_file = self.csv_path.open("w", newline="")
        except OSError as exc:
            raise FerkitError(f"{self.csv_path}: cannot write ({exc.strerror or exc})") from None
        self._csv = csv.DictWriter(self._csv_file, fieldnames=_COLUMNS + list(self._names),
                                   extrasaction="ignore")
        self._csv.writeheader()
        self.frames = 0

    def write(self, annotated_bgr: np.ndarray, faces: Sequence[Face], frame_index: int,
              time_s: float) -> None:
        self._writer.write(annotated_bgr)
        for row in faces_to_records(faces, self._names, frame=frame_index,
                                    time_s=round(time_s, 3)):
            self._csv.writerow(row)
        self._csv_file.flush()
        self.frames += 1

    def close(self) -> None:
        try:
            self._writer.close()
        finally:
            if not self._csv_file.closed:
                self._csv_file.close()
