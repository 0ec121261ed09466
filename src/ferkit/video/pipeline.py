"""The per-frame loop, the one place it lives: options, detect -> track -> smooth, FrameResult."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ferkit.detect.spec import (
    REDETECT_EVERY,
    STREAM_PHOTO_DETECTOR,
    VIDEO_DETECTOR,
    detector_name,
)
from ferkit.errors import FerkitError
from ferkit.faces import Face
from ferkit.labels import label_names
from ferkit.video.io import Frame, VideoSource, describe_source, iter_frames, prefetch
from ferkit.video.track import IoUTracker, ScoreSmoother, TrackerConfig

if TYPE_CHECKING:
    from ferkit.recognizer import Recognizer


@dataclass(frozen=True)
class StreamOptions:
    """How a stream is analysed, validated once; every front end builds one of these.

    `every`: analyse every N-th frame. `smooth`: weight of the newest frame in each track's
    moving average of probabilities, in (0, 1] (1 = off). `redetect_every` K: search the
    whole frame every K-th analysed frame and only near the faces already found in between.
    `detector`: a spec, "name" or "name:key=value,..."; None: photos and video frames each
    get their own default (see `detector_for`). `model`: an .onnx path, None for the
    shipped model. `threads`: ONNX Runtime threads per model (None: its default).
    `tta`: also classify each face mirrored and average; None: photos as `PHOTO_TTA` says,
    video frames no (see `tta_for`).
    """

    label_set: str = "seed5"
    detector: str | None = None
    every: int = 1
    smooth: float = 1.0
    tta: bool | None = None
    redetect_every: int = REDETECT_EVERY
    model: str | None = None
    threads: int | None = None

    def __post_init__(self) -> None:
        label_names(self.label_set)  # FerkitError naming the choices
        if self.detector is not None:
            detector_name(self.detector)  # FerkitError naming the choices; built when used
        if self.every < 1:
            raise FerkitError(f"every (--every) must be 1 or more, got {self.every}")
        if not 0 < self.smooth <= 1:
            raise FerkitError(f"smooth (--smooth) must be in (0, 1] (1 = off), got {self.smooth}")
        if self.redetect_every < 1:
            raise FerkitError("redetect_every (--redetect-every) must be 1 or more, got "
                              f"{self.redetect_every}")
        if self.threads is not None and self.threads < 1:
            raise FerkitError(f"threads (--threads) must be 1 or more, got {self.threads}")
        if isinstance(self.model, Path):
            object.__setattr__(self, "model", str(self.model))

    def tta_for(self, kind: str) -> bool:
        """Whether faces of a `kind` ("image" or "video") input are also read mirrored: `tta`
        where set; else photos as `ferkit.recognizer.PHOTO_TTA` says, and video frames not,
        as a video reads each face in every frame, where the mirror would double the
        classifier's cost each time and smoothing over frames steadies answers anyway."""
        _check_kind(kind)
        from ferkit.recognizer import photo_tta

        return photo_tta(self.tta) if kind == "image" else bool(self.tta)

    def detector_for(self, kind: str) -> str:
        """The detector spec for a `kind` ("image" or "video") input: `detector` where set;
        else photos get `STREAM_PHOTO_DETECTOR` (the image default on one thread, as `ferkit
        image` searches them) and video frames `VIDEO_DETECTOR`."""
        _check_kind(kind)
        if self.detector is not None:
            return self.detector
        return STREAM_PHOTO_DETECTOR if kind == "image" else VIDEO_DETECTOR

    def recognizer(self, kind: str = "video") -> Recognizer:
        """The Recognizer these options describe for `kind` inputs (FerkitError for a bad model
        or detector)."""
        from ferkit.recognizer import Recognizer

        return Recognizer(self.model, detector=self.detector_for(kind), threads=self.threads)


def _check_kind(kind: str) -> None:
    if kind not in ("image", "video"):
        raise FerkitError(f"kind must be 'image' or 'video', got {kind!r}")


@dataclass(frozen=True)
class FrameResult:
    """One analysed frame: its index and time in the stream, its pixels (None where they were
    not kept), and its faces (track ids set once tracked)."""

    index: int
    time_s: float
    frame_bgr: np.ndarray | None = field(repr=False)  # printing a result prints no pixels
    faces: list[Face] = field(default_factory=list)


