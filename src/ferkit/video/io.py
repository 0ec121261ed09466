"""Every reader of frames (file in order, seekable file, latest-frame camera, still image), one
set of errors and frame-rate rules. (The one video writer: ferkit.video_writer.)"""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, TypeVar

import cv2
import numpy as np

from ferkit.errors import FerkitError, ImageError
from ferkit.imageio import IMAGE_SUFFIXES, load_image

VideoSource = str | os.PathLike | int
T = TypeVar("T")

#: Frame rate a reader paces or times frames by when the file or camera reports none.
DEFAULT_FPS = 25.0


class Frame(NamedTuple):
    """One BGR uint8 frame with its 0-based index in the stream and its time in seconds."""

    index: int
    time_s: float
    image_bgr: np.ndarray


# -- frame streams -----------------------------------------------------------------------------
@dataclass(frozen=True)
class VideoInfo:
    """What a stream says about itself: `fps` and `frame_count` are 0 when unknown (cameras)."""

    name: str
    fps: float
    frame_count: int
    size_wh: tuple[int, int]
    is_camera: bool

    def analysed_frames(self, every: int = 1) -> int | None:
        """Frames a stream analysing every `every`-th frame will see; None when unknown."""
        return -(-self.frame_count // every) if self.frame_count else None


def describe_source(source: VideoSource) -> tuple[str | int, str, bool]:
    """(what cv2.VideoCapture opens, a name for messages, is it a camera) for a path or index.

    An int, or a string of digits that names no existing file, is a camera index.
    """
    if isinstance(source, (int, np.integer)) and not isinstance(source, bool):
        return int(source), f"camera {int(source)}", True
    text = os.fspath(source)
    if text.isdigit() and not Path(text).exists():
        return int(text), f"camera {int(text)}", True
    return text, text, False


@contextmanager
def _quiet_opencv():
    """OpenCV logs failed opens as multi-line warnings; ferkit reports its own one line."""
    logging = getattr(getattr(cv2, "utils", None), "logging", None)
    if logging is None:
        yield
        return
    level = logging.getLogLevel()
    logging.setLogLevel(logging.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        logging.setLogLevel(level)


def quiet_ffmpeg() -> None:
    """Silence FFmpeg's own stderr lines ("moov atom not found") for this process, unless the
    user set OPENCV_FFMPEG_LOGLEVEL; read once, before OpenCV's first FFmpeg use."""
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET


def open_video(source: VideoSource) -> tuple[cv2.VideoCapture, VideoInfo]:
    """An opened cv2.VideoCapture and its VideoInfo, or ImageError naming the file or camera."""
    target, name, is_camera = describe_source(source)
    if not is_camera:
        path = Path(target)
        if not path.exists():
            raise ImageError(f"cannot read video {name}: no such file")
        if path.is_dir():
            raise ImageError(f"cannot read video {name}: it is a folder")
        if path.stat().st_size == 0:
            raise ImageError(f"cannot read video {name}: the file is empty")
        try:
            target.encode("utf-8")
        except UnicodeEncodeError:  # OpenCV's FFmpeg reader crashes the process on such a name
            raise ImageError(f"cannot read video {name.encode('utf-8', 'replace').decode()}: "
                             "its file name is not valid UTF-8; rename it") from None
    with _quiet_opencv():
        cap = cv2.VideoCapture(target)
        opened = cap.isOpened()
    if not opened:
        cap.release()
        if is_camera:
            raise ImageError(f"no camera at index {target} (is one connected and free?)")
        raise ImageError(f"cannot read video {name}: not a video, truncated, or a format "
                         "OpenCV cannot decode")
    return cap, _info(cap, name, is_camera)


def _info(cap: cv2.VideoCapture, name: str, is_camera: bool) -> VideoInfo:
    """What an opened capture says about itself; a frame rate outside (0, 1000) is unknown."""
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0),
            int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0))
    fps = fps if 0 < fps < 1000 else 0.0
    return VideoInfo(name, fps, max(count, 0) if not is_camera else 0, size, is_camera)


def probe_video(source: VideoSource) -> VideoInfo:
    """VideoInfo of a file or camera, opened and closed again."""
    cap, info = open_video(source)
    cap.release()
    return info


