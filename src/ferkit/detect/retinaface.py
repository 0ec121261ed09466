"""RetinaFace (MobileNet-0.25) on ONNX Runtime: boxes, five landmarks and head pose per face."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import cache
from importlib import resources

import cv2
import numpy as np

from ferkit.detect.nms import nms
from ferkit.detect.pose import head_pose
from ferkit.errors import FerkitError
from ferkit.faces import BoxXYXY, Face
from ferkit.imageio import shrink
from ferkit.runtime import session_options

#: The network shipped beside this module; see LICENSE-retinaface.txt.
MODEL_FILE = "retinaface_mnet025.onnx"

#: Anchor layout of biubug6/Pytorch_Retinaface's mobilenet0.25 config: per stride, two square
#: anchor sizes in input pixels; the box and landmark offsets are scaled by the variances.
_STRIDES = (8, 16, 32)
_ANCHOR_SIZES = ((16, 32), (64, 128), (256, 512))
_VARIANCE_CENTRE, _VARIANCE_SIZE = 0.1, 0.2
#: Shares of a raw box's height to move its top and bottom down (see `_faces`).
_BROW, _CHIN = 0.14, 0.02
#: The network was trained on BGR pixels minus these channel means.
_MEAN_BGR = np.array([104.0, 117.0, 123.0], dtype=np.float32)
#: `close_up`: images up to this longer side that show no face are searched once more, framed
#: by a border of CLOSE_UP_BORDER times their longer side and enlarged to at least
#: CLOSE_UP_SIDE px. Larger images are not: a face-less photo or webcam frame would pay a
#: second, larger search. Chosen on FER2013's 48x48 and RAF-DB's 100x100 validation crops and
#: face-less images (docs/BENCHMARKS.md, "Face crops given as photos").
CLOSE_UP_MAX_SIDE = 512
CLOSE_UP_BORDER = 0.25
CLOSE_UP_SIDE = 192
#: The second search keeps faces scoring at least this: framed, enlarged texture fools the
#: network more often. On benchmarks/bench_face_photos.py it cut false faces from 3 to 1 of
#: 600 face-less images against the detector's own 0.4, for 97.2 % of FER2013's tight crops
#: found instead of 97.9 %.
CLOSE_UP_MIN_SCORE = 0.6
#: `zoom`: a small face (up to ZOOM_MAX_SIDE px at the size searched) that the whole-frame
#: search scored between ZOOM_CANDIDATE_SCORE and `min_score` is looked at again, zoomed in
#: (`detect_near`'s window, twice its size, scaled to `near_input` px: enlarged for all but
#: the largest), and kept if it scores ZOOM_MIN_SCORE (or `min_score`, if higher) there; at
#: most ZOOM_MAX_WINDOWS of them, the surest first. Whole heads of
#: 24-28 px that the search alone missed are found this way, with no false face on the
#: face-less images (benchmarks/bench_detect.py, bench_scenes.py; docs/BENCHMARKS.md).
ZOOM_CANDIDATE_SCORE = 0.02
ZOOM_MAX_SIDE = 48
ZOOM_MAX_WINDOWS = 16
ZOOM_MIN_SCORE = 0.6


@cache
def priors(height: int, width: int) -> np.ndarray:
    """Anchors (N, 4) as centre x, centre y, width, height in input pixels, in model order."""
    rows = []
    for stride, sizes in zip(_STRIDES, _ANCHOR_SIZES, strict=True):
        ny, nx = math.ceil(height / stride), math.ceil(width / stride)
        ys, xs = np.meshgrid((np.arange(ny) + 0.5) * stride, (np.arange(nx) + 0.5) * stride,
                             indexing="ij")
        centres = np.repeat(np.stack([xs.ravel(), ys.ravel()], axis=1), len(sizes), axis=0)
        wh = np.tile(np.repeat(np.asarray(sizes, np.float32)[:, None], 2, axis=1), (ny * nx, 1))
        rows.append(np.hstack([centres, wh]))
    anchors = np.concatenate(rows).astype(np.float32)
    anchors.flags.writeable = False
    return anchors


def decode(loc: np.ndarray, landmarks: np.ndarray, anchors: np.ndarray
           ) -> tuple[np.ndarray, np.ndarray]:
    """Model offsets (N, 4) and (N, 10) to boxes (N, 4) xyxy and points (N, 5, 2), in input
    pixels."""
    centre = anchors[:, :2] + loc[:, :2] * _VARIANCE_CENTRE * anchors[:, 2:]
    size = anchors[:, 2:] * np.exp(loc[:, 2:] * _VARIANCE_SIZE)
    boxes = np.hstack([centre - size / 2, centre + size / 2])
    points = (anchors[:, None, :2]
              + landmarks.reshape(-1, 5, 2) * _VARIANCE_CENTRE * anchors[:, None, 2:])
    return boxes, points


def network_batch(images: list[np.ndarray]) -> np.ndarray:
    """Same-size BGR uint8 images -> the network's float32 NCHW batch: channel means
    subtracted, zeros below and to the right up to a multiple of 32 in height and width."""
    if not images or any(im.shape != images[0].shape or im.ndim != 3 or im.shape[2] != 3
                         for im in images):
        raise FerkitError("the face detector needs one or more same-size BGR images")
    height, width = images[0].shape[:2]
    # Padding to a multiple of 32 keeps every feature map aligned with its anchors; it is
    # zero, as the mean colour is after subtraction: what the network saw beyond edges.
    ph, pw = -(-height // 32) * 32, -(-width // 32) * 32
    batch = np.empty((len(images), 3, ph, pw), np.float32)
    batch[:, :, height:, :] = 0
    batch[:, :, :height, width:] = 0
    for i, image in enumerate(images):
        # Plane by plane into an np.empty batch: faster than cv2.dnn.blobFromImages, and than
        # np.zeros, whose fresh pages fault on first write (docs/BENCHMARKS.md).
        for c, plane in enumerate(cv2.split(image)):
            cv2.subtract(plane, float(_MEAN_BGR[c]), dst=batch[i, c, :height, :width],
                         dtype=cv2.CV_32F)
    return batch


@cache
def _model_bytes() -> bytes:
    return (resources.files("ferkit.detect") / MODEL_FILE).read_bytes()


class RetinaFaceDetector:
    """RetinaFace with a MobileNet-0.25 backbone (biubug6/Pytorch_Retinaface, MIT licence):
    ~0.4M parameters, anchors from 16 to 512 px, five landmarks per face.

    Landmarks come in the order: the subject's right eye, left eye, nose tip, right mouth
    corner, left mouth corner (for a frontal face: image-left eye first). Each face also
    carries its head pose (`ferkit.detect.pose.head_pose`).
    `max_side`: a frame whose longer side exceeds it is searched shrunk to that size, which
    bounds the cost (about proportional to the pixels searched) but loses the small faces:
    the smallest whole head found reliably is about 28 px at the size searched, with `zoom`
    (32 px without; docs/BENCHMARKS.md).
    None: searched at full size.
    `min_score`: probability a detection must reach (0.4: on the composed scenes of
    benchmarks/bench_scenes.py and bench_detect.py it kept false positives near zero and found
    more small faces than 0.5 or 0.6); `iou_threshold`: NMS overlap.
    `near_input`: the side, in pixels, of each `detect_near` window.
    `close_up`: an image of up to `CLOSE_UP_MAX_SIDE` px with no face found is searched again
    framed by a border and enlarged: a face cut tight to the frame, as in a dataset's face
    crops, touches the image's edges, where RetinaFace misses it (63 % of FER2013's 48x48
    validation crops found without, 97 % with). Skipped when `max_side` shrinks the image.
    `zoom`: small faces the search was unsure of are looked at again, enlarged (see
    `ZOOM_MIN_SCORE`); their windows are cut from the image as given, not as shrunk.
    `threads`: ONNX Runtime threads per search. Two by default, because a still photo is one
    search that nothing else runs beside; video runs one (`VIDEO_DETECTOR`), leaving the other
    core to decoding and the classifier.
    Immutable, and safe to share between threads: ONNX Runtime sessions allow concurrent runs.
    """

    name = "retinaface"
    #: Cut with no extra margin, its (brow-to-chin) boxes score best on FER2013 validation:
    #: 65.1 % aligned against 63.2 % at BlazeFace's 0.1 (benchmarks/bench_crops.py --margins;
    #: docs/BENCHMARKS.md).
    crop_margin = 0.0

    def __init__(self, *, max_side: int | None = None, min_score: float = 0.4,
                 iou_threshold: float = 0.4, threads: int = 2, near_input: int = 96,
                 close_up: bool = True, zoom: bool = True) -> None:
        import onnxruntime as ort

        if max_side is not None and int(max_side) < 32:
            raise FerkitError(f"max_side must be 32 or more (or none); got {max_side}")
        if not 0 < float(min_score) < 1:
            raise FerkitError(f"min_score must lie between 0 and 1; got {min_score}")
        if int(near_input) < 32 or int(near_input) % 32:
            raise FerkitError(f"near_input must be a multiple of 32; got {near_input}")
        self.max_side = int(max_side) if max_side else None
        self.min_score = float(min_score)
        self.iou_threshold = float(iou_threshold)
        self.near_input = int(near_input)
        self.close_up = bool(close_up)
        self.zoom = bool(zoom)
        options = session_options(int(threads))
        options.log_severity_level = 3
        self._session = ort.InferenceSession(_model_bytes(), options,
                                             providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name

    def __repr__(self) -> str:
        return (f"RetinaFaceDetector(max_side={self.max_side}, min_score={self.min_score}, "
                f"near_input={self.near_input}, close_up={self.close_up}, zoom={self.zoom})")

    def detect(self, image_bgr: np.ndarray) -> list[Face]:
        """Faces in a BGR uint8 image, best first, boxes and landmarks in its pixels."""
        image_bgr = _bgr(image_bgr)
        height, width = image_bgr.shape[:2]
        small = shrink(image_bgr, self.max_side)
        sy, sx = height / small.shape[0], width / small.shape[1]
        floor = min(self.min_score, ZOOM_CANDIDATE_SCORE) if self.zoom else self.min_score
        boxes, points, scores = self._run([small], floor)[0]
        boxes = boxes * (sx, sy, sx, sy)
        points = points * (sx, sy)
        sure = scores >= self.min_score
        faces = self._faces(boxes[sure], points[sure], scores[sure], width, height)
        if self.zoom:
            unsure = ~sure & (boxes[:, 2] - boxes[:, 0] <= ZOOM_MAX_SIDE * sx)
            faces = self._zoom_in(image_bgr, faces, boxes[unsure], scores[unsure])
        # Not when `max_side` shrank the image: the second search would be larger than it allows.
        if (faces or not self.close_up or small is not image_bgr
                or max(height, width) > CLOSE_UP_MAX_SIDE):
            return faces
        return self._detect_framed(image_bgr)

    def _zoom_in(self, image_bgr: np.ndarray, faces: list[Face], boxes: np.ndarray,
                 scores: np.ndarray) -> list[Face]:
        """`faces`, then those of the unsure small `boxes` (raw, in the image's pixels) that a
        zoomed look confirms (see `zoom`): the search's own faces come first, best first, as
        a zoomed face's score is not comparable with theirs."""
        best = np.argsort(-scores, kind="stable")[:8 * ZOOM_MAX_WINDOWS]  # bounds the NMS
        boxes, scores = boxes[best], scores[best]
        candidates = [boxes[i] for i in nms(boxes, scores, self.iou_threshold)
                      if not _within(boxes[i], faces)][:ZOOM_MAX_WINDOWS]
        if not candidates:
            return faces
        found = list(faces)
        for face in self.detect_near(image_bgr, candidates):  # best first, as `faces`
            if face.detector_score >= ZOOM_MIN_SCORE and not _within(face.box_xyxy, found):
                found.append(face)
        return found

    def _detect_framed(self, image_bgr: np.ndarray) -> list[Face]:
        """`detect` on the image framed by a border and enlarged (see `close_up`)."""
        height, width = image_bgr.shape[:2]
        border = round(CLOSE_UP_BORDER * max(height, width))
        k = max(1.0, CLOSE_UP_SIDE / (max(height, width) + 2 * border))
        # Maps pixel centres: an edge at x lands at (x + border) * k, as boxes are read back.
        shift = (border + 0.5) * k - 0.5
        matrix = np.array([[k, 0, shift], [0, k, shift]], dtype=np.float64)
        size = (round((width + 2 * border) * k), round((height + 2 * border) * k))
        framed = cv2.warpAffine(image_bgr, matrix, size, flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT,
                                borderValue=tuple(float(v) for v in _MEAN_BGR))
        boxes, points, scores = self._run([framed])[0]
        sure = scores >= max(self.min_score, CLOSE_UP_MIN_SCORE)
        return self._faces(boxes[sure] / k - border, points[sure] / k - border, scores[sure],
                           width, height)

    def detect_near(self, image_bgr: np.ndarray, boxes: Sequence[BoxXYXY]) -> list[Face]:
        """Faces only near `boxes` (say, last frame's faces): one `near_input` window per box,
        a square twice the box's size around its centre, all run in one batch. Faces outside
        every window are not found: video callers run `detect` now and then for new faces."""
        image_bgr = _bgr(image_bgr)
        height, width = image_bgr.shape[:2]
        size = self.near_input
        windows, affines = [], []
        for x1, y1, x2, y2 in boxes:
            side = max(2.0 * max(x2 - x1, y2 - y1), 16.0)
            x0, y0 = (x1 + x2 - side) / 2, (y1 + y2 - side) / 2
            k = size / side
            matrix = np.array([[k, 0, -x0 * k], [0, k, -y0 * k]], dtype=np.float64)
            windows.append(cv2.warpAffine(
                image_bgr, matrix, (size, size),
                flags=cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT, borderValue=tuple(float(v) for v in _MEAN_BGR)))
            affines.append((x0, y0, 1 / k))
        if not windows:
            return []
        parts = []
        for (b, p, s), (x0, y0, inv) in zip(self._run(windows), affines, strict=True):
            parts.append((b * inv + (x0, y0, x0, y0), p * inv + (x0, y0), s))
        boxes_all, points_all, scores_all = (np.concatenate(a) for a in zip(*parts, strict=True))
        return self._faces(boxes_all, points_all, scores_all, width, height)

    def _run(self, images: list[np.ndarray], min_score: float | None = None
             ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Detections scoring `min_score` or more (default: the detector's) of same-size images
        run as one batch, in each image's pixels: boxes (N, 4), points (N, 5, 2), scores (N,)."""
        batch = network_batch(images)
        ph, pw = batch.shape[2:]
        loc, conf, landmarks = self._session.run(None, {self._input: batch})
        anchors = priors(ph, pw)
        floor = self.min_score if min_score is None else min_score
        out = []
        for i in range(len(images)):
            hit = conf[i, :, 1] >= floor
            boxes, points = decode(loc[i][hit], landmarks[i][hit], anchors[hit])
            out.append((boxes, points, conf[i, hit, 1]))
        return out

    def _faces(self, boxes: np.ndarray, points: np.ndarray, scores: np.ndarray, width: int,
               height: int) -> list[Face]:
        faces = []
        for i in nms(boxes, scores, self.iou_threshold):
            x1, y1, x2, y2 = boxes[i]
            # WIDER FACE boxes reach up over the forehead; moved to run from the brow to the
            # chin like BlazeFace's (and the classifier's training crops), so crops, tracking
            # and drawing treat every detector's boxes alike. Offsets: the median boxes of both
            # detectors on 300 RAF-DB faces.
            y1, y2 = y1 + _BROW * (y2 - y1), y2 + _CHIN * (y2 - y1)
            box = (max(float(x1), 0.0), max(float(y1), 0.0), min(float(x2), width),
                   min(float(y2), height))
            if box[2] - box[0] < 1 or box[3] - box[1] < 1:
                continue
            landmarks = tuple(map(tuple, points[i].tolist()))
            faces.append(Face(box, float(scores[i]), landmarks,
                              head_pose_deg=head_pose(landmarks, (width, height))))
        return faces


def _within(box: Sequence[float], faces: Sequence[Face]) -> bool:
    """Whether `box`'s centre lies in (or within 4 px of) a box of `faces`: the same face."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    for face in faces:
        x1, y1, x2, y2 = face.box_xyxy
        if x1 - 4 <= cx <= x2 + 4 and y1 - 4 <= cy <= y2 + 4:
            return True
    return False


def _bgr(image: np.ndarray) -> np.ndarray:
    """The image as 3-channel BGR uint8, or a one-line error."""
    if not isinstance(image, np.ndarray) or image.size == 0:
        raise FerkitError("the face detector needs a non-empty image array")
    if image.dtype != np.uint8:
        raise FerkitError(f"the face detector needs uint8 pixels, got {image.dtype}")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    raise FerkitError(f"the face detector needs a gray, BGR or BGRA image, got {image.shape}")
