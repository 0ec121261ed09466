"""Helpers for the batch tests: small real media written from the shipped example photos."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
from media_helpers import write_video

from ferkit.imageio import example_path

__all__ = ["SEED5", "make_media", "pan_frames", "read_rows", "write_video"]

SEED5 = ("happy", "angry", "sad", "neutral", "surprise")
SORT = [("input", "ascending"), ("frame", "ascending"), ("track_id", "ascending")]


def pan_frames(count: int = 30, size_wh: tuple[int, int] = (320, 240)) -> list[np.ndarray]:
    """The astronaut photo panned across `count` frames: one face drifting left."""
    photo = cv2.imread(str(example_path("astronaut")))
    return [cv2.resize(photo[10:346, 8 + 5 * k: 456 + 5 * k], size_wh,
                       interpolation=cv2.INTER_AREA) for k in range(count)]


def make_media(root: Path, videos: int = 1, frames: int = 30) -> Path:
    """root/clips/pan<k>.mp4 (`frames` frames each), root/photos/{astronaut.jpg,
    nested/camera.png} and root/broken.mp4 (not a video), beside nothing else."""
    for k in range(videos):
        write_video(root / "clips" / f"pan{k}.mp4", pan_frames(frames + k))
    (root / "photos" / "nested").mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(root / "photos" / "astronaut.jpg"), cv2.imread(str(example_path())))
    cv2.imwrite(str(root / "photos" / "nested" / "camera.png"),
                cv2.imread(str(example_path("camera"))))
    (root / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 truncated" * 20)
    return root


def read_rows(out: Path):
    """The whole faces/ folder as one table, in a fixed row order."""
    return pq.read_table(out / "faces").sort_by(SORT)


def run_job_dying_on_part_3(job):
    """A pool process's job runner that kills its process on part 3 of any input, as an input
    that exhausts memory would (for LocalEngine's retry tests)."""
    import os

    from ferkit.batch import local

    if job.part == 3:
        os._exit(1)
    return local._run_job(job)
