"""The Face result type: validation, label, JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ferkit.errors import FerkitError
from ferkit.faces import Face


def make_face(**overrides) -> Face:
    fields = dict(
        box_xyxy=(10, 20, 110, 140), detector_score=0.9,
        landmarks=[(40, 60), (80, 60), (60, 80), (60, 110), (15, 70), (105, 70)],
        scores={"happy": 0.7, "sad": 0.1, "neutral": 0.2},
    )
    fields.update(overrides)
    return Face(**fields)


def test_coerces_numpy_and_lists_to_plain_python():
    face = Face(np.array([1, 2, 3, 4], np.float32), np.float32(0.5),
                np.array([[1, 2], [3, 4]]), {"happy": np.float64(1.0)}, np.int64(3))
    assert face.box_xyxy == (1.0, 2.0, 3.0, 4.0)
    assert type(face.detector_score) is float and type(face.box_xyxy[0]) is float
    assert face.landmarks == ((1.0, 2.0), (3.0, 4.0))
    assert type(face.scores["happy"]) is float and face.track_id == 3
    json.dumps(face.to_dict())


def test_label_is_argmax_or_none():
    assert make_face().label == "happy"
    assert make_face(scores=None).label is None
    assert make_face(scores={}).label is None


def test_with_scores_returns_a_new_face():
    face = make_face(scores=None)
    scored = face.with_scores({"angry": 0.6, "happy": 0.4})
    assert scored.label == "angry" and face.scores is None
    assert scored.box_xyxy == face.box_xyxy
    assert face.size_wh == (100.0, 120.0)


@pytest.mark.parametrize("box", [(1, 2, 3), (5, 0, 1, 9), ("a", 0, 1, 1), None])
def test_bad_boxes(box):
    with pytest.raises(FerkitError, match="box"):
        make_face(box_xyxy=box)


def test_frozen():
    with pytest.raises(AttributeError):
        make_face().detector_score = 0.1


def test_json_round_trip():
    faces = [make_face(), make_face(landmarks=None, scores=None, track_id=7)]
    text = json.dumps([face.to_dict() for face in faces])
    assert json.loads(text)[0]["label"] == "happy"
    assert [Face.from_dict(item) for item in json.loads(text)] == faces
    assert Face.from_dict(faces[0].to_dict()) == faces[0]


def test_head_pose_travels_through_json_and_rows():
    from ferkit.faces import POSE_COLUMNS
    from ferkit.rows import face_rows

    posed = Face((0, 0, 10, 10), 0.9, head_pose_deg=(12.5, -3, 4))
    plain = Face((0, 0, 10, 10), 0.9)
    text = json.dumps([posed.to_dict(), plain.to_dict()])
    assert [Face.from_dict(item) for item in json.loads(text)] == [posed, plain]
    rows = face_rows([posed, plain], ())
    assert [[row[c] for c in POSE_COLUMNS] for row in rows] == [[12.5, -3.0, 4.0],
                                                                [None, None, None]]
    assert list(rows[0]).index("yaw_deg") == list(rows[0]).index("detector_score") + 1


def test_a_head_pose_of_other_than_three_angles_is_a_one_line_error():
    from ferkit.errors import FerkitError

    with pytest.raises(FerkitError, match="head pose must be"):
        Face((0, 0, 10, 10), 0.9, head_pose_deg=(1.0, 2.0))
