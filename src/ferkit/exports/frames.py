"""The per-frame table: one row per face per analysed frame, OpenFace's names where they meet."""

from __future__ import annotations

from ferkit.episodes import Recording
from ferkit.faces import POSE_COLUMNS
from ferkit.rows import to_csv

#: Columns named as OpenFace names them (R and pandas scripts written for OpenFace's CSV keep
#: working); `frame` counts from 0 as in every ferkit table (OpenFace's from 1), `confidence`
#: is ferkit's face-detector score, `success` 0 where a tracked face was not found in that
#: frame.
OPENFACE_COLUMNS = ("frame", "face_id", "timestamp", "confidence", "success")


def frame_columns(labels: tuple[str, ...]) -> tuple[str, ...]:
    return (*OPENFACE_COLUMNS, "label", *labels, "x1", "y1", "x2", "y2", *POSE_COLUMNS)


def frame_records(recording: Recording) -> list[dict[str, object]]:
    """Rows by frame, then face id. Inside a face's track, a frame where it was not found
    gets a row with success 0 and empty values (as OpenFace marks lost faces)."""
    labels = recording.labels
    by_frame: dict[int, dict[int, object]] = {}
    spans: dict[int, tuple[int, int]] = {}
    for s in recording.samples:
        by_frame.setdefault(s.frame, {})[s.track_id] = s
        lo, hi = spans.get(s.track_id, (s.frame, s.frame))
        spans[s.track_id] = (min(lo, s.frame), max(hi, s.frame))
    rows = []
    for index, time_s in recording.frames:
        present = by_frame.get(index, {})
        for track_id in sorted(t for t, (lo, hi) in spans.items() if lo <= index <= hi):
            row: dict[str, object] = {"frame": index, "face_id": track_id,
                                      "timestamp": round(time_s, 4)}
            sample = present.get(track_id)
            if sample is None:
                row.update({"confidence": "", "success": 0, "label": ""})
            else:
                best = max(range(len(labels)), key=sample.scores.__getitem__)
                row.update({"confidence": round(sample.confidence, 4), "success": 1,
                            "label": labels[best]})
                row.update({name: round(p, 5) for name, p in zip(labels, sample.scores,
                                                                   strict=True)})
                row.update(dict(zip(("x1", "y1", "x2", "y2"),
                                    (round(v, 1) for v in sample.box_xyxy), strict=True)))
                if sample.head_pose_deg is not None:  # where the landmarks allow an estimate
                    row.update(dict(zip(POSE_COLUMNS, (round(v, 1) for v in sample.head_pose_deg),
                                        strict=True)))
            rows.append(row)
    return rows


def frames_csv(recording: Recording) -> bytes:
    """The per-frame table as UTF-8 CSV, written like every ferkit CSV (`rows.to_csv`)."""
    return to_csv(frame_records(recording), frame_columns(recording.labels)).encode("utf-8")
