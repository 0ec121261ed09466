"""Emotion episodes: each tracked face's frames cut into labelled, non-overlapping intervals."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

from ferkit.errors import FerkitError
from ferkit.faces import Face

#: Label of the frames, inside a face's track, in which that face was not found.
NO_FACE = "no face"
#: Label of the frames whose most probable emotion is below `EpisodeOptions.uncertain_below`.
UNCERTAIN = "uncertain"
GAPS = (NO_FACE, UNCERTAIN)


@dataclass(frozen=True)
class EpisodeOptions:
    """How frames become episodes.

    `margin`: hysteresis; a face's label changes only when a new emotion's probability beats
    the current one's by at least this much. `min_duration_s`: an emotion episode shorter
    than this is merged into the neighbouring emotion episode that explains its frames best
    (never into a "no face" or "uncertain" gap). `uncertain_below`: frames whose top
    probability is lower are "uncertain" (0 = never). The defaults come from the measurement
    in docs/episodes.md.
    """

    margin: float = 0.2
    min_duration_s: float = 1.0
    uncertain_below: float = 0.0

    def __post_init__(self) -> None:
        if not 0 <= self.margin < 1:
            raise FerkitError(f"episode margin must be in [0, 1), got {self.margin}")
        if not 0 <= self.min_duration_s < math.inf:
            raise FerkitError(f"minimum episode duration must be 0 s or more (finite), "
                              f"got {self.min_duration_s}")
        if not 0 <= self.uncertain_below < 1:
            raise FerkitError(f"uncertain threshold must be in [0, 1), got "
                              f"{self.uncertain_below}")


@dataclass(frozen=True)
class FaceSample:
    """One tracked face in one analysed frame: `scores` in the label set's order."""

    track_id: int
    frame: int
    time_s: float
    scores: tuple[float, ...]
    confidence: float
    box_xyxy: tuple[float, float, float, float] = (0.0, 0.0, 0.0, 0.0)
    head_pose_deg: tuple[float, float, float] | None = None


@dataclass(frozen=True)
class Episode:
    """One interval of one face's track: [start_s, end_s) with one label.

    `label` is an emotion, NO_FACE or UNCERTAIN. `frames` counts the analysed frames inside;
    `mean_probability` is the label's mean probability over them (None for gaps).
    """

    track_id: int
    label: str
    start_s: float
    end_s: float
    first_frame: int
    last_frame: int
    frames: int
    mean_probability: float | None

    @property
    def duration_s(self) -> float:
        return self.end_s - self.start_s

    @property
    def is_gap(self) -> bool:
        return self.label in GAPS


@dataclass
class Recording:
    """What episodes, exports and the report need from one analysed stream, frame by frame.

    Per stream state (like the tracker): `add` each processed frame in order. Keeps every
    analysed frame's index and time, each tracked face's scores, and one small thumbnail per
    face (its largest, most confident view) when frames are given.
    """

    labels: tuple[str, ...]
    #: Seconds one analysed frame lasts when the stream cannot tell (a single frame).
    nominal_step_s: float = 0.04
    frames: list[tuple[int, float]] = field(default_factory=list)
    samples: list[FaceSample] = field(default_factory=list)
    thumbnails: dict[int, np.ndarray] = field(default_factory=dict)
    _thumb_rank: dict[int, float] = field(default_factory=dict, repr=False)

    def add(self, index: int, time_s: float, faces: Sequence[Face],
            frame_bgr: np.ndarray | None = None) -> None:
        """Record one analysed frame and its tracked, classified faces."""
        if self.frames and index <= self.frames[-1][0]:
            raise FerkitError(f"frames must come in order: {index} after {self.frames[-1][0]}")
        self.frames.append((int(index), float(time_s)))
        for face in faces:
            if face.track_id is None or face.scores is None:
                continue
            scores = tuple(float(face.scores.get(name, 0.0)) for name in self.labels)
            self.samples.append(FaceSample(face.track_id, int(index), float(time_s), scores,
                                           face.detector_score, face.box_xyxy,
                                           face.head_pose_deg))
            if frame_bgr is not None:
                self._keep_thumbnail(face, frame_bgr)

    def _keep_thumbnail(self, face: Face, frame_bgr: np.ndarray) -> None:
        import cv2

        width, height = face.size_wh
        rank = width * height * face.detector_score
        if rank <= self._thumb_rank.get(face.track_id, -1.0):
            return
        x1, y1, x2, y2 = (int(round(v)) for v in face.box_xyxy)
        crop = frame_bgr[max(y1, 0):max(y2, 0), max(x1, 0):max(x2, 0)]
        if crop.size == 0:
            return
        side = 96
        scale = side / max(crop.shape[:2])
        size_wh = (max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale)))
        self.thumbnails[face.track_id] = cv2.resize(crop, size_wh, interpolation=cv2.INTER_AREA)
        self._thumb_rank[face.track_id] = rank

    @property
    def track_ids(self) -> list[int]:
        return sorted({s.track_id for s in self.samples})

    def end_s(self) -> float:
        """Where the last analysed frame ends (0 for an empty stream)."""
        return _frame_ends(self.frames, self.nominal_step_s)[-1] if self.frames else 0.0


