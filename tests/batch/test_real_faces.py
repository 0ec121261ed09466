"""Integration: real FER2013 test faces composed into photos and a video, through `ferkit
batch` (local engine); the shipped model must label them as their folders say, mostly."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from batch_helpers import read_rows, write_video

from ferkit.batch import BatchSettings, run_batch
from ferkit.batch.local import LocalEngine

DATASETS = Path(os.environ.get("FERKIT_DATASETS")
                or Path(__file__).resolve().parents[2].parent / "shared" / "datasets")
FER_TEST = DATASETS / "fer2013" / "test"
PAIRS = 10

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not FER_TEST.is_dir(),
                       reason=f"FER2013 test images not found at {FER_TEST} (set FERKIT_DATASETS)"),
]


def compose(left: Path, right: Path, shift: int = 0) -> np.ndarray:
    """A 640x360 frame: a happy face on the left half, a surprised one on the right."""
    canvas = np.full((360, 640, 3), 120, np.uint8)
    for k, path in enumerate((left, right)):
        face = cv2.resize(cv2.imread(str(path), cv2.IMREAD_GRAYSCALE), (176, 176),
                          interpolation=cv2.INTER_CUBIC)
        x = 60 + 320 * k + shift
        canvas[90:266, x:x + 176] = face[..., None]
    return canvas


def test_real_faces_in_photos_and_a_video(tmp_path):
    happy = sorted((FER_TEST / "happy").glob("*.jpg"))[:PAIRS]
    surprise = sorted((FER_TEST / "surprise").glob("*.jpg"))[:PAIRS]
    inputs = tmp_path / "in"
    inputs.mkdir()
    for k, (a, b) in enumerate(zip(happy, surprise, strict=True)):
        cv2.imwrite(str(inputs / f"pair{k:02d}.png"), compose(a, b))
    write_video(inputs / "drift.mp4", [compose(happy[1], surprise[1], 2 * k) for k in range(20)])

    settings = BatchSettings()
    outcome = run_batch([inputs], tmp_path / "out", settings, LocalEngine(settings, 2),
                        chunk_frames=6, progress=False)
    assert outcome.report["inputs"] == {"total": PAIRS + 1, "done": PAIRS + 1, "skipped": 0,
                                        "failed": 0}
    rows = read_rows(tmp_path / "out").to_pylist()
    photos = [r for r in rows if r["input"].endswith(".png")]
    sides = {"happy": [], "surprise": []}
    for r in photos:
        sides["happy" if (r["x1"] + r["x2"]) / 2 < 320 else "surprise"].append(r["label"])
    assert len(photos) >= PAIRS  # at least half of the 2 * PAIRS faces found
    for expected, labels in sides.items():
        assert Counter(labels)[expected] >= 0.7 * len(labels), (expected, labels)

    video = [r for r in rows if r["input"].endswith("drift.mp4")]
    assert {r["frame"] for r in video} <= set(range(20)) and len(video) >= 20
    for half in (lambda r: r["x2"] < 340, lambda r: r["x1"] > 300):
        assert len({r["track_id"] for r in video if half(r)}) <= 1  # one id per face

    summary = {Path(r["input"]).name: r
               for r in pq.read_table(tmp_path / "out" / "summary.parquet").to_pylist()}
    assert summary["drift.mp4"]["frames"] == 20
    assert summary["drift.mp4"]["tracks"] == len({r["track_id"] for r in video})
