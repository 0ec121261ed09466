"""The worker thread with a stand-in recognizer: images, videos, settings, errors, recording."""

from __future__ import annotations

import queue
import time

import numpy as np
import pytest

from ferkit.detect.spec import STREAM_PHOTO_DETECTOR, VIDEO_DETECTOR
from ferkit.errors import FerkitError, ImageError
from ferkit.faces import Face
from ferkit.gui.record import Recorder
from ferkit.gui.state import FrameProcessor, Settings
from ferkit.gui.worker import Worker
from ferkit.labels import label_names
from ferkit.recognizer import RecognizerPool
from ferkit.video.io import Frame, StillImage


class FakeRecognizer:
    """One face in the frame's centre; probabilities 1 for the set's first emotion."""

    def __init__(self, detector: str):
        self.detector, self.calls, self.near, self.tta = detector, 0, [], []

    def analyze(self, image, label_set="seed5", *, tta=False, near=None):
        self.calls += 1
        self.near.append(near)
        self.tta.append(tta)
        h, w = image.shape[:2]
        names = label_names(label_set)
        return [Face((w / 4, h / 4, 3 * w / 4, 3 * h / 4), 0.9,
                     scores={n: float(i == 0) for i, n in enumerate(names)})]


@pytest.fixture
def worker():
    made = {}
    processor = FrameProcessor(RecognizerPool(
        lambda name: made.setdefault(name, FakeRecognizer(name))))
    w = Worker(processor, Settings())
    w.made = made
    w.start()
    yield w
    w.stop()


def next_result(worker, timeout=10.0):
    return worker.results.get(timeout=timeout)


def messages(worker, until=None, timeout=10.0) -> list[str]:
    """Messages so far; with `until`, wait for one containing that text."""
    seen, end = [], time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            seen.append(worker.messages.get(timeout=0.05).text)
        except queue.Empty:
            if until is None:
                return seen
        if until is not None and any(until in m for m in seen):
            return seen
    return seen


def test_image_is_processed_once_and_again_on_new_settings(worker):
    worker.set_source(StillImage(np.zeros((40, 60, 3), np.uint8), name="grey"))
    result = next_result(worker)
    assert result.source_kind == "image" and result.faces[0].track_id == 1
    assert result.annotated_bgr.shape == (40, 60, 3)
    with pytest.raises(queue.Empty):
        worker.results.get(timeout=0.3)  # nothing changed: no more work
    worker.set_settings(Settings(label_set="fer2013", detector="haar"))
    result = next_result(worker)
    assert result.faces[0].label == "angry"
    assert set(worker.made) == {STREAM_PHOTO_DETECTOR, "haar"}  # photos: the photo default


def test_each_kind_of_source_gets_its_default_detector_until_one_is_chosen(worker, video_file):
    worker.set_source(StillImage(np.zeros((40, 60, 3), np.uint8), name="photo"))
    next_result(worker)
    worker.open(str(video_file[0]))
    next_result(worker)
    assert worker.made[STREAM_PHOTO_DETECTOR].calls == 1
    assert worker.made[VIDEO_DETECTOR].calls >= 1
    worker.set_source(None)  # no more video frames: only the photo meets the new settings
    worker.set_settings(Settings(detector="haar"))
    worker.set_source(StillImage(np.zeros((40, 60, 3), np.uint8), name="photo again"))
    while next_result(worker).source_name != "photo again":
        pass
    assert worker.made["haar"].calls == 1 and worker.made[STREAM_PHOTO_DETECTOR].calls == 1


@pytest.mark.parametrize("photo_tta", [True, False])
def test_photos_are_read_as_ferkit_image_reads_them_and_video_frames_once(monkeypatch,
                                                                          photo_tta):
    # Both settings of the constant, so that a photo read like a video frame fails either way.
    monkeypatch.setattr("ferkit.recognizer.PHOTO_TTA", photo_tta)
    PHOTO_TTA = photo_tta
    made = {}
    processor = FrameProcessor(RecognizerPool(
        lambda name: made.setdefault(name, FakeRecognizer(name))))
    image = np.zeros((40, 60, 3), np.uint8)
    for settings in (Settings(), Settings(detector="haar")):  # the kind decides, not the list
        processor.process(Frame(0, 0.0, image), settings, "image")
        processor.process(Frame(0, 0.0, image), settings, "video")
        processor.process(Frame(1, 1 / 30, image), settings, "camera")
        processor.process(Frame(0, 0.0, image), settings, "image")
    assert made[STREAM_PHOTO_DETECTOR].tta == [PHOTO_TTA, PHOTO_TTA]
    assert made[VIDEO_DETECTOR].tta == [False, False]
    assert made["haar"].tta == [PHOTO_TTA, False, False, PHOTO_TTA]


