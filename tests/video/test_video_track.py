"""ferkit.video.track: IoU matching and tracking, EMA smoothing per track."""

from __future__ import annotations

import numpy as np
import pytest
from video_helpers import box_face, probs

from ferkit.errors import FerkitError
from ferkit.faces import Face
from ferkit.video.track import (
    IoUTracker,
    ScoreSmoother,
    TrackerConfig,
    ema,
    greedy_match,
    iou_matrix,
)


# -- tracking ----------------------------------------------------------------------------------
def test_iou_matrix_and_greedy_match():
    a = np.array([[0, 0, 10, 10], [100, 100, 110, 110]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [200, 200, 210, 210]])
    iou = iou_matrix(a, b)
    np.testing.assert_allclose(iou, [[1, 1 / 3, 0], [0, 0, 0]])
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 3)
    assert greedy_match(iou, 0.3) == [(0, 0)]
    # Best pair first; each row and column used once.
    assert greedy_match(np.array([[0.5, 0.9], [0.8, 0.6]]), 0.3) == [(0, 1), (1, 0)]
    assert greedy_match(np.array([[0.2]]), 0.3) == []


def test_moving_face_keeps_its_id_and_new_faces_get_new_ids():
    tracker = IoUTracker()
    ids = []
    for frame in range(30):
        faces = [box_face(10 + 4 * frame, 20 + frame)]
        if frame >= 10:  # a second face walks in at frame 10
            faces.append(box_face(300 - 3 * frame, 200))
        if frame >= 20:  # and a third at frame 20, listed first this time
            faces.insert(0, box_face(150, 300))
        ids.append([f.track_id for f in tracker.update(faces)])
    assert ids[:10] == [[1]] * 10
    assert ids[10:20] == [[1, 2]] * 10
    assert ids[20:] == [[3, 1, 2]] * 10
    assert tracker.active_ids == {1, 2, 3}


def test_track_survives_short_gaps_and_expires_after_max_missed():
    tracker = IoUTracker(TrackerConfig(max_missed=2))
    assert [f.track_id for f in tracker.update([box_face(0, 0)])] == [1]
    tracker.update([])
    tracker.update([])  # missed twice: still alive
    assert [f.track_id for f in tracker.update([box_face(2, 0)])] == [1]
    for _ in range(3):  # missed three times: gone
        tracker.update([])
    assert tracker.active_ids == frozenset()
    assert [f.track_id for f in tracker.update([box_face(2, 0)])] == [2]  # ids are not reused


def test_prediction_bridges_a_missed_detection_of_a_moving_face():
    def ids(predict: bool) -> list[int]:
        tracker = IoUTracker(TrackerConfig(predict=predict))
        seen = []
        for frame in range(8):  # 20 px a frame for a 40 px face; not detected in frame 4
            faces = [] if frame == 4 else [box_face(20 * frame, 0)]
            seen += [f.track_id for f in tracker.update(faces)]
        return seen

    # After the gap the face is 40 px on, clear of its last box: only the prediction matches.
    assert ids(predict=True) == [1] * 7
    assert ids(predict=False) == [1, 1, 1, 1, 2, 2, 2]


def test_a_one_frame_jump_of_the_box_keeps_the_id():
    # A still 80 px face whose box jumps 22 px in one frame (as at a whole-frame search between
    # near-face searches) and back: the velocity from the jump predicts the next box 44 px off,
    # so only matching against the last box as well keeps the id.
    tracker = IoUTracker(TrackerConfig(iou_threshold=0.5))
    xs = [0, 0, 22, 0, 0]
    assert [tracker.update([box_face(x, 0, w=80)])[0].track_id for x in xs] == [1] * 5


def test_tracker_returns_copies_in_input_order():
    faces = [box_face(0, 0), box_face(100, 0)]
    tracked = IoUTracker().update(faces)
    assert [f.box_xyxy for f in tracked] == [f.box_xyxy for f in faces]
    assert faces[0].track_id is None  # inputs are not modified
    with pytest.raises(FerkitError):
        TrackerConfig(iou_threshold=0)


# -- smoothing ---------------------------------------------------------------------------------
def test_ema_math():
    assert ema(None, {"a": 1.0}, 0.3) == {"a": 1.0}
    assert ema({"a": 0.0, "b": 1.0}, {"a": 1.0, "b": 0.0}, 0.25) == pytest.approx(
        {"a": 0.25, "b": 0.75})


def test_smoother_follows_the_closed_form_per_track():
    alpha = 0.4
    smoother = ScoreSmoother(alpha)
    raw = [probs(1, 0, 0, 0, 0), probs(0, 1, 0, 0, 0), probs(0, 1, 0, 0, 0)]
    expected_happy = [1.0, 1 - alpha, (1 - alpha) ** 2]
    other = Face((0, 0, 1, 1), 1, scores=probs(0, 0, 0, 0, 1), track_id=2)
    for step, scores in enumerate(raw):
        a = Face((0, 0, 1, 1), 1, scores=scores, track_id=1)
        got_a, got_other = smoother.update([a, other])
        assert got_a.scores["happy"] == pytest.approx(expected_happy[step])
        assert sum(got_a.scores.values()) == pytest.approx(1.0)
        assert got_other.scores == other.scores  # tracks do not mix
        assert a.scores == scores  # the input face is left alone


def test_smoothing_off_and_state_dropped_for_ended_tracks():
    face = Face((0, 0, 1, 1), 1, scores=probs(0.5, 0.5, 0, 0, 0), track_id=7)
    assert ScoreSmoother(1.0).update([face]) == [face]
    smoother = ScoreSmoother(0.5)
    smoother.update([face])
    smoother.update([], live_ids=frozenset())
    fresh = Face((0, 0, 1, 1), 1, scores=probs(0, 0, 1, 0, 0), track_id=7)
    assert smoother.update([fresh])[0].scores == fresh.scores  # no memory of the ended track
    untracked = Face((0, 0, 1, 1), 1, scores=probs(1, 0, 0, 0, 0))
    assert smoother.update([untracked]) == [untracked]
    for bad in (0, -0.1, 1.5):
        with pytest.raises(FerkitError, match="alpha"):
            ScoreSmoother(bad)
