"""Snapshots and recordings: an annotated video plus a CSV row per face and frame."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np

from ferkit.errors import FerkitError
from ferkit.labels import label_names
from ferkit.outputs import AtomicFile, write_image
from ferkit.rows import RowWriter, columns, frame_rows
from ferkit.video.pipeline import FrameResult
from ferkit.video_writer import AtomicVideoWriter


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
    """Writes annotated frames to `<stem>.mp4` and their rows to `<stem>.csv` (the columns of
    every ferkit row) until `close()`, which moves both into place: until then they are
    hidden temporary files, so a crash never leaves half a recording under those names.

    The video (ferkit's one video writer: H.264 where PyAV is installed) opens with the first
    frame's size and appears at `<stem>.mp4` only when closed, playable; frames of another size
    are resized to it.

    `write` and `close` may come from different threads (the app's worker writes, the Tk
    thread stops): they take turns, and a frame written after `close` is dropped, because
    closing a video encoder in the middle of a frame crashes the process.
    """

    def __init__(self, stem: str | Path, fps: float, label_set: str):
        self.video_path = Path(stem).with_suffix(".mp4")
        self.csv_path = Path(stem).with_suffix(".csv")
        self._names = label_names(label_set)
        self._video = AtomicVideoWriter(self.video_path, fps if fps > 0 else 10.0)
        self._csv = AtomicFile(self.csv_path)
        try:
            self._csv_file = self._csv.tmp.open("w", newline="", encoding="utf-8")
        except OSError as exc:
            self._video.abort()
            self._csv.abort()
            raise FerkitError(f"{self.csv_path}: cannot write ({exc.strerror or exc})") from None
        self._rows = RowWriter(self._csv_file, "csv", columns(self._names))
        self._lock = threading.Lock()

    @property
    def frames(self) -> int:
        return self._video.frames

    def write(self, annotated_bgr: np.ndarray, result: FrameResult) -> None:
        with self._lock:
            if self._csv_file.closed:
                return
            self._video.write(annotated_bgr)
            self._rows.write_all(frame_rows(result, self._names))

    def close(self) -> None:
        with self._lock:
            if self._csv_file.closed:
                return
            try:
                try:
                    self._csv_file.close()
                except OSError as exc:
                    self._csv.abort()
                    raise FerkitError(f"{self.csv_path}: cannot write "
                                      f"({exc.strerror or exc})") from None
                self._csv.commit()
            finally:  # the encoder is closed whatever became of the CSV
                self._video.close()
