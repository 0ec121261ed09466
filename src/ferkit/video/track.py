"""Faces across frames: an IoU tracker giving them stable ids, per-track smoothing of scores."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np

from ferkit.errors import FerkitError
from ferkit.faces import BoxXYXY, Face


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
            tracks.append(Track(old.track_id, box, velocity, 0))
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
