"""Collect mode writes what read_folder reads; snapshots and recordings (video + CSV)."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

from ferkit.datasets.folder import read_folder
from ferkit.errors import FerkitError
from ferkit.faces import Face
from ferkit.gui.collect import collect_emotion, save_face_crops
from ferkit.gui.record import Recorder, save_snapshot
from ferkit.labels import label_names
from ferkit.rows import columns
from ferkit.video import FrameResult


def frame(h=120, w=160) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 255, (h, w, 3), dtype=np.uint8)


FACES = [Face((10, 10, 60, 60), 0.9, scores={"happy": 0.8, "sad": 0.2}, track_id=1),
         Face((80, 20, 140, 80), 0.8, scores={"happy": 0.1, "sad": 0.9}, track_id=2)]


def test_collected_crops_read_back_as_a_dataset(tmp_path):
    root = tmp_path / "own"
    first = save_face_crops(frame(), FACES, root, "happiness", stem="a")  # any known spelling
    again = save_face_crops(frame(), FACES[:1], root, "happy", stem="a")  # never overwrites
    save_face_crops(frame(), FACES[1:], root, "sad")
    assert [p.relative_to(root).as_posix() for p in first] == ["happy/a-0.png", "happy/a-1.png"]
    assert again[0].name == "a-0-1.png"
    samples = list(read_folder(root))
    assert sorted(s.label for s in samples) == ["happy"] * 3 + ["sad"]
    crop = cv2.imread(str(first[1]))
    assert crop.shape[0] == crop.shape[1] > 60  # square, with margin around the box


@pytest.mark.parametrize("name", ["bored", "", "unknown"])
def test_collect_rejects_names_that_are_not_emotions(name):
    with pytest.raises(FerkitError, match="cannot collect"):
        collect_emotion(name)


def test_snapshot_and_recording(tmp_path):
    snap = save_snapshot(tmp_path, frame())
    assert snap.suffix == ".png" and cv2.imread(str(snap)).shape == (120, 160, 3)
    assert save_snapshot(tmp_path, frame()) != snap  # a second one in the same second

    recorder = Recorder(tmp_path / "rec", 10.0, "seed5")
    for i in range(5):
        image = frame()
        recorder.write(image, FrameResult(i, i / 10, image, FACES if i % 2 == 0 else []))
    assert not recorder.video_path.exists() and not recorder.csv_path.exists()  # not yet
    small = frame(60, 80)
    recorder.write(small, FrameResult(5, 0.5, small, FACES[:1]))  # other sizes are resized
    recorder.close()
    capture = cv2.VideoCapture(str(recorder.video_path))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 6
    capture.release()
    with recorder.csv_path.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["frame"] for r in rows] == ["0", "0", "2", "2", "4", "4", "5"]
    assert list(rows[0]) == columns(label_names("seed5"))
    assert rows[1]["label"] == "sad" and float(rows[1]["sad"]) == pytest.approx(0.9)
    assert rows[1]["angry"] == ""  # emotions the face has no score for stay empty


def test_a_recording_closed_from_another_thread_while_frames_arrive(tmp_path):
    # The app's worker writes while the Tk thread stops the recording (Ctrl+C, stop button):
    # closing the encoder mid-frame used to crash the process.
    import threading

    recorder = Recorder(tmp_path / "rec", 10.0, "seed5")
    image = frame()
    errors: list[BaseException] = []
    written = threading.Event()

    def keep_writing() -> None:
        try:
            for i in range(400):
                recorder.write(image, FrameResult(i, i / 10, image, FACES))
                written.set()
        except BaseException as exc:  # noqa: BLE001 - reported by the assert below
            errors.append(exc)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    written.wait(10)
    recorder.close()
    writer.join(30)
    assert errors == []
    capture = cv2.VideoCapture(str(recorder.video_path))
    frames = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    capture.release()
    with recorder.csv_path.open() as fh:
        rows = list(csv.DictReader(fh))
    assert frames >= 1 and len(rows) == 2 * frames  # the files agree: no half-written frame


def test_a_recording_whose_folder_was_removed_still_closes_its_video(tmp_path, monkeypatch):
    import shutil

    (tmp_path / "gone").mkdir()
    recorder = Recorder(tmp_path / "gone" / "rec", 10.0, "seed5")
    image = frame()
    recorder.write(image, FrameResult(0, 0.0, image, FACES))
    closed = []
    monkeypatch.setattr(recorder._video, "close", lambda: closed.append(True))
    shutil.rmtree(tmp_path / "gone")  # the user removed the folder while recording
    with pytest.raises(FerkitError, match="cannot write"):
        recorder.close()
    assert closed == [True]  # the encoder is finished whatever became of the CSV
