"""The one result type for a face, used by detection, classification, tracking and output."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ferkit.errors import FerkitError

BoxXYXY = tuple[float, float, float, float]
Point = tuple[float, float]
#: The row columns of `Face.head_pose_deg`.
POSE_COLUMNS = ("yaw_deg", "pitch_deg", "roll_deg")


@dataclass(frozen=True)
class Face:
    """One face in one image, in that image's pixel coordinates.

    `box_xyxy` is (x1, y1, x2, y2); `landmarks` are (x, y) points in the detector's order
    (BlazeFace: right eye, left eye, nose tip, mouth centre, right ear, left ear, "right"
    meaning the subject's own right; RetinaFace: right eye, left eye, nose tip, right and left
    mouth corner) or None; `scores` maps emotion name to probability once the face has been
    classified; `head_pose_deg` is (yaw, pitch, roll) in degrees where the detector's landmarks
    allow an estimate (`ferkit.detect.pose.head_pose` gives the signs), else None.
    """

    box_xyxy: BoxXYXY
    detector_score: float
    landmarks: tuple[Point, ...] | None = None
    scores: dict[str, float] | None = None
    track_id: int | None = None
    head_pose_deg: tuple[float, float, float] | None = None

    def __post_init__(self) -> None:
        # Coerce numpy scalars and lists to plain floats and tuples so faces compare, copy and
        # serialise the same way whatever stage built them.
        try:
            box = tuple(float(v) for v in self.box_xyxy)
        except (TypeError, ValueError):
            raise FerkitError(f"face box must be 4 numbers, got {self.box_xyxy!r}") from None
        if len(box) != 4 or not (box[2] >= box[0] and box[3] >= box[1]):
            raise FerkitError(f"face box must be (x1, y1, x2, y2) with x2>=x1, y2>=y1: {box}")
        object.__setattr__(self, "box_xyxy", box)
        object.__setattr__(self, "detector_score", float(self.detector_score))
        if self.landmarks is not None:
            points = tuple((float(x), float(y)) for x, y in self.landmarks)
            object.__setattr__(self, "landmarks", points)
        if self.scores is not None:
            object.__setattr__(self, "scores", {str(k): float(v) for k, v in self.scores.items()})
        if self.track_id is not None:
            object.__setattr__(self, "track_id", int(self.track_id))
        if self.head_pose_deg is not None:
            pose = tuple(float(v) for v in self.head_pose_deg)
            if len(pose) != 3:
                raise FerkitError(f"head pose must be (yaw, pitch, roll), got {pose!r}")
            object.__setattr__(self, "head_pose_deg", pose)

    @property
    def label(self) -> str | None:
        """The most probable emotion, or None before classification."""
        if not self.scores:
            return None
        return max(self.scores, key=self.scores.__getitem__)

    @property
    def size_wh(self) -> tuple[float, float]:
        x1, y1, x2, y2 = self.box_xyxy
        return x2 - x1, y2 - y1

    def with_scores(self, scores: Mapping[str, float]) -> Face:
        """A copy of this face carrying emotion probabilities."""
        return replace(self, scores=dict(scores))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict; `Face.from_dict` reverses it."""
        return {
            "box_xyxy": list(self.box_xyxy),
            "detector_score": self.detector_score,
            "landmarks": None if self.landmarks is None else [list(p) for p in self.landmarks],
            "scores": None if self.scores is None else dict(self.scores),
            "label": self.label,
            "track_id": self.track_id,
            "head_pose_deg": None if self.head_pose_deg is None else list(self.head_pose_deg),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Face:
        return cls(
            box_xyxy=tuple(data["box_xyxy"]),
            detector_score=data.get("detector_score", 1.0),
            landmarks=data.get("landmarks"),
            scores=data.get("scores"),
            track_id=data.get("track_id"),
            head_pose_deg=data.get("head_pose_deg"),
        )
