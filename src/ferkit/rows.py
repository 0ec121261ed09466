"""The one row schema: a flat row per face, from which every CSV, JSON-lines and Parquet derives."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from ferkit.faces import POSE_COLUMNS, Face

#: Columns of one face, before its emotions (one column each, in the label set's order); the
#: head pose is empty where the detector gives none.
FACE_COLUMNS = ("face", "x1", "y1", "x2", "y2", "detector_score", *POSE_COLUMNS, "label")
#: Columns that place a face in a stream, before FACE_COLUMNS.
FRAME_COLUMNS = ("frame", "time_s", "track_id")
#: Python type of each column that is not a float (emotion probabilities and boxes are).
COLUMN_TYPES: dict[str, type] = {"frame": int, "track_id": int, "face": int, "label": str,
                                 "path": str, "input": str}


def columns(labels: Sequence[str], *, stream: bool = True,
            leading: Sequence[str] = ()) -> list[str]:
    """Every row's columns in order: `leading` (e.g. "path", "input"), then for a stream
    frame, time_s and track_id, then FACE_COLUMNS (face, the box, detector_score, the head
    pose's yaw_deg, pitch_deg and roll_deg, label), then one probability per emotion:
    `labels` are the emotions' names (`ferkit.labels.label_names("seed5")`), not a set's."""
    if isinstance(labels, str):
        raise TypeError(f"columns() takes emotion names, not the label set {labels!r}: "
                        f"columns(label_names({labels!r}))")
    return [*leading, *(FRAME_COLUMNS if stream else ()), *FACE_COLUMNS, *labels]


def face_rows(faces: Sequence[Face], labels: Sequence[str], **leading: Any
              ) -> list[dict[str, Any]]:
    """One row per face of one image, `leading` values first; landmarks are left out (no
    fixed column layout across detectors)."""
    rows = []
    for index, face in enumerate(faces):
        x1, y1, x2, y2 = face.box_xyxy
        scores = face.scores or {}
        pose = face.head_pose_deg or (None, None, None)
        rows.append({**leading, "face": index, "x1": x1, "y1": y1, "x2": x2, "y2": y2,
                     "detector_score": face.detector_score,
                     **dict(zip(POSE_COLUMNS, pose, strict=True)), "label": face.label,
                     **{name: scores.get(name) for name in labels}})
    return rows


def frame_rows(result: Any, labels: Sequence[str], **leading: Any) -> list[dict[str, Any]]:
    """One row per face of a `FrameResult`: `leading`, frame, time_s, track_id, face columns."""
    return [{**leading, "frame": result.index, "time_s": round(result.time_s, 4),
             "track_id": face.track_id, **row}
            for face, row in zip(result.faces, face_rows(result.faces, labels), strict=True)]


class RowWriter:
    """Streams rows to a text stream as JSON lines or CSV; the CSV header (from `columns`) is
    written at once, so a run without faces still gives a CSV a reader can open."""

    def __init__(self, stream: TextIO, fmt: str, columns: Sequence[str]) -> None:
        if fmt not in ("json", "csv"):
            raise ValueError(f"row format must be json or csv, got {fmt!r}")
        self.stream, self.fmt, self.columns = stream, fmt, list(columns)
        self._csv = None
        if fmt == "csv":
            self._csv = csv.DictWriter(stream, fieldnames=self.columns, extrasaction="ignore")
            self._csv.writeheader()
            stream.flush()

    def write(self, row: dict[str, Any]) -> None:
        if self._csv is not None:
            self._csv.writerow(row)
        else:
            self.stream.write(json.dumps({k: row.get(k) for k in self.columns}) + "\n")
        self.stream.flush()

    def write_all(self, rows: Iterable[dict[str, Any]]) -> None:
        for row in rows:
            self.write(row)


def to_csv(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> str:
    """`rows` as CSV text, header included even when there are no rows."""
    buffer = io.StringIO()
    RowWriter(buffer, "csv", columns).write_all(rows)
    return buffer.getvalue()
