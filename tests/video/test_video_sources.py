"""The app's sources in ferkit.video.io: images, video files (read, seek, end), cameras, and
every way they fail."""

from __future__ import annotations

import time

import numpy as np
import pytest

from ferkit.errors import ImageError
from ferkit.imageio import example_path
from ferkit.video.io import Camera, StillImage, VideoFile, open_source


def test_still_image_repeats_its_frame():
    source = open_source(str(example_path()))
    assert isinstance(source, StillImage) and source.kind == "image"
    a, b = source.read(), source.read()
    assert a.image_bgr is b.image_bgr and a.index == 0
    assert source.name == "astronaut.jpg"


def test_video_reads_in_order_seeks_and_ends(video_file):
    path, count = video_file
    source = open_source(path)
    assert isinstance(source, VideoFile) and source.kind == "video"
    assert source.frame_count == count and source.fps == pytest.approx(10.0)
    indexes = []
    while (frame := source.read()) is not None:
        indexes.append(frame.index)
        assert frame.image_bgr.shape == (256, 256, 3)
    assert indexes == list(range(count))
    source.seek(5)
    frame = source.read()
    assert (frame.index, frame.time_s) == (5, pytest.approx(0.5))
    source.seek(10_000)  # clamped to the last frame
    assert source.read().index == count - 1
    source.close()


@pytest.mark.parametrize("make, message", [
    (lambda d: d / "missing.mp4", "no such file"),
    (lambda d: d, "it is a folder"),
    (lambda d: _write(d / "notes.mp4", b"not a video"), "neither an image nor a video"),
    (lambda d: _write(d / "broken.png", b"\x89PNG broken"), "cannot"),
])
def test_unreadable_sources_raise_source_error(tmp_path, make, message):
    with pytest.raises(ImageError, match=message):
        open_source(make(tmp_path))


def _write(path, data):
    path.write_bytes(data)
    return path


class FakeCapture:
    """Stands in for cv2.VideoCapture: `frames` frames at 100 fps, then read() fails."""

    def __init__(self, opened=True, frames=2):
        self.opened, self.frames, self.released = opened, frames, False

    def isOpened(self):  # noqa: N802 - OpenCV's spelling
        return self.opened

    def get(self, _prop):
        return 30.0

    def read(self):
        time.sleep(0.01)
        if self.frames <= 0:
            return False, None
        self.frames -= 1
        return True, np.full((4, 6, 3), self.frames, np.uint8)

    def release(self):
        self.released = True


def test_camera_missing_and_disconnected():
    with pytest.raises(ImageError, match="no camera at index 3"):
        Camera(3, capture_factory=lambda i: FakeCapture(opened=False))
    capture = FakeCapture(frames=5)
    camera = Camera(1, capture_factory=lambda i: capture)
    assert camera.kind == "camera" and camera.name == "camera 1" and camera.fps == 30.0
    first = camera.read()
    time.sleep(0.2)  # the camera runs on while nobody reads: read gives the newest frame
    assert camera.read().index == 4 > first.index
    with pytest.raises(ImageError, match="camera 1 stopped delivering"):
        camera.read()
    camera.close()
    assert capture.released


def test_silent_camera_times_out():
    class Silent(FakeCapture):
        def read(self):  # a driver that hangs
            time.sleep(0.5)
            return True, np.zeros((4, 6, 3), np.uint8)

    camera = Camera(0, capture_factory=lambda i: Silent(), timeout_s=0.1)
    try:
        with pytest.raises(ImageError, match="camera 0 sent no frame for 0.1 s"):
            camera.read()
    finally:
        camera.close()


def test_digits_mean_a_camera(monkeypatch):
    opened = []
    monkeypatch.setattr("ferkit.video.io.Camera", lambda i: opened.append(i) or "cam")
    assert open_source("2") == "cam" and open_source(0) == "cam"
    assert opened == [2, 0]
