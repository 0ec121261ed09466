"""App logic without a display: settings, tracking, smoothing, frame processing, geometry."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from ferkit.annotate import draw
from ferkit.faces import Face
from ferkit.gui.sources import Frame
from ferkit.labels import label_names

#: Detectors offered in the app (the "boxes" detector needs boxes given by a user).
GUI_DETECTORS = ("blazeface", "haar")


@dataclass(frozen=True)
class Settings:
    """What the user chose in the side panel; a new object per change (shared with the worker)."""

    label_set: str = "seed5"
    detector: str = "blazeface"
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


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two xyxy boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


class Smoother:
    """Gives faces stable track ids (greedy IoU matching) and, if asked, averages their scores.

    Scores are an exponential moving average with weight `alpha` on the newest frame. A track
    unseen for `max_missing` frames is forgotten. Not thread-safe: one per worker.
    """

    def __init__(self, *, alpha: float = 0.4, min_iou: float = 0.3, max_missing: int = 10):
        self.alpha, self.min_iou, self.max_missing = alpha, min_iou, max_missing
        self.reset()

    def reset(self) -> None:
        self._tracks: dict[int, tuple[Face, int]] = {}  # id -> (last face, frames missing)
        self._next_id = 1

    def update(self, faces: Sequence[Face], smooth: bool = True) -> list[Face]:
        pairs = sorted(((iou(f.box_xyxy, t.box_xyxy), i, tid)
                        for i, f in enumerate(faces) for tid, (t, _) in self._tracks.items()),
                       reverse=True)
        assigned: dict[int, int] = {}
        used: set[int] = set()
        for overlap, i, tid in pairs:
            if overlap < self.min_iou:
                break
            if i not in assigned and tid not in used:
                assigned[i] = tid
                used.add(tid)
        out = []
        for i, face in enumerate(faces):
            tid = assigned.get(i)
            if tid is None:
                tid, self._next_id = self._next_id, self._next_id + 1
            elif smooth and face.scores and self._tracks[tid][0].scores:
                old = self._tracks[tid][0].scores
                if old.keys() == face.scores.keys():
                    face = face.with_scores({k: self.alpha * v + (1 - self.alpha) * old[k]
                                             for k, v in face.scores.items()})
            face = replace(face, track_id=tid)
            out.append(face)
        tracks = {tid: (t, missing + 1) for tid, (t, missing) in self._tracks.items()
                  if tid not in used and missing + 1 <= self.max_missing}
        tracks.update({f.track_id: (f, 0) for f in out})
        self._tracks = tracks
        return out


class FrameProcessor:
    """Runs a recognizer per detector name (built lazily by `factory`) on frames.

    `factory(detector_name)` returns an object with `analyze(image, label_set)`, normally a
    `ferkit.Recognizer`. Recognizers are cached; this object itself is not thread-safe (the
    smoother is per stream), so use one per worker.
    """

    def __init__(self, factory: Callable[[str], object]):
        self._factory = factory
        self._recognizers: dict[str, object] = {}
        self._lock = threading.Lock()
        self.smoother = Smoother()

    def recognizer(self, detector: str):
        with self._lock:
            if detector not in self._recognizers:
                self._recognizers[detector] = self._factory(detector)
            return self._recognizers[detector]

    def process(self, frame: Frame, settings: Settings) -> tuple[list[Face], np.ndarray, float]:
        """(tracked faces, annotated copy of the frame, inference milliseconds)."""
        recognizer = self.recognizer(settings.detector)
        start = time.perf_counter()
        faces = recognizer.analyze(frame.image_bgr, settings.label_set)
        infer_ms = (time.perf_counter() - start) * 1000
        faces = self.smoother.update(faces, smooth=settings.smoothing)
        return faces, draw(frame.image_bgr, faces), infer_ms


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