def iter_frames(
    source: VideoSource, every: int = 1, *, max_frames: int | None = None,
    start: int = 0, stop: int | None = None,
) -> Iterator[Frame]:
    """A Frame (index, time in seconds, BGR uint8 pixels) for every `every`-th frame.

    One frame is held at a time, so memory stays constant however long the video; skipped
    frames are grabbed but not decoded. Times come from the file's frame rate (cameras: seconds
    since the first frame). `max_frames` stops after that many yielded frames. `start` and
    `stop` read only the frames with start <= index < stop (files only); indices and the
    `every` stride still count from frame 0, so consecutive ranges together yield exactly the
    frames of one whole pass. A file that yields no frame at all, or stops well short of the
    frame count it declares, raises ImageError naming it (after the frames it did yield).
    """
    if int(every) < 1:
        raise FerkitError(f"every must be 1 or more, got {every}")
    if int(start) < 0:
        raise FerkitError(f"start must be 0 or more, got {start}")
    every, start = int(every), int(start)
    cap, info = open_video(source)
    if start and info.is_camera:
        cap.release()
        raise FerkitError(f"{info.name}: a camera cannot start at a frame index")
    began = time.monotonic()
    yielded = 0
    try:
        index = _seek(cap, source, start) if start else 0
        while (max_frames is None or yielded < max_frames) and (stop is None or index < stop):
            if index % every:
                if not cap.grab():
                    break
            else:
                ok, frame = cap.read()
                if not ok or frame is None:
                    break
                if info.is_camera:
                    time_s = time.monotonic() - began
                elif info.fps:
                    time_s = index / info.fps
                else:
                    time_s = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                yield Frame(index, time_s, _as_bgr(frame))
                yielded += 1
            index += 1
    finally:
        cap.release()
    # A range that starts near the end may rightly hold no frame (frame counts are estimates);
    # the truncation check below still catches a file that ends well before its count.
    if yielded == 0 and start == 0 and (max_frames is None or max_frames > 0) and stop != 0:
        raise ImageError(f"cannot read video {info.name}: no frame could be decoded "
                         "(empty or truncated file)")
    stopped_early = ((max_frames is None or yielded < max_frames)
                     and (stop is None or index < stop))
    slack = max(2, info.frame_count // 50)  # containers' frame counts are often approximate
    if stopped_early and info.frame_count and index < info.frame_count - slack:
        raise ImageError(f"video {info.name} ended after {index} of its {info.frame_count} "
                         "frames: the file looks truncated")


_END = object()


def prefetch(items: Iterable[T], depth: int = 2) -> Iterator[T]:
    """`items`, produced up to `depth` ahead by a background thread.

    For frames: decoding the next frame then overlaps analysing this one (OpenCV and ONNX
    Runtime release the GIL), which on 2 cores hides most of the decode. An exception from
    `items` is raised here after the items before it; closing this generator early stops the
    thread and closes `items` (releasing a capture).
    """
    pending: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry: tuple) -> bool:
        while not stop.is_set():
            try:
                pending.put(entry, timeout=0.1)
                return True
            except queue.Full:
                pass
        return False

    def produce() -> None:
        source = iter(items)
        try:
            for item in source:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as exc:  # handed over, raised by the consumer in order
            put((_END, exc))
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()

    worker = threading.Thread(target=produce, name="ferkit-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, exc = pending.get()
            if item is _END:
                if exc is not None:
                    raise exc
                return
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)


def _seek(cap: cv2.VideoCapture, source: VideoSource, start: int) -> int:
    """Move `cap` so its next frame is `start`; return the index of that next frame.

    OpenCV's FFmpeg backend seeks frame-accurately (to the key frame before, then decodes
    forward). Where the backend reports another position, grab forward from frame 0 instead:
    slower, but the frames are then certainly the ones a whole pass would see.
    """
    with _quiet_opencv():
        if cap.set(cv2.CAP_PROP_POS_FRAMES, start) and \
                int(round(cap.get(cv2.CAP_PROP_POS_FRAMES))) == start:
            return start
        cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
    if int(round(cap.get(cv2.CAP_PROP_POS_FRAMES))) != 0:
        raise ImageError(f"cannot seek in video {describe_source(source)[1]}")
    index = 0
    while index < start and cap.grab():
        index += 1
    return index


def _as_bgr(frame: np.ndarray) -> np.ndarray:
    if frame.ndim == 2:
        return cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR)
    if frame.shape[2] == 4:
        return cv2.cvtColor(frame, cv2.COLOR_BGRA2BGR)
    return frame