def _frame_ends(frames: Sequence[tuple[int, float]], nominal_step_s: float) -> list[float]:
    """Each analysed frame lasts until the next one starts; the last one for the median step
    between frames (so variable frame rates and `every` strides give true times)."""
    times = [t for _, t in frames]
    steps = np.diff(times)
    last_step = float(np.median(steps)) if len(steps) else nominal_step_s
    return [*times[1:], times[-1] + max(last_step, 0.0)] if times else []


def segment(recording: Recording, options: EpisodeOptions | None = None) -> list[Episode]:
    """Every face's episodes, by track id, then time."""
    options = options or EpisodeOptions()
    by_track: dict[int, list[FaceSample]] = {}
    for sample in recording.samples:
        by_track.setdefault(sample.track_id, []).append(sample)
    episodes: list[Episode] = []
    for track_id in sorted(by_track):
        episodes += segment_track(by_track[track_id], recording.frames, recording.labels,
                                  options, nominal_step_s=recording.nominal_step_s)
    return episodes


def segment_track(samples: Sequence[FaceSample], frames: Sequence[tuple[int, float]],
                  labels: Sequence[str], options: EpisodeOptions | None = None, *,
                  nominal_step_s: float = 0.04) -> list[Episode]:
    """One face's episodes, from its first to its last analysed frame.

    `frames` are all the stream's analysed (index, time_s), so a frame of the track's span
    without a sample of it is a NO_FACE gap.
    """
    options = options or EpisodeOptions()
    if not samples:
        return []
    track_id = samples[0].track_id
    by_frame = {s.frame: s for s in samples}
    first, last = min(by_frame), max(by_frame)
    ends = _frame_ends(frames, nominal_step_s)
    span = [(index, time_s, end_s) for (index, time_s), end_s in zip(frames, ends, strict=True)
            if first <= index <= last]
    states = _frame_states([by_frame.get(index) for index, _, _ in span], len(labels), options)
    runs = _coalesce([(state, k, k) for k, state in enumerate(states)])
    runs = _merge_short(runs, span, [by_frame.get(i) for i, _, _ in span], labels,
                        options.min_duration_s)
    episodes = []
    for state, lo, hi in runs:
        inside = [by_frame[span[k][0]] for k in range(lo, hi + 1) if span[k][0] in by_frame]
        if isinstance(state, int):
            label = labels[state]
            mean = float(np.mean([s.scores[state] for s in inside]))
        else:
            label, mean = state, None
        episodes.append(Episode(track_id, label, span[lo][1], span[hi][2], span[lo][0],
                                span[hi][0], hi - lo + 1, mean))
    return episodes


