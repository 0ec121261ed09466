"""IoU, greedy NMS and MediaPipe's weighted NMS on hand-made boxes."""

from __future__ import annotations

import numpy as np
import pytest

from ferkit.detect.nms import iou, nms, weighted_nms


def test_iou():
    box = np.array([0, 0, 10, 10.0])
    others = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30], [0, 0, 0, 0.0]])
    assert iou(box, others) == pytest.approx([1.0, 50 / 150, 0.0, 0.0])


def test_nms_keeps_best_of_each_cluster():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60], [0, 0, 10, 9.0]])
    scores = np.array([0.6, 0.9, 0.8, 0.7])
    assert nms(boxes, scores, 0.3).tolist() == [1, 2]
    assert nms(boxes, scores, 0.99).tolist() == [1, 2, 3, 0]
    assert nms(np.zeros((0, 4)), np.zeros(0)).tolist() == []


def test_weighted_nms_averages_a_cluster_with_score_weights():
    boxes = np.array([[0, 0, 10, 10], [2, 0, 12, 10], [100, 100, 110, 110.0]])
    scores = np.array([0.9, 0.3, 0.5])
    points = np.array([[1.0, 1.0], [5.0, 1.0], [100.0, 100.0]])
    merged, merged_scores, merged_points = weighted_nms(boxes, scores, 0.3, points)
    assert merged_scores.tolist() == [0.9, 0.5]
    assert merged[0] == pytest.approx([0.5, 0, 10.5, 10])  # (0.9*0 + 0.3*2) / 1.2
    assert merged_points[0] == pytest.approx([2.0, 1.0])
    assert merged[1].tolist() == [100, 100, 110, 110]


def test_weighted_nms_without_extra_and_empty():
    merged, scores, extra = weighted_nms(np.array([[0, 0, 1, 1.0]]), np.array([0.4]))
    assert merged.shape == (1, 4) and extra is None
    merged, scores, extra = weighted_nms(np.zeros((0, 4)), np.zeros(0), extra=np.zeros((0, 12)))
    assert merged.shape == (0, 4) and scores.shape == (0,) and extra.shape == (0, 12)
