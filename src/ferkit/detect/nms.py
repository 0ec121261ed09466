"""Non-maximum suppression on numpy arrays: plain and MediaPipe's score-weighted blending."""

from __future__ import annotations

import numpy as np


def iou(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Intersection over union of one xyxy box with each row of `boxes` (N, 4)."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    x1 = np.maximum(box[0], boxes[:, 0])
    y1 = np.maximum(box[1], boxes[:, 1])
    x2 = np.minimum(box[2], boxes[:, 2])
    y2 = np.minimum(box[3], boxes[:, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    union = area + areas - inter
    return np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.3) -> np.ndarray:
    """Indices of the boxes kept by greedy NMS, highest score first."""
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    order = np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable")
    keep = []
    while order.size:
        best = order[0]
        keep.append(int(best))
        order = order[1:][iou(boxes[best], boxes[order[1:]]) <= iou_threshold]
    return np.asarray(keep, dtype=np.int64)


def weighted_nms(
    boxes: np.ndarray, scores: np.ndarray, iou_threshold: float = 0.3,
    extra: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """MediaPipe-style NMS: each kept box is the score-weighted mean of the boxes it absorbs.

    BlazeFace fires on many neighbouring anchors for one face; averaging them gives steadier
    boxes and landmarks than keeping the single best. `extra` (N, K) rows, such as flattened
    landmarks, are averaged with the same weights. Returns (boxes, scores, extra) of the kept
    detections, highest score first; each keeps its cluster's best score.
    """
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    rows = boxes if extra is None else np.hstack([boxes, np.asarray(extra, np.float64)])
    order = np.argsort(-scores, kind="stable")
    out_rows, out_scores = [], []
    while order.size:
        best = order[0]
        similar = iou(boxes[best], boxes[order]) > iou_threshold
        similar[0] = True
        members = order[similar]
        weights = scores[members]
        out_rows.append(weights @ rows[members] / weights.sum())
        out_scores.append(scores[best])
        order = order[~similar]
    width = rows.shape[1]
    merged = np.asarray(out_rows, dtype=np.float64).reshape(-1, width)
    merged_extra = None if extra is None else merged[:, 4:]
    return merged[:, :4], np.asarray(out_scores, dtype=np.float64), merged_extra
