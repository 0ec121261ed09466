"""App logic without a display: settings, tracking, smoothing, frame processing, geometry."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ferkit.annotate import draw
from ferkit.detect.spec import REDETECT_EVERY, VIDEO_DETECTOR
from ferkit.faces import BoxXYXY, Face
from ferkit.gui.sources import Frame
from ferkit.labels import label_names
from ferkit.video import IoUTracker, ScoreSmoother, TrackerConfig

#: Detector specs offered in the app, as `ferkit video` parses them: the streams' default
#: (RetinaFace), tiled BlazeFace (small faces), Haar.
GUI_DETECTORS = (VIDEO_DETECTOR, "blazeface", "haar")


@dataclass(frozen=True)
class Settings:
    """What the user chose in the side panel; a new object per change (shared with the worker)."""

    label_set: str = "seed5"
    detector: str = GUI_DETECTORS[0]
    smoothing: bool = True

    def __post_init__(self) -> None:
        label_names(self.label_set)  # raises FerkitError for an unknown set


@dataclass(frozen=True)
class Result:
    """One processed frame as the worker hands it to the display."""

    frame: Frame
    faces: list[Face]
    annotated_bgr: np.ndarray
    settings: Settings
    source_name: str
    source_kind: str
    frame_count: int | None
    infer_ms: float
    fps: float = 0.0
    extra: dict = field(default_factory=dict)


class Smoother:
    """Stable track ids (ferkit.video's IoUTracker) and, when asked, averaged scores (its
    ScoreSmoother, weight `alpha` on the newest frame). Per stream: `reset()` on a new source
    or a seek. Not thread-safe: one per worker.
    """

    def __init__(self, *, alpha: float = 0.4, config: TrackerConfig | None = None):
        self.alpha, self.config = alpha, config
        self.reset()

    def reset(self) -> None:
        self._tracker = IoUTracker(self.config)
        self.reset_scores()

    def reset_scores(self) -> None:
        """Forget averaged scores but keep track ids (e.g. when the label set changes)."""
        self._scores = ScoreSmoother(self.alpha)

    def update(self, faces: Sequence[Face], smooth: bool = True) -> list[Face]:
        tracked = self._tracker.update(faces)
        smoothed = self._scores.update(tracked, self._tracker.active_ids)
        return smoothed if smooth else tracked


class FrameProcessor:
    """Runs a recognizer per detector spec (built lazily by `factory`) on frames.

    `factory(detector_spec)` returns an object with `analyze(image, label_set)`, normally a
    `ferkit.Recognizer`. Recognizers are cached; this object itself is not thread-safe (the
    smoother is per stream), so use one per worker.
    """

    def __init__(self, factory: Callable[[str], object]):
        self._factory = factory
        self._recognizers: dict[str, object] = {}
        self._lock = threading.Lock()
        self.smoother = Smoother()
        self._label_set: str | None = None
        # Last frame's (detector, index, faces) and frames since a whole-frame search: video
        # and camera frames in between search only near the faces already found, as
        # `ferkit video` does (see `ferkit.video.analyze_frames`).
        self._previous: tuple[str, int, list[Face]] | None = None
        self._since_search = 0

    def recognizer(self, detector: str):
        with self._lock:
            if detector not in self._recognizers:
                self._recognizers[detector] = self._factory(detector)
            return self._recognizers[detector]

    def process(self, frame: Frame, settings: Settings) -> tuple[list[Face], np.ndarray, float]:
        """(tracked faces, annotated copy of the frame, inference milliseconds)."""
        recognizer = self.recognizer(settings.detector)
        near = self._near(frame, settings.detector)
        start = time.perf_counter()
        if near is None:
            faces = recognizer.analyze(frame.image_bgr, settings.label_set)
            self._since_search = 0
        else:
            faces = recognizer.analyze(frame.image_bgr, settings.label_set, near=near)
            self._since_search += 1
        infer_ms = (time.perf_counter() - start) * 1000
        self._previous = (settings.detector, frame.index, faces)
        if settings.label_set != self._label_set:  # averages over other columns mean nothing
            self.smoother.reset_scores()
            self._label_set = settings.label_set
        faces = self.smoother.update(faces, smooth=settings.smoothing)
        return faces, draw(frame.image_bgr, faces), infer_ms


    def _near(self, frame: Frame, detector: str) -> list[BoxXYXY] | None:
        """Boxes to search near, or None for a whole-frame search: a photo (same index), a
        seek or a dropped run of frames, no faces last time, or every REDETECT_EVERY-th."""
        if self._previous is None:
            return None
        last_detector, last_index, faces = self._previous
        follows = 0 < frame.index - last_index <= 2
        if (last_detector != detector or not follows or not faces
                or self._since_search >= REDETECT_EVERY - 1):
            return None
        return [f.box_xyxy for f in faces]


@dataclass(frozen=True)
class ViewTransform:
    """Maps between image pixels and a view that shows the whole image, centred, aspect kept."""

    scale: float
    offset_x: float
    offset_y: float
    size_wh: tuple[int, int]  # the image's size in view pixels

    @classmethod
    def fit(cls, image_wh: tuple[int, int], view_wh: tuple[int, int]) -> ViewTransform:
        iw, ih = max(1, image_wh[0]), max(1, image_wh[1])
        vw, vh = max(1, view_wh[0]), max(1, view_wh[1])
        scale = min(vw / iw, vh / ih)
        w, h = max(1, round(iw * scale)), max(1, round(ih * scale))
        return cls(scale, (vw - w) / 2, (vh - h) / 2, (w, h))

    def to_image(self, x: float, y: float) -> tuple[float, float]:
        return (x - self.offset_x) / self.scale, (y - self.offset_y) / self.scale

    def to_view(self, box_xyxy: Sequence[float]) -> tuple[float, float, float, float]:
        x1, y1, x2, y2 = box_xyxy
        s, ox, oy = self.scale, self.offset_x, self.offset_y
        return x1 * s + ox, y1 * s + oy, x2 * s + ox, y2 * s + oy


def face_at(faces: Sequence[Face], x: float, y: float) -> int | None:
    """Index of the smallest face whose box holds image point (x, y), or None."""
    hits = [(f.size_wh[0] * f.size_wh[1], i) for i, f in enumerate(faces)
            if f.box_xyxy[0] <= x <= f.box_xyxy[2] and f.box_xyxy[1] <= y <= f.box_xyxy[3]]
    return min(hits)[1] if hits else None


def selected_face(faces: Sequence[Face], track_id: int | None) -> Face | None:
    """The face with `track_id`, else (none chosen or it left) the first, best-detected face."""
    if track_id is not None:
        for face in faces:
            if face.track_id == track_id:
                return face
    return faces[0] if faces else None


def probability_bars(face: Face | None, label_set: str) -> list[tuple[str, float]]:
    """(emotion, probability) in the label set's column order; zeros when there is no face."""
    scores = (face.scores if face is not None else None) or {}
    return [(name, float(scores.get(name, 0.0))) for name in label_names(label_set)]


class FpsMeter:
    """Frames per second over the last `window` ticks."""

    def __init__(self, window: int = 30, clock: Callable[[], float] = time.perf_counter):
        self._times: deque[float] = deque(maxlen=window)
        self._clock = clock

    def tick(self) -> float:
        self._times.append(self._clock())
        return self.fps

    @property
    def fps(self) -> float:
        if len(self._times) < 2:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0

    def reset(self) -> None:
        self._times.clear()