# -- sources the app steps through: still image, seekable file, latest-frame camera ------------
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
        return Frame(0, 0.0, self.image_bgr)

    def seek(self, index: int) -> None:
        pass

    def close(self) -> None:
        pass


class VideoFile:
    """A video file: its frames in order, `seek(index)` to jump; `read` returns None at the end.

    Read by `iter_frames`, so with the frames, times and errors of every reader; the first
    frame is decoded at once, so a file OpenCV opens but cannot decode fails here, not later.
    """

    kind = "video"
    seekable = True

    def __init__(self, path: str | Path):
        self.path = Path(path)
        info = probe_video(self.path)
        self.name, self.fps = self.path.name, info.fps or DEFAULT_FPS
        self.frame_count = info.frame_count or None
        self._frames = iter_frames(self.path)
        self._first: Frame | None = next(self._frames)

    def read(self) -> Frame | None:
        frame, self._first = self._first, None
        return frame if frame is not None else next(self._frames, None)

    def seek(self, index: int) -> None:
        last = (self.frame_count or index + 1) - 1
        self.close()
        self._frames = iter_frames(self.path, start=max(0, min(int(index), last)))

    def close(self) -> None:
        self._first = None
        self._frames.close()


class Camera:
    """A camera by index, read by its own thread so `read` returns the newest frame.

    Without that thread the driver's buffer would hand out frames seconds old whenever
    analysis is slower than the camera. `read` raises ImageError when the camera stops
    delivering (unplugged) or sends nothing for `timeout_s`.
    """

    kind = "camera"
    seekable = False

    def __init__(self, index: int, *, capture_factory=cv2.VideoCapture, timeout_s: float = 5.0):
        with _quiet_opencv():
            cap = capture_factory(int(index))
            opened = cap.isOpened()
        if not opened:
            cap.release()
            raise ImageError(f"no camera at index {index} (is one connected and free?)")
        self._cap = cap
        self.index = int(index)
        self.name = f"camera {index}"
        self.fps = _info(cap, self.name, True).fps or DEFAULT_FPS
        self.frame_count = None
        self.timeout_s = timeout_s
        self._latest: Frame | None = None
        self._failed = False
        self._closing = False
        self._fresh = threading.Condition()
        self._thread = threading.Thread(target=self._grab_loop, name=f"ferkit-camera-{index}",
                                        daemon=True)
        self._thread.start()

    def _grab_loop(self) -> None:
        count, began = 0, time.monotonic()
        while not self._closing:
            ok, image = self._cap.read()
            image = _as_bgr(image) if ok and image is not None else None
            with self._fresh:
                if image is None:
                    self._failed = True
                else:
                    # A camera's time is seconds since its first frame, as in iter_frames.
                    self._latest = Frame(count, time.monotonic() - began, image)
                    count += 1
                self._fresh.notify_all()
            if image is None:
                return

    def read(self) -> Frame:
        with self._fresh:
            if not self._fresh.wait_for(lambda: self._latest is not None or self._failed,
                                        self.timeout_s):
                raise ImageError(f"camera {self.index} sent no frame for {self.timeout_s:g} s")
            if self._latest is None:
                raise ImageError(
                    f"camera {self.index} stopped delivering frames (disconnected?)")
            frame, self._latest = self._latest, None
        return frame

    def seek(self, index: int) -> None:
        pass

    def close(self) -> None:
        self._closing = True
        self._thread.join(2.0)
        if not self._thread.is_alive():
            self._cap.release()


FrameSource = StillImage | VideoFile | Camera


def open_source(spec: str | int | Path) -> FrameSource:
    """A camera for an integer (or a string of digits), else a file: a photo by its suffix
    (`IMAGE_SUFFIXES`), else whatever opens, a video first, then a photo.

    Raises ImageError with a message for the user when nothing can be read.
    """
    target, _, is_camera = describe_source(spec)
    if is_camera:
        return Camera(int(target))
    path = Path(spec)
    if not path.exists():
        raise ImageError(f"cannot open {path}: no such file")
    if path.is_dir():
        raise ImageError(f"cannot open {path}: it is a folder, not an image or video")
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return StillImage(path)
    try:
        return VideoFile(path)
    except ImageError:
        try:  # an image with an unusual suffix
            return StillImage(path)
        except ImageError:
            raise ImageError(
                f"cannot open {path}: neither an image nor a video ferkit can read") from None