class StreamAnalyzer:
    """Push-style analysis of one stream: `update(frame)` -> FrameResult, tracked and smoothed.

    Owns the per-stream state: the tracker, the smoother and the re-detect schedule (a
    whole-frame search on every `redetect_every`-th frame since the start or the last
    `reset()`, and whenever the last frame had no faces or the frame does not follow the last
    one; near the last faces in between). Call `reset()` after a seek or on a new source. The
    recognizer is shared and stateless (None: only `track` faces found elsewhere); one analyzer
    serves one stream on one thread.
    """

    def __init__(self, recognizer: Recognizer | None, options: StreamOptions | None = None, *,
                 tracker: TrackerConfig | None = None) -> None:
        self.recognizer = recognizer
        self.options = options or StreamOptions()
        self._tracker_config = tracker
        self.reset()

    def reset(self) -> None:
        """Forget the stream: new track ids, no averages, a whole-frame search next."""
        self._tracker = IoUTracker(self._tracker_config)
        self._smoother = ScoreSmoother(self.options.smooth)
        self._previous: list[Face] = []
        self._last_index: int | None = None
        self._n = 0

    def detect(self, frame: Frame) -> list[Face]:
        """The frame's faces with probabilities, before tracking (the schedule advances)."""
        if self.recognizer is None:
            raise FerkitError("this StreamAnalyzer has no recognizer: it only tracks")
        index, _, image = frame
        follows = self._last_index is not None and index > self._last_index
        if not follows:
            self._n = 0
        near = ([f.box_xyxy for f in self._previous]
                if self._n % self.options.redetect_every and self._previous else None)
        self._previous = self.recognizer.analyze(image, self.options.label_set,
                                                 tta=self.options.tta_for("video"), near=near)
        self._last_index, self._n = index, self._n + 1
        return self._previous

    def track(self, index: int, time_s: float, frame_bgr: np.ndarray | None,
              faces: Sequence[Face]) -> FrameResult:
        """A FrameResult of faces detected elsewhere, with track ids and smoothed scores."""
        tracked = self._tracker.update(faces)
        smoothed = self._smoother.update(tracked, self._tracker.active_ids)
        return FrameResult(index, time_s, frame_bgr, smoothed)

    def update(self, frame: Frame) -> FrameResult:
        """Detect, classify, track and smooth the faces of the stream's next frame."""
        return self.track(frame.index, frame.time_s, frame.image_bgr, self.detect(frame))


def detect_frames(recognizer: Recognizer, frames: Iterable[Frame],
                  options: StreamOptions | None = None) -> Iterator[FrameResult]:
    """The untracked faces of each frame: the recognition half of `analyze_frames`.

    Its only state is the last frame's faces, used between whole-frame searches, so a run of
    frames starting where n % `redetect_every` == 0 (n counting the stream's analysed frames
    from 0) gives the same faces alone as inside the whole stream: `ferkit batch` spreads such
    runs over processes.
    """
    analyzer = StreamAnalyzer(recognizer, options)
    for frame in frames:
        yield FrameResult(frame.index, frame.time_s, frame.image_bgr, analyzer.detect(frame))


def track_faces(detected: Iterable[FrameResult], options: StreamOptions | None = None, *,
                tracker: TrackerConfig | None = None) -> Iterator[FrameResult]:
    """Give the faces of consecutive results track ids and smoothed scores: the sequential
    half of `analyze_frames`, after `detect_frames`; it must see every frame in order."""
    analyzer = StreamAnalyzer(None, options, tracker=tracker)
    for result in detected:
        yield analyzer.track(result.index, result.time_s, result.frame_bgr, result.faces)


def analyze_frames(recognizer: Recognizer, frames: Iterable[Frame],
                   options: StreamOptions | None = None, *,
                   tracker: TrackerConfig | None = None) -> Iterator[FrameResult]:
    """`StreamAnalyzer.update` over `frames`, one stream: detected, tracked, smoothed."""
    analyzer = StreamAnalyzer(recognizer, options, tracker=tracker)
    for frame in frames:
        yield analyzer.update(frame)


def analyze_video(source: VideoSource, options: StreamOptions | None = None, *,
                  recognizer: Recognizer | None = None, max_frames: int | None = None,
                  tracker: TrackerConfig | None = None) -> Iterator[FrameResult]:
    """Every `options.every`-th frame of a video file or camera, analysed and tracked.

    `recognizer` defaults to the one `options` describe (pass one to share a loaded model).
    Frames are decoded ahead in a thread (`prefetch`): two for a file, one for a camera,
    where every frame waiting in the queue is a frame of delay.
    """
    options = options or StreamOptions()
    recognizer = recognizer or options.recognizer()
    depth = 1 if describe_source(source)[2] else 2
    frames = prefetch(iter_frames(source, options.every, max_frames=max_frames), depth)
    return analyze_frames(recognizer, frames, options, tracker=tracker)
