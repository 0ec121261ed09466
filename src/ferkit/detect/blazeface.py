"""MediaPipe BlazeFace on ONNX Runtime: SSD anchors, box and keypoint decoding, tiling, NMS."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources

import cv2
import numpy as np

from ferkit.detect.nms import weighted_nms
from ferkit.errors import FerkitError
from ferkit.faces import BoxXYXY, Face
from ferkit.runtime import session_options

#: Model files shipped beside this module (see LICENSE-blazeface.txt and
#: tools/make_blazeface_onnx.py).
MODELS = ("full_range", "short_range")

# MediaPipe clips raw scores to +-100; +-80 keeps the float32 sigmoid finite.
_RAW_SCORE_LIMIT = 80.0


@dataclass(frozen=True)
class Pass:
    """One model input: the image from (x0, y0) on, scaled by `scale`, as width x height pixels.

    Parts of that window beyond the image are black, as in MediaPipe's letterboxing.
    """

    x0: float
    y0: float
    scale: float
    width: int
    height: int
    is_tile: bool = False


@cache
def ssd_anchors(height: int, width: int, strides: tuple[int, ...],
                two_anchors_per_cell: bool) -> np.ndarray:
    """Anchor centres (N, 2) in input pixels, in the order the model emits them.

    A trimmed mediapipe ssd_anchors_calculator: anchors have a fixed unit size, so only centres
    matter; consecutive layers with the same stride share one grid, repeated per layer.
    """
    centres = []
    layer = 0
    while layer < len(strides):
        stride = strides[layer]
        same = layer
        while same < len(strides) and strides[same] == stride:
            same += 1
        per_cell = (same - layer) * (2 if two_anchors_per_cell else 1)
        ys, xs = np.meshgrid((np.arange(height // stride) + 0.5) * stride,
                             (np.arange(width // stride) + 0.5) * stride, indexing="ij")
        xy = np.stack([xs.ravel(), ys.ravel()], axis=1)
        centres.append(np.repeat(xy, per_cell, axis=0))
        layer = same
    anchors = np.concatenate(centres).astype(np.float32)
    anchors.flags.writeable = False
    return anchors


def decode(
    raw_boxes: np.ndarray, raw_scores: np.ndarray, anchors: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model outputs (..., N, 16) and (..., N, 1) to boxes (..., N, 4) xyxy, keypoints
    (..., N, 6, 2) in input pixels, and probabilities (..., N).

    Each row holds the box centre offset from its anchor, the box size, and six keypoint
    offsets, all in input pixels.
    """
    values = raw_boxes.reshape(*raw_boxes.shape[:-1], 8, 2)
    centre = values[..., 0, :] + anchors
    half = values[..., 1, :] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=-1)
    keypoints = values[..., 2:, :] + anchors[:, None, :]
    logits = np.clip(raw_scores[..., 0], -_RAW_SCORE_LIMIT, _RAW_SCORE_LIMIT)
    return boxes, keypoints, 1.0 / (1.0 + np.exp(-logits))


def plan_passes(
    height: int, width: int, input_size: int, min_face_px: float | None,
    min_face_input_px: float, tiles: bool = False,
) -> list[Pass]:
    """The model inputs that together find faces from about `min_face_px` wide up to the
    whole frame.

    First the whole image letterboxed into one input_size square, as MediaPipe runs it; that
    finds faces down to about min_face_input_px / input_size of the longer side. Smaller
    faces: the networks are fully convolutional, so the whole image also goes through at the
    scale that makes a `min_face_px` face `min_face_input_px` wide, and at half that scale,
    and so on while the result is clearly larger than one input; each scale finds faces
    across a range more than twice as wide as the step between scales.
    `tiles` cuts each such scale into overlapping input_size squares, as the model was trained
    on: more runs, but more small faces found (bench_detect.py). A face too wide to lie whole
    in one tile (wider than the quarter-tile overlap) is found at the next, halved, scale.
    """
    side = max(height, width)
    passes = [Pass((width - side) / 2, (height - side) / 2, input_size / side,
                   input_size, input_size)]
    if not min_face_px:
        return passes
    scale = min_face_input_px / min_face_px
    while side * scale > 1.25 * input_size:
        if tiles:
            tile = input_size / scale
            for y0 in _starts(height, tile):
                for x0 in _starts(width, tile):
                    passes.append(Pass(x0, y0, scale, input_size, input_size, True))
        else:
            passes.append(Pass(0.0, 0.0, scale, _round_up(width * scale, 32),
                               _round_up(height * scale, 32)))
        scale /= 2
    return passes


