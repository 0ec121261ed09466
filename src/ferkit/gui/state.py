"""App logic without a display: settings, frame processing (a StreamAnalyzer), geometry."""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ferkit.annotate import draw
from ferkit.detect import DEFAULT_DETECTOR
from ferkit.detect.spec import VIDEO_DETECTOR
from ferkit.faces import Face
from ferkit.labels import label_names
from ferkit.recognizer import RecognizerPool
from ferkit.video.io import Frame
from ferkit.video.pipeline import FrameResult, StreamAnalyzer, StreamOptions

#: Detector specs offered in the app, as `ferkit video` parses them: None (each kind of source
#: its default, as `ferkit batch` chooses: `StreamOptions.detector_for`), the streams' default
#: (RetinaFace), the photos' default (RetinaFace at full size, searching small images with no
#: face again: for face crops), tiled BlazeFace (small faces), Haar.
GUI_DETECTORS = (None, VIDEO_DETECTOR, DEFAULT_DETECTOR, "blazeface", "haar")
#: Weight of the newest frame in each face's averaged probabilities when smoothing is on.
SMOOTHING = 0.4


@dataclass(frozen=True)
class Settings:
    """What the user chose in the side panel; a new object per change (shared with the worker)."""

    label_set: str = "seed5"
    detector: str | None = None  # None: photos and streams each get their default
    smoothing: bool = True

    def __post_init__(self) -> None:
        self.options()  # FerkitError for an unknown label set or detector

    def options(self) -> StreamOptions:
        """The StreamOptions of these settings: the stream defaults of every front end, and
        each face's probabilities averaged over about 1 / SMOOTHING frames when smoothing."""
        return StreamOptions(label_set=self.label_set, detector=self.detector,
                             smooth=SMOOTHING if self.smoothing else 1.0)


@dataclass(frozen=True)
class Result:
    """One analysed frame as the worker hands it to the display, with what the display shows
    beside it."""

    frame: FrameResult
    annotated_bgr: np.ndarray
    settings: Settings
    source_name: str
    source_kind: str
    frame_count: int | None
    infer_ms: float
    fps: float = 0.0

    @property
    def faces(self) -> list[Face]:
        return self.frame.faces


class FrameProcessor:
    """Analyses the current source's frames: a `StreamAnalyzer` for the current settings over
    the `recognizers` pool's recognizer for the detector the settings give the source's kind.

    Per stream: `reset()` on a new source or a seek. A change of settings, or of the kind of
    source (a photo after a video), starts a new analysis (new track ids). Not thread-safe: one per
    worker.
    """

    def __init__(self, recognizers: RecognizerPool):
        self.recognizers = recognizers
        self._analyzer: StreamAnalyzer | None = None
        self._analysing: tuple[Settings, str] | None = None  # what _analyzer was made for

    def reset(self) -> None:
        if self._analyzer is not None:
            self._analyzer.reset()

    def process(self, frame: Frame, settings: Settings, kind: str = "video"
                ) -> tuple[FrameResult, np.ndarray, float]:
        """(the analysed, tracked frame, an annotated copy of it, inference milliseconds) for a
        frame of a `kind` ("image", "video" or "camera") source. A photo is read as `ferkit
        image` and `ferkit batch` read photos (their detector, mirror as `PHOTO_TTA` says), a
        video or camera frame as `ferkit video` reads frames."""
        media = "image" if kind == "image" else "video"
        if self._analyzer is None or (settings, media) != self._analysing:
            options = settings.options()
            options = replace(options, tta=options.tta_for(media))
            self._analyzer = StreamAnalyzer(
                self.recognizers.get(options.detector_for(media)), options)
            self._analysing = (settings, media)
        start = time.perf_counter()
        result = self._analyzer.update(frame)
        infer_ms = (time.perf_counter() - start) * 1000
        return result, draw(frame.image_bgr, result.faces), infer_ms


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