def _frame_states(samples: Sequence[FaceSample | None], n_labels: int,
                  options: EpisodeOptions) -> list[int | str]:
    """Per frame: an emotion's index (with hysteresis), NO_FACE or UNCERTAIN."""
    states: list[int | str] = []
    current: int | None = None  # survives gaps: a face that returns keeps its label if it can
    for sample in samples:
        if sample is None:
            states.append(NO_FACE)
            continue
        if len(sample.scores) != n_labels:
            raise FerkitError(f"face #{sample.track_id} frame {sample.frame}: "
                              f"{len(sample.scores)} probabilities for {n_labels} labels")
        best = int(np.argmax(sample.scores))
        if sample.scores[best] < options.uncertain_below:
            states.append(UNCERTAIN)
            continue
        if current is None or sample.scores[best] - sample.scores[current] >= options.margin:
            current = best
        states.append(current)
    return states


def _merge_short(runs: list[tuple[int | str, int, int]], span: Sequence[tuple[int, float, float]],
                 samples: Sequence[FaceSample | None], labels: Sequence[str],
                 min_duration_s: float) -> list[tuple[int | str, int, int]]:
    """Merge emotion runs shorter than `min_duration_s` into an adjacent emotion run, shortest
    first; the neighbour whose emotion has the higher mean probability over the short run's
    frames wins. A short run between gaps (or alone) is kept: nothing explains it better."""

    def duration(run: tuple[int | str, int, int]) -> float:
        return span[run[2]][2] - span[run[1]][1]

    while True:
        candidates = []
        for k, run in enumerate(runs):
            if not isinstance(run[0], int) or duration(run) >= min_duration_s:
                continue
            neighbours = [j for j in (k - 1, k + 1)
                          if 0 <= j < len(runs) and isinstance(runs[j][0], int)]
            if neighbours:
                candidates.append((duration(run), k, neighbours))
        if not candidates:
            return runs
        _, k, neighbours = min(candidates)
        _, lo, hi = runs[k]
        inside = [s for s in samples[lo:hi + 1] if s is not None]
        support = {j: (float(np.mean([s.scores[runs[j][0]] for s in inside])),
                       duration(runs[j])) for j in neighbours}
        winner = runs[max(neighbours, key=support.__getitem__)][0]
        runs[k] = (winner, lo, hi)
        runs = _coalesce(runs)


def _coalesce(runs: list[tuple[int | str, int, int]]) -> list[tuple[int | str, int, int]]:
    """Neighbouring (state, first position, last position) runs of one state joined into one
    run (runs of one frame each become the runs of equal states)."""
    out: list[tuple[int | str, int, int]] = []
    for state, lo, hi in runs:
        if out and out[-1][0] == state:
            out[-1] = (state, out[-1][1], hi)
        else:
            out.append((state, lo, hi))
    return out


def emotion_shares(episodes: Iterable[Episode]) -> dict[int, dict[str, float]]:
    """Per track id: the fraction of its span's time in each label (gaps included)."""
    totals: dict[int, dict[str, float]] = {}
    for episode in episodes:
        track = totals.setdefault(episode.track_id, {})
        track[episode.label] = track.get(episode.label, 0.0) + episode.duration_s
    shares = {}
    for track_id, seconds in totals.items():
        whole = sum(seconds.values())
        shares[track_id] = {k: (v / whole if whole > 0 else 0.0) for k, v in seconds.items()}
    return shares


def episodes_to_records(episodes: Iterable[Episode]) -> list[dict[str, object]]:
    """One flat row per episode (for CSV, Parquet or pandas)."""
    return [{"face_id": e.track_id, "label": e.label, "start_s": round(e.start_s, 4),
             "end_s": round(e.end_s, 4), "duration_s": round(e.duration_s, 4),
             "first_frame": e.first_frame, "last_frame": e.last_frame, "frames": e.frames,
             "mean_probability": (None if e.mean_probability is None
                                  else round(e.mean_probability, 4))}
            for e in episodes]


__all__ = [
    "GAPS", "NO_FACE", "UNCERTAIN", "Episode", "EpisodeOptions", "FaceSample", "Recording",
    "emotion_shares", "episodes_to_records", "segment", "segment_track",
]
