"""Video: frame streams, an IoU tracker giving faces stable ids, per-track smoothing, timelines."""

from __future__ import annotations

import os
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import cv2
import numpy as np

from ferkit.errors import FerkitError, ImageError
from ferkit.faces import BoxXYXY, Face
from ferkit.video_writer import AtomicVideoWriter  # re-exported: its home is video_writer

if TYPE_CHECKING:
    from ferkit.recognizer import Recognizer

VideoSource = str | os.PathLike | int
T = TypeVar("T")


# -- frame streams -----------------------------------------------------------------------------
@dataclass(frozen=True)
class VideoInfo:
    """What a stream says about itself: `fps` and `frame_count` are 0 when unknown (cameras)."""

    name: str
    fps: float
    frame_count: int
    size_wh: tuple[int, int]
    is_camera: bool


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
            raise ImageError(f"cannot read video {name}: it is a directory")
        if path.stat().st_size == 0:
            raise ImageError(f"cannot read video {name}: the file is empty")
    with _quiet_opencv():
        cap = cv2.VideoCapture(target)
        opened = cap.isOpened()
    if not opened:
        cap.release()
        if is_camera:
            raise ImageError(f"no camera at index {target}")
        raise ImageError(f"cannot read video {name}: not a video, truncated, or a format "
                         "OpenCV cannot decode")
    fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
    count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    fps = fps if 0 < fps < 1000 else 0.0
    return cap, VideoInfo(name, fps, max(count, 0) if not is_camera else 0, size, is_camera)


def probe_video(source: VideoSource) -> VideoInfo:
    """VideoInfo of a file or camera, opened and closed again."""
    cap, info = open_video(source)
    cap.release()
    return info