def test_video_plays_to_the_end_pauses_and_seeks(worker, video_file):
    path, count = video_file
    worker.open(str(path))
    indexes = [next_result(worker).frame.index for _ in range(count)]
    assert indexes == list(range(count))  # every frame, in order (display slower: see keep)
    assert any("end of drift.mp4" in m for m in messages(worker, until="end of"))
    assert not worker.playing
    worker.seek(3)
    result = next_result(worker)
    assert result.frame.index == 3 and result.faces[0].track_id == 1  # tracks reset by seek
    with pytest.raises(queue.Empty):
        worker.results.get(timeout=0.3)  # paused after the seek


def test_bad_sources_become_messages_and_the_worker_goes_on(worker, tmp_path):
    worker.open(str(tmp_path / "nope.png"))
    assert any("no such file" in m for m in messages(worker, until="no such file"))
    worker.open("7")  # almost surely no camera 7 here; a camera there would open instead
    seen = messages(worker, until="camera at index 7")
    assert any("no camera at index 7" in m for m in seen)
    worker.set_source(StillImage(np.zeros((20, 20, 3), np.uint8), name="ok"))
    assert next_result(worker).source_name == "ok"


def test_camera_that_fails_is_dropped_with_a_message(worker):
    class Unplugged:
        kind, seekable, name, fps, frame_count = "camera", False, "camera 0", 30.0, None

        def read(self):
            raise ImageError("camera 0 stopped delivering frames (disconnected?)")

        def close(self):
            pass

    worker.set_source(Unplugged())
    assert any("disconnected" in m for m in messages(worker, until="disconnected"))
    assert worker.source is None


def test_analysis_errors_are_reported_not_fatal():
    class Broken:
        def analyze(self, image, label_set="seed5", **options):
            raise FerkitError("model exploded")

    w = Worker(FrameProcessor(RecognizerPool(lambda name: Broken())))
    w.start()
    try:
        w.set_source(StillImage(np.zeros((20, 20, 3), np.uint8), name="x"))
        assert any("model exploded" in m for m in messages(w, until="exploded"))
    finally:
        w.stop()


def test_recording_writes_every_processed_frame(worker, video_file, tmp_path):
    path, count = video_file
    worker.open(str(path))
    next_result(worker)
    recorder = Recorder(tmp_path / "rec", 10.0, "seed5")
    worker.start_recording(recorder)
    messages(worker, until="end of")
    assert worker.stop_recording() is recorder and not worker.recording
    assert 1 <= recorder.frames < count
    assert recorder.video_path.stat().st_size > 0
    assert len(recorder.csv_path.read_text().splitlines()) == recorder.frames + 1


def test_video_frames_search_near_known_faces_between_whole_frame_searches():
    made = {}
    processor = FrameProcessor(RecognizerPool(
        lambda name: made.setdefault(name, FakeRecognizer(name))))
    image = np.zeros((40, 60, 3), np.uint8)
    settings = Settings()
    for index in (0, 1, 2, 3, 4, 5, 6, 9, 10):  # a seek from 6 to 9
        if index == 9:
            processor.reset()  # as the worker does on a seek
        processor.process(Frame(index, index / 30, image), settings)
    box = [(15.0, 10.0, 45.0, 30.0)]
    assert made[VIDEO_DETECTOR].near == [None, box, box, box, box, None, box, None, box]
    photo = FrameProcessor(RecognizerPool(
        lambda name: made.setdefault("photo", FakeRecognizer(name))))
    for _ in range(3):  # a still image is frame 0 every time: always a whole-frame search
        photo.process(Frame(0, 0.0, image), settings, "image")
    assert made["photo"].near == [None, None, None]


def test_a_source_still_being_read_when_stop_gives_up_is_closed_by_its_thread():
    import threading

    release = threading.Event()

    class Stalled:  # a camera that stops answering mid-read
        kind, seekable, name, fps, frame_count = "camera", False, "camera 0", 30.0, None
        closed = False

        def read(self):
            release.wait(10)
            return None

        def close(self):
            self.closed = True

    source = Stalled()
    w = Worker(FrameProcessor(RecognizerPool(lambda name: FakeRecognizer(name))))
    w.start()
    w.set_source(source)
    time.sleep(0.2)  # the thread is inside read()
    w.stop(timeout=0.1)
    assert not source.closed  # never closed under the reading thread
    release.set()
    w._thread.join(10)
    assert source.closed
