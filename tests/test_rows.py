"""ferkit.rows: the one row schema and its writer (a CSV header even without rows)."""

from __future__ import annotations

import csv
import io
import json

import pytest

from ferkit.faces import Face
from ferkit.rows import RowWriter, columns, face_rows, frame_rows, to_csv
from ferkit.video import FrameResult

LABELS = ("happy", "sad", "angry")


def make_face(scores=None, track_id=None) -> Face:
    return Face((10, 20, 110, 140), 0.9, scores=scores, track_id=track_id)


def test_face_rows_have_box_columns_and_one_column_per_emotion():
    rows = face_rows([make_face({"happy": 0.7, "sad": 0.3}), make_face()], LABELS, path="a.jpg")
    assert list(rows[0]) == columns(LABELS, stream=False, leading=("path",))
    assert rows[0]["happy"] == 0.7 and rows[0]["angry"] is None and rows[0]["label"] == "happy"
    assert rows[1]["face"] == 1 and rows[1]["label"] is None and rows[1]["happy"] is None
    assert face_rows([], LABELS) == []


def test_frame_rows_follow_the_stream_columns():
    result = FrameResult(7, 0.123456, None, [make_face({"sad": 1.0}, track_id=3)])
    (row,) = frame_rows(result, LABELS)
    assert list(row) == columns(LABELS) == [
        "frame", "time_s", "track_id", "face", "x1", "y1", "x2", "y2", "detector_score",
        "yaw_deg", "pitch_deg", "roll_deg", "label", *LABELS]
    assert (row["frame"], row["time_s"], row["track_id"], row["label"]) == (7, 0.1235, 3, "sad")


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_writer_keeps_the_column_order_and_writes_a_header_without_rows(fmt):
    stream = io.StringIO()
    writer = RowWriter(stream, fmt, columns(LABELS))
    if fmt == "csv":
        assert stream.getvalue().strip() == ",".join(columns(LABELS))
    else:
        assert stream.getvalue() == ""
    shuffled = dict(reversed(frame_rows(FrameResult(1, 0.5, None, [make_face()]), LABELS)[0]
                             .items()))
    writer.write(shuffled)
    text = stream.getvalue()
    if fmt == "csv":
        header, row = list(csv.reader(io.StringIO(text)))
        assert header == columns(LABELS) and row[0] == "1"
    else:
        assert list(json.loads(text)) == columns(LABELS)


def test_csv_text_of_no_rows_keeps_the_header():
    assert to_csv([], columns(LABELS)).splitlines() == [",".join(columns(LABELS))]


def test_columns_takes_emotion_names_not_a_label_set_name():
    import pytest

    from ferkit.labels import label_names
    from ferkit.rows import columns

    with pytest.raises(TypeError, match=r"columns\(label_names\('seed5'\)\)"):
        columns("seed5")
    assert columns(label_names("seed5"))[-5:] == list(label_names("seed5"))