def iter_frames(
    source: VideoSource, every: int = 1, *, max_frames: int | None = None,
    start: int = 0, stop: int | None = None,
) -> Iterator[tuple[int, float, np.ndarray]]:
    """(frame index, time in seconds, BGR uint8 frame) for every `every`-th frame.

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
    read = yielded = 0
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
                read += 1
                if info.is_camera:
                    time_s = time.monotonic() - began
                elif info.fps:
                    time_s = index / info.fps
                else:
                    time_s = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                yield index, time_s, _as_bgr(frame)
                yielded += 1
            index += 1
    finally:
        cap.release()
    # A range that starts near the end may rightly hold no frame (frame counts are estimates);
    # the truncation check below still catches a file that ends well before its count.
    if read == 0 and start == 0 and (max_frames is None or max_frames > 0) and stop != 0:
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


# -- tracking ----------------------------------------------------------------------------------
def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Intersection over union of every box in `a` (N, 4) with every box in `b` (M, 4), xyxy."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    x1 = np.maximum(a[:, None, 0], b[None, :, 0])
    y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2])
    y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def greedy_match(iou: np.ndarray, threshold: float) -> list[tuple[int, int]]:
    """(row, column) pairs, best IoU first, each row and column used once, IoU >= threshold."""
    pairs = []
    if iou.size:
        rows, cols = np.nonzero(iou >= threshold)
        order = np.argsort(-iou[rows, cols], kind="stable")
        used_r, used_c = set(), set()
        for k in order:
            r, c = int(rows[k]), int(cols[k])
            if r not in used_r and c not in used_c:
                used_r.add(r)
                used_c.add(c)
                pairs.append((r, c))
    return pairs


@dataclass(frozen=True)
class TrackerConfig:
    """`iou_threshold`: least overlap between a track's predicted box and a detection to match.
    `max_missed`: processed frames a track may go unmatched before it ends (its id is never
    reused). `predict`: move each track's box by its last velocity before matching, which keeps
    fast-moving faces and `every` > 1 strides matched."""

    iou_threshold: float = 0.3
    max_missed: int = 10
    predict: bool = True

    def __post_init__(self) -> None:
        if not 0 < self.iou_threshold <= 1:
            raise FerkitError(f"iou_threshold must be in (0, 1], got {self.iou_threshold}")
        if self.max_missed < 0:
            raise FerkitError(f"max_missed must be 0 or more, got {self.max_missed}")


@dataclass(frozen=True)
class Track:
    """One tracked face: its id, last box, velocity (px per update) and frames missed."""

    track_id: int
    box_xyxy: BoxXYXY
    velocity_xy: tuple[float, float] = (0.0, 0.0)
    missed: int = 0
    hits: int = 1

    def predicted(self, predict: bool) -> BoxXYXY:
        if not predict:
            return self.box_xyxy
        steps = self.missed + 1
        dx, dy = self.velocity_xy[0] * steps, self.velocity_xy[1] * steps
        x1, y1, x2, y2 = self.box_xyxy
        return (x1 + dx, y1 + dy, x2 + dx, y2 + dy)


class IoUTracker:
    """Gives faces stable `track_id`s across the frames of one stream.

    Per stream state: make one per video (the config is immutable and may be shared). Each
    `update(faces)` matches the frame's faces to live tracks greedily by IoU, starts a new id
    for each unmatched face, and ends tracks unmatched for more than `max_missed` updates.
    """

    def __init__(self, config: TrackerConfig | None = None) -> None:
        self.config = config or TrackerConfig()
        self._tracks: list[Track] = []
        self._next_id = 1

    @property
    def tracks(self) -> tuple[Track, ...]:
        """The live tracks, oldest first."""
        return tuple(self._tracks)

    @property
    def active_ids(self) -> frozenset[int]:
        return frozenset(t.track_id for t in self._tracks)

    def update(self, faces: Sequence[Face]) -> list[Face]:
        """`faces` (one frame, any order) as copies carrying their track ids, in the same order."""
        cfg = self.config
        boxes = np.array([f.box_xyxy for f in faces], np.float64).reshape(-1, 4)
        predicted = np.array([t.predicted(cfg.predict) for t in self._tracks],
                             np.float64).reshape(-1, 4)
        overlap = iou_matrix(predicted, boxes)
        if cfg.predict:
            # A one-frame jump of the detector's box (whole-frame search and the near-face
            # search place a box a little differently) becomes a velocity that throws the next
            # prediction off twice as far: a face still where it was must match too.
            last = np.array([t.box_xyxy for t in self._tracks], np.float64).reshape(-1, 4)
            overlap = np.maximum(overlap, iou_matrix(last, boxes))
        pairs = greedy_match(overlap, cfg.iou_threshold)
        ids: list[int | None] = [None] * len(faces)
        tracks: list[Track] = []
        matched_tracks = set()
        for t_index, f_index in pairs:
            old = self._tracks[t_index]
            matched_tracks.add(t_index)
            box = faces[f_index].box_xyxy
            gap = old.missed + 1
            velocity = (((box[0] + box[2]) - (old.box_xyxy[0] + old.box_xyxy[2])) / 2 / gap,
                        ((box[1] + box[3]) - (old.box_xyxy[1] + old.box_xyxy[3])) / 2 / gap)
            tracks.append(Track(old.track_id, box, velocity, 0, old.hits + 1))
            ids[f_index] = old.track_id
        for t_index, old in enumerate(self._tracks):
            if t_index not in matched_tracks and old.missed < cfg.max_missed:
                tracks.append(replace(old, missed=old.missed + 1))
        for f_index, face in enumerate(faces):
            if ids[f_index] is None:
                ids[f_index] = self._next_id
                tracks.append(Track(self._next_id, face.box_xyxy))
                self._next_id += 1
        tracks.sort(key=lambda t: t.track_id)
        self._tracks = tracks
        return [replace(f, track_id=i) for f, i in zip(faces, ids, strict=True)]


# -- smoothing ---------------------------------------------------------------------------------
def ema(previous: Mapping[str, float] | None, current: Mapping[str, float],
        alpha: float) -> dict[str, float]:
    """alpha * current + (1 - alpha) * previous, per key; `current` alone when no previous."""
    if previous is None:
        return dict(current)
    return {k: alpha * v + (1 - alpha) * previous.get(k, v) for k, v in current.items()}


class ScoreSmoother:
    """Exponential moving average of each track's emotion probabilities.

    `alpha` in (0, 1] weights the newest frame: 1 turns smoothing off, 0.3 averages over
    roughly the last 1 / 0.3 ≈ 3 frames. Per stream state, like IoUTracker; faces without a
    track id pass through unchanged. Averages of probability vectors stay probability vectors.
    """

    def __init__(self, alpha: float = 1.0) -> None:
        alpha = float(alpha)
        if not 0 < alpha <= 1:
            raise FerkitError(f"smoothing alpha must be in (0, 1] (1 = off), got {alpha}")
        self.alpha = alpha
        self._state: dict[int, dict[str, float]] = {}

    def update(self, faces: Sequence[Face], live_ids: frozenset[int] | None = None) -> list[Face]:
        """Copies of `faces` with smoothed scores; state for ids not in `live_ids` is dropped."""
        out = []
        for face in faces:
            if face.track_id is None or face.scores is None:
                out.append(face)
                continue
            smoothed = ema(self._state.get(face.track_id), face.scores, self.alpha)
            self._state[face.track_id] = smoothed
            out.append(face if self.alpha == 1 else face.with_scores(smoothed))
        if live_ids is not None:
            for track_id in [i for i in self._state if i not in live_ids]:
                del self._state[track_id]
        return out


# -- the pipeline ------------------------------------------------------------------------------
@dataclass(frozen=True)
class FrameResult:
    """One processed frame: its index and time in the stream, the pixels (None where a caller
    of `track_faces` kept none), and its faces."""

    index: int
    time_s: float
    frame_bgr: np.ndarray | None
    faces: list[Face]


def analyze_frames(
    recognizer: Recognizer,
    frames: Iterator[tuple[int, float, np.ndarray]],
    label_set: str = "seed5",
    *,
    smooth: float = 1.0,
    tracker: TrackerConfig | None = None,
    tta: bool = False,
    redetect_every: int = 1,
) -> Iterator[FrameResult]:
    """Run `recognizer` on each (index, time_s, frame) and track and smooth its faces.

    `redetect_every` K > 1: search the whole frame only on every K-th frame (and whenever the
    last frame had no faces); in between, look for faces only near the last frame's
    (`Recognizer.analyze(near=...)`). New faces then appear up to K - 1 frames late.
    The recognizer stays stateless; the tracker and smoother made here live as long as this
    generator, one stream.
    """
    if redetect_every < 1:  # now, not at the first frame
        raise FerkitError(f"redetect_every must be 1 or more, got {redetect_every}")
    detected = detect_frames(recognizer, frames, label_set, tta=tta,
                             redetect_every=redetect_every)
    return track_faces(detected, smooth=smooth, tracker=tracker)


def detect_frames(
    recognizer: Recognizer, frames: Iterable[tuple[int, float, np.ndarray]],
    label_set: str = "seed5", *, tta: bool = False, redetect_every: int = 1,
) -> Iterator[tuple[int, float, np.ndarray, list[Face]]]:
    """(index, time_s, frame, faces) for each frame: the recognition half of `analyze_frames`,
    before tracking. Its only state is the last frame's faces, used between whole-frame
    searches, so a run of frames starting where n % `redetect_every` == 0 (n counting the
    stream's frames from 0) gives the same faces alone as inside the whole stream:
    `ferkit batch` spreads such runs over processes.
    """
    if redetect_every < 1:
        raise FerkitError(f"redetect_every must be 1 or more, got {redetect_every}")
    previous: list[Face] = []
    for n, (index, time_s, frame) in enumerate(frames):
        near = [f.box_xyxy for f in previous] if n % redetect_every and previous else None
        previous = recognizer.analyze(frame, label_set, tta=tta, near=near)
        yield index, time_s, frame, previous


def track_faces(
    detected: Iterable[tuple[int, float, np.ndarray | None, Sequence[Face]]], *,
    smooth: float = 1.0, tracker: TrackerConfig | None = None,
) -> Iterator[FrameResult]:
    """Give the faces of consecutive frames (index, time_s, frame, faces) track ids, smoothed.

    The sequential half of `analyze_frames`, after `detect_frames`: it must see every frame
    of the stream in order. `frame` may be None when the pixels are not needed.
    """
    ids = IoUTracker(tracker)
    smoother = ScoreSmoother(smooth)
    for index, time_s, frame, faces in detected:
        tracked = ids.update(faces)
        yield FrameResult(index, time_s, frame, smoother.update(tracked, ids.active_ids))


def analyze_video(
    recognizer: Recognizer, source: VideoSource, label_set: str = "seed5", *, every: int = 1,
    smooth: float = 1.0, tracker: TrackerConfig | None = None, tta: bool = False,
    max_frames: int | None = None, redetect_every: int = 1,
) -> Iterator[FrameResult]:
    """`analyze_frames` over `iter_frames(source, every)`: a video file or camera, tracked.

    Frames are decoded ahead in a thread (`prefetch`): two for a file, one for a camera,
    where every frame waiting in the queue is a frame of delay."""
    depth = 1 if describe_source(source)[2] else 2
    frames = prefetch(iter_frames(source, every, max_frames=max_frames), depth)
    return analyze_frames(recognizer, frames,
                          label_set, smooth=smooth, tracker=tracker, tta=tta,
                          redetect_every=redetect_every)


# -- timelines ---------------------------------------------------------------------------------
def plot_timeline(
    points: Sequence[tuple[float, int, Mapping[str, float]]], labels: Sequence[str], *,
    title: str | None = None, max_tracks: int = 8,
) -> bytes:
    """A PNG of each track's emotion probabilities over time, stacked, one subplot per track.

    `points` are (time_s, track_id, scores). The `max_tracks` longest tracks are drawn.
    Tracks seen in one frame only (mostly false detections) get no panel of their own when
    longer tracks exist; a note under the plot counts them. Alone, they are drawn one frame
    step wide, so a panel is never blank.
    """
    import io

    from matplotlib.figure import Figure  # no pyplot: no global backend or figure state

    from ferkit.annotate import COLOURS

    by_track: dict[int, list[tuple[float, Mapping[str, float]]]] = {}
    for time_s, track_id, scores in points:
        by_track.setdefault(track_id, []).append((time_s, scores))
    longer = [t for t in by_track if len(by_track[t]) > 1]
    hidden = len(by_track) - len(longer) if longer else 0
    chosen = sorted(longer or by_track, key=lambda t: (-len(by_track[t]), t))[:max_tracks]
    chosen.sort()
    times_all = sorted({time_s for time_s, _, _ in points})
    steps = [b - a for a, b in zip(times_all, times_all[1:], strict=False) if b > a]
    step = min(steps) if steps else 0.04  # one analysed frame, as wide as it lasts
    rows = max(1, len(chosen))
    fig = Figure(figsize=(8, 1.2 + 1.6 * rows))
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)
    colours = [tuple(c / 255 for c in COLOURS.get(n, (128, 128, 128))[::-1]) for n in labels]
    for ax, track_id in zip(axes[:, 0], chosen, strict=False):
        series = sorted(by_track[track_id], key=lambda p: p[0])
        times = [t for t, _ in series]
        stack = [[s.get(n, 0.0) for _, s in series] for n in labels]
        if len(times) == 1:  # one point draws nothing as an area: one frame step wide
            times = [times[0], times[0] + step]
            stack = [v * 2 for v in stack]
        ax.stackplot(times, stack, labels=labels, colors=colours, linewidth=0)
        ax.set_ylim(0, 1)
        ax.set_ylabel(f"face #{track_id}")
        ax.margins(x=0)
    if not chosen:
        axes[0, 0].text(0.5, 0.5, "no faces found", ha="center", va="center",
                        transform=axes[0, 0].transAxes)
        axes[0, 0].set_yticks([])
    else:
        axes[0, 0].legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small",
                          frameon=False)
    note = f"; {hidden} one-frame track(s) not drawn" if hidden else ""
    axes[-1, 0].set_xlabel(f"time (s){note}")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


__all__ = [
    "AtomicVideoWriter", "FrameResult", "IoUTracker", "ScoreSmoother", "Track", "TrackerConfig",
    "VideoInfo", "analyze_frames", "analyze_video", "detect_frames", "ema", "greedy_match",
    "iou_matrix", "iter_frames", "open_video", "plot_timeline", "prefetch", "probe_video",
    "quiet_ffmpeg", "track_faces",
]