def _round_up(value: float, step: int) -> int:
    return max(step, int(np.ceil(value / step)) * step)


def _starts(length: int, tile: float, overlap: float = 0.25) -> list[float]:
    if length <= tile:
        return [(length - tile) / 2]
    count = int(np.ceil((length - tile) / (tile * (1 - overlap)))) + 1
    return [float(v) for v in np.linspace(0, length - tile, count)]


def _render(rgb: np.ndarray, p: Pass) -> tuple[np.ndarray, tuple[float, float, float, float]]:
    """The pass as a (height, width, 3) float32 input in [-1, 1], and the affine
    (ox, oy, sx, sy) taking input pixels back to image pixels: x = ox + sx * x_in."""
    img_h, img_w = rgb.shape[:2]
    xa = min(max(int(round(p.x0)), 0), img_w - 1)
    ya = min(max(int(round(p.y0)), 0), img_h - 1)
    xb = max(min(int(round(p.x0 + p.width / p.scale)), img_w), xa + 1)
    yb = max(min(int(round(p.y0 + p.height / p.scale)), img_h), ya + 1)
    ox = min(max(int(round((xa - p.x0) * p.scale)), 0), p.width - 1)
    oy = min(max(int(round((ya - p.y0) * p.scale)), 0), p.height - 1)
    pw = max(1, min(p.width - ox, int(round((xb - xa) * p.scale))))
    ph = max(1, min(p.height - oy, int(round((yb - ya) * p.scale))))
    # INTER_AREA averages when shrinking; bilinear alone would alias away small faces.
    interp = cv2.INTER_AREA if p.scale < 1 else cv2.INTER_LINEAR
    part = cv2.resize(rgb[ya:yb, xa:xb], (pw, ph), interpolation=interp)
    canvas = np.full((p.height, p.width, 3), -1.0, dtype=np.float32)
    canvas[oy:oy + ph, ox:ox + pw] = part.astype(np.float32) * (2 / 255) - 1
    sx, sy = (xb - xa) / pw, (yb - ya) / ph
    return canvas, (xa - ox * sx, ya - oy * sy, sx, sy)


#: Measured with benchmarks/bench_detect.py: the score threshold, and the narrowest face, in
#: input pixels, that the model still finds reliably.
_TUNING = {
    "full_range": {"min_score": 0.55, "min_face_input_px": 19.0},
    "short_range": {"min_score": 0.7, "min_face_input_px": 19.0},
}
#: The close-up pass keeps only faces at least this fraction of the frame's shorter side: the
#: pass exists for frame-filling faces, and small short-range hits on textures are its errors.
_CLOSE_UP_MIN_SCORE = 0.65
_CLOSE_UP_MIN_FRACTION = 0.4


@cache
def _model_bytes(model: str) -> bytes:
    return (resources.files("ferkit.detect") / f"blazeface_{model}.onnx").read_bytes()


class _Model:
    """One BlazeFace network: an ONNX Runtime session and how to read its outputs."""

    def __init__(self, model: str, min_score: float | None, threads: int) -> None:
        import onnxruntime as ort

        options = session_options(threads)
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            _model_bytes(model), options, providers=["CPUExecutionProvider"])
        meta = json.loads(self.session.get_modelmeta().custom_metadata_map["ferkit"])
        self.input_size = int(meta["input_size"])
        self.strides = tuple(meta["strides"])
        self.two_anchors_per_cell = bool(meta["two_anchors_per_cell"])
        self.min_score = float(_TUNING[model]["min_score"] if min_score is None else min_score)
        self.min_face_input_px = _TUNING[model]["min_face_input_px"]
        self.input_name = self.session.get_inputs()[0].name

    def run(self, rgb: np.ndarray, passes: list[Pass]):
        """Detections above `min_score` from every pass, in image pixels:
        boxes (N, 4), keypoints (N, 12) and scores (N,)."""
        height, width = rgb.shape[:2]
        out_boxes, out_points, out_scores = [], [], []
        for shape in dict.fromkeys((p.height, p.width) for p in passes):
            group = [p for p in passes if (p.height, p.width) == shape]
            inputs, affines = zip(*(_render(rgb, p) for p in group), strict=True)
            batch = np.stack(inputs).transpose(0, 3, 1, 2)
            raw_boxes, raw_scores = self.session.run(None, {self.input_name: batch})
            anchors = ssd_anchors(*shape, self.strides, self.two_anchors_per_cell)
            boxes, keypoints, scores = decode(raw_boxes, raw_scores, anchors)
            for i, (ox, oy, sx, sy) in enumerate(affines):
                hit = scores[i] >= self.min_score
                if not hit.any():
                    continue
                b = boxes[i][hit] * (sx, sy, sx, sy) + (ox, oy, ox, oy)
                k = keypoints[i][hit] * (sx, sy) + (ox, oy)
                s = scores[i][hit]
                if group[i].is_tile:
                    keep = _inside_tile(b, group[i], width, height)
                    b, k, s = b[keep], k[keep], s[keep]
                out_boxes.append(b)
                out_points.append(k.reshape(len(k), 12))
                out_scores.append(s)
        if not out_boxes:
            return np.zeros((0, 4)), np.zeros((0, 12)), np.zeros(0)
        return np.concatenate(out_boxes), np.concatenate(out_points), np.concatenate(out_scores)


