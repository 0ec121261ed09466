"""Frame sources for the app: a still image, a video file (seekable) or a camera, behind one API."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ferkit.errors import ImageError
from ferkit.imageio import load_image
from ferkit.outputs import IMAGE_SUFFIXES

#: Frame rate assumed when a video file or camera does not report a usable one.
DEFAULT_FPS = 25.0


class SourceError(ImageError):
    """A source could not be opened or stopped delivering frames (e.g. camera unplugged)."""


@dataclass(frozen=True)
class Frame:
    """One BGR uint8 frame, its 0-based index in the source and its time in seconds."""

    image_bgr: np.ndarray
    index: int
    time_s: float


class StillImage:
    """An image file (or array) as a source of one frame; `read` always returns that frame."""

    kind = "image"
    seekable = False

    def __init__(self, image: str | Path | np.ndarray, name: str | None = None):
        self.image_bgr = load_image(image)
        self.name = name or (Path(image).name if not isinstance(image, np.ndarray) else "image")
        self.fps = 0.0
        self.frame_count = 1

    def read(self) -> Frame:
        return Frame(self.image_bgr, 0, 0.0)

    def seek(self, index: int) -> None:
        pass

    def close(self) -> None:
        pass


class _Capture:
    """Shared cv2.VideoCapture handling for files and cameras."""

    kind = "video"
    seekable = True

    def __init__(self, capture: cv2.VideoCapture, name: str):
        self._cap = capture
        self.name = name
        fps = capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 1 <= fps <= 240 else DEFAULT_FPS
        self._next = 0

    def _grab(self) -> np.ndarray | None:
        ok, image = self._cap.read()
        if not ok or image is None:
            return None
        if image.ndim == 2 or image.shape[2] != 3:
            image = load_image(image)
        return image

    def close(self) -> None:
        self._cap.release()


class VideoFile(_Capture):
    """A video file: frames in order, `seek(index)` to jump; `read` returns None at the end."""

    def __init__(self, path: str | Path):
        path = Path(path)
        if not path.is_file():
            raise SourceError(f"cannot open {path}: no such file")
        cap = cv2.VideoCapture(str(path))
        if not cap.isOpened():
            raise SourceError(f"cannot open {path}: not a video OpenCV can read")
        super().__init__(cap, path.name)
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.frame_count = count if count > 0 else None
        first = self._grab()
        if first is None:
            cap.release()
            raise SourceError(f"cannot open {path}: no frame could be decoded")
        self._first = first

    def read(self) -> Frame | None:
        if self._first is not None:
            image, self._first = self._first, None
        else:
            image = self._grab()
        if image is None:
            return None
        index = self._next
        self._next += 1
        return Frame(image, index, index / self.fps)

    def seek(self, index: int) -> None:
        last = (self.frame_count or index + 1) - 1
        index = max(0, min(int(index), last))
        self._first = None
        self._cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        self._next = index


class Camera(_Capture):
    """A camera by index, read by its own thread so `read` returns the newest frame.

    Without that thread the driver's buffer would hand out frames seconds old whenever
    analysis is slower than the camera. `read` raises SourceError when the camera stops
    delivering (unplugged) or sends nothing for `timeout_s`.
    """

    kind = "camera"
    seekable = False

    def __init__(self, index: int, *, capture_factory=cv2.VideoCapture, timeout_s: float = 5.0):
        cap = capture_factory(int(index))
        if not cap.isOpened():
            cap.release()
            raise SourceError(f"no camera at index {index} (is one connected and free?)")
        super().__init__(cap, f"camera {index}")
        self.index = int(index)
        self.frame_count = None
        self.timeout_s = timeout_s
        self._latest: tuple[np.ndarray, int] | None = None
        self._failed = False
        self._closing = False
        self._fresh = threading.Condition()
        self._thread = threading.Thread(target=self._grab_loop, name=f"ferkit-camera-{index}",
                                        daemon=True)
        self._thread.start()

    def _grab_loop(self) -> None:
        count = 0
        while not self._closing:
            image = self._grab()
            with self._fresh:
                if image is None:
                    self._failed = True
                else:
                    self._latest = (image, count)
                    count += 1
                self._fresh.notify_all()
            if image is None:
                return

    def read(self) -> Frame:
        with self._fresh:
            if not self._fresh.wait_for(lambda: self._latest is not None or self._failed,
                                        self.timeout_s):
                raise SourceError(f"camera {self.index} sent no frame for {self.timeout_s:g} s")
            if self._latest is None:
                raise SourceError(
                    f"camera {self.index} stopped delivering frames (disconnected?)")
            (image, index), self._latest = self._latest, None
        return Frame(image, index, index / self.fps)

    def seek(self, index: int) -> None:
        pass

    def close(self) -> None:
        self._closing = True
        self._thread.join(2.0)
        if not self._thread.is_alive():
            self._cap.release()


FrameSource = StillImage | VideoFile | Camera


def open_source(spec: str | int | Path) -> FrameSource:
    """A camera for an integer (or a string of digits), else an image or video file by content.

    Raises SourceError (an ImageError) with a message for the user when nothing can be read.
    """
    if isinstance(spec, int) or (isinstance(spec, str) and spec.strip().isdigit()):
        return Camera(int(spec))
    path = Path(spec)
    if not path.exists():
        raise SourceError(f"cannot open {path}: no such file")
    if path.is_dir():
        raise SourceError(f"cannot open {path}: it is a folder, not an image or video")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        try:
            return StillImage(path)
        except ImageError as exc:
            raise SourceError(str(exc)) from None
    try:
        return VideoFile(path)
    except SourceError:
        try:  # an image with an unusual suffix
            return StillImage(path)
        except ImageError:
            raise SourceError(
                f"cannot open {path}: neither an image nor a video ferkit can read") from None