class BlazeFaceDetector:
    """Google MediaPipe's BlazeFace on ONNX Runtime; six keypoints per face.

    `model`: "full_range" (192 px input, trained on faces up to ~5 m from the camera) or
    "short_range" (128 px, selfie distance). Faces from about `min_face_px` wide up to the
    whole frame are searched for (see `plan_passes`): in overlapping tiles by default, or with
    `tiles=False` in whole-frame passes, faster on large frames but finding fewer small faces.
    `min_face_px=None` runs the model once on the whole frame: fastest, but faces under
    ~10 % of the longer side are then missed.
    `near_input`: the side, in pixels, each short-range `detect_near` window is scaled to (the
    full-range model, used there when `close_up` is off, keeps its 192). 80 px (the face
    then ~40 px) costs 1.05 ms a window against 2.0 ms at the model's native 128, with boxes
    and eye points as close to the whole-frame search's (benchmarks/bench_near.py).
    `max_side`: a frame whose longer side exceeds it is searched as if scaled down to it, so
    `min_face_px` counts at that size (56 px in a 1280x720 frame for max_side 640, 28 px):
    the search then costs about the same at any frame size. None: `min_face_px` everywhere.
    `close_up` adds one short-range pass over the whole frame: the full-range model misses
    faces cropped tight to the frame, such as an already-cropped face photo.
    Immutable, and safe to share between threads: ONNX Runtime sessions allow concurrent runs.
    """

    name = "blazeface"

    def __init__(
        self,
        model: str = "full_range",
        *,
        min_face_px: int | None = 28,
        close_up: bool = True,
        min_score: float | None = None,
        iou_threshold: float = 0.3,
        threads: int = 1,
        tiles: bool = True,
        max_side: int | None = None,
        near_input: int = 80,
    ) -> None:
        if model not in MODELS:
            raise FerkitError(f"unknown BlazeFace model {model!r}; choose one of {MODELS}")
        self.model = model
        self.min_face_px = int(min_face_px) if min_face_px else None
        self.iou_threshold = float(iou_threshold)
        self.tiles = bool(tiles)
        self.max_side = int(max_side) if max_side else None
        if int(near_input) < 32 or int(near_input) % 16:
            raise FerkitError(f"near_input must be a multiple of 16, 32 or more; got {near_input}")
        self.near_input = int(near_input)
        self._main = _Model(model, min_score, int(threads))
        self.min_score = self._main.min_score
        self._close_up = (_Model("short_range", _CLOSE_UP_MIN_SCORE, int(threads))
                          if close_up and model != "short_range" else None)
        self.close_up = self._close_up is not None

    def __repr__(self) -> str:
        return (f"BlazeFaceDetector(model={self.model!r}, min_face_px={self.min_face_px}, "
                f"max_side={self.max_side}, close_up={self.close_up}, "
                f"min_score={self.min_score})")

    def passes(self, height: int, width: int) -> list[Pass]:
        """The model inputs `detect` runs for an image of this size."""
        m = self._main
        min_face = self.min_face_px
        if min_face and self.max_side and max(height, width) > self.max_side:
            min_face = min_face * max(height, width) / self.max_side
        return plan_passes(height, width, m.input_size, min_face, m.min_face_input_px,
                           self.tiles)

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        """Faces in a BGR uint8 image, best first, boxes and keypoints in its pixels."""
        height, width = image_bgr.shape[:2]
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        runs = [(self._main, self.passes(height, width))]
        if self._close_up is not None:
            size = self._close_up.input_size
            side = max(height, width)
            whole = Pass((width - side) / 2, (height - side) / 2, size / side, size, size)
            runs.append((self._close_up, [whole]))
        # Shrinking the whole frame with INTER_AREA is most of a pass's cost: when every pass
        # is at half size or less, shrink once and render all of them from that copy.
        top = max(p.scale for _, passes in runs for p in passes)
        kx = ky = 1.0
        if top <= 0.5:
            rgb = cv2.resize(rgb, (max(1, round(width * top)), max(1, round(height * top))),
                             interpolation=cv2.INTER_AREA)
            kx, ky = rgb.shape[1] / width, rgb.shape[0] / height
            runs = [(model, [replace(p, x0=p.x0 * kx, y0=p.y0 * ky, scale=p.scale / kx)
                             for p in passes]) for model, passes in runs]
        parts = []
        for model, passes in runs:
            boxes, points, scores = model.run(rgb, passes)
            boxes, points = boxes / (kx, ky, kx, ky), points / np.tile((kx, ky), 6)
            if model is self._close_up:
                big = boxes[:, 2] - boxes[:, 0] >= _CLOSE_UP_MIN_FRACTION * min(height, width)
                boxes, points, scores = boxes[big], points[big], scores[big]
            parts.append((boxes, points, scores))
        return self._faces(parts, width, height)

    def detect_near(self, image_bgr: np.ndarray, boxes: Sequence[BoxXYXY]) -> list[Face]:
        """Faces only near `boxes` (say, last frame's faces): one small pass per box.

        Each pass is a square window twice the box's size around its centre, run through the
        short-range model at `near_input` pixels (a full-range detector without `close_up`
        uses its own model and size), so the cost no longer grows with the frame size or the
        smallest face searched for. Faces outside every
        window are not found: video callers run `detect` now and then for new faces.
        """
        height, width = image_bgr.shape[:2]
        short = self._close_up or (self._main if self.model == "short_range" else None)
        model = short or self._main
        # near_input suits the short-range network; the full-range one keeps its own size.
        size = self.near_input if short else model.input_size
        passes = []
        for x1, y1, x2, y2 in boxes:
            side = max(2.0 * max(x2 - x1, y2 - y1), 16.0)
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            passes.append(Pass(cx - side / 2, cy - side / 2, size / side, size, size))
        if not passes:
            return []
        rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
        return self._faces([model.run(rgb, passes)], width, height)

    def _faces(self, parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]], width: int,
               height: int) -> list[Face]:
        """Merge the (boxes, keypoints, scores) of several runs into Faces inside the image."""
        boxes, points, scores = (np.concatenate(arrays) for arrays in zip(*parts, strict=True))
        if not len(scores):
            return []
        merged, merged_scores, merged_points = weighted_nms(
            boxes, scores, self.iou_threshold, points)
        faces = []
        for (x1, y1, x2, y2), score, pts in zip(merged, merged_scores, merged_points, strict=True):
            box = (max(x1, 0.0), max(y1, 0.0), min(x2, width), min(y2, height))
            if box[2] - box[0] >= 1 and box[3] - box[1] >= 1:
                faces.append(Face(box, score, tuple(map(tuple, pts.reshape(6, 2)))))
        return faces


def _inside_tile(boxes: np.ndarray, tile: Pass, width: int, height: int) -> np.ndarray:
    """Keep tile detections clear of the tile's inner edges: a face cut by a tile edge lies
    whole in a neighbouring tile (tiles overlap) and its clipped box would spoil the merge."""
    side = tile.width / tile.scale
    margin = 0.02 * side
    x0, y0, x1, y1 = tile.x0, tile.y0, tile.x0 + side, tile.y0 + side
    ok = np.ones(len(boxes), dtype=bool)
    if x0 > 0:
        ok &= boxes[:, 0] > x0 + margin
    if y0 > 0:
        ok &= boxes[:, 1] > y0 + margin
    if x1 < width:
        ok &= boxes[:, 2] < x1 - margin
    if y1 < height:
        ok &= boxes[:, 3] < y1 - margin
    return ok
