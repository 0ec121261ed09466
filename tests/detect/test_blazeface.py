"""BlazeFace: anchors, decoding, tiling, and detection on the shipped photos."""

from __future__ import annotations

import threading

import cv2
import numpy as np
import pytest
from detect_helpers import TRUTH, iou, photo

from ferkit.detect.blazeface import BlazeFaceDetector, decode, plan_passes, ssd_anchors
from ferkit.errors import FerkitError


def test_anchor_layouts_match_the_model_outputs():
    short = ssd_anchors(128, 128, (8, 16, 16, 16), True)
    full = ssd_anchors(192, 192, (4,), False)
    assert short.shape == (896, 2) and full.shape == (2304, 2)
    assert short[0].tolist() == [4, 4] and short[1].tolist() == [4, 4]
    assert short[2].tolist() == [12, 4]
    assert short[512].tolist() == [8, 8]  # first 16 px cell, repeated 6 times
    assert full[-1].tolist() == [190, 190]
    assert ssd_anchors(480, 640, (4,), False).shape == (120 * 160, 2)


def test_decode_offsets_from_anchors_in_input_pixels():
    anchors = np.array([[48.0, 96.0]], np.float32)
    raw = np.zeros((1, 1, 16), np.float32)
    raw[0, 0, :4] = [19.2, 0, 38.4, 19.2]     # centre offset, then width and height
    raw[0, 0, 4:6] = [-9.6, 0]                 # first keypoint
    boxes, points, scores = decode(raw, np.zeros((1, 1, 1), np.float32), anchors)
    assert boxes[0, 0] == pytest.approx([48, 86.4, 86.4, 105.6])
    assert points[0, 0, 0] == pytest.approx([38.4, 96])
    assert points[0, 0, 1] == pytest.approx([48, 96])
    assert scores[0, 0] == pytest.approx(0.5)
    _, _, extreme = decode(raw, np.full((1, 1, 1), 1e6, np.float32), anchors)
    assert np.isfinite(extreme).all()


def test_plan_passes():
    whole, dense = plan_passes(480, 640, 192, 28, 19)
    assert (whole.x0, whole.y0, whole.width, whole.height) == (0, -80, 192, 192)
    assert whole.scale == pytest.approx(192 / 640)
    assert (dense.width, dense.height) == (448, 352) and not dense.is_tile
    assert dense.scale == pytest.approx(19 / 28)
    assert len(plan_passes(480, 640, 192, None, 19)) == 1
    assert len(plan_passes(200, 200, 192, 28, 19)) == 1  # small images need one pass
    assert [p.width for p in plan_passes(720, 1280, 192, 28, 19)] == [192, 896, 448]


def test_plan_tiles_cover_the_frame_with_overlap():
    whole, *tiles = plan_passes(480, 640, 192, 28, 19, tiles=True)
    side = 28 * 192 / 19
    assert len(tiles) == 6 and all(t.is_tile and t.width == t.height == 192 for t in tiles)
    assert sorted({t.x0 for t in tiles}) == pytest.approx([0, (640 - side) / 2, 640 - side])
    assert sorted({t.y0 for t in tiles}) == pytest.approx([0, 480 - side])
    hd = plan_passes(720, 1280, 192, 28, 19, tiles=True)
    assert len({round(p.scale, 4) for p in hd}) == 3


def test_finds_the_astronaut_with_landmarks(blazeface):
    faces = blazeface.detect(photo("astronaut"))
    assert len(faces) == 1
    face = faces[0]
    assert iou(face.box_xyxy, TRUTH["astronaut"]) > 0.6 and face.detector_score > 0.8
    assert len(face.landmarks) == 6
    (rx, ry), (lx, ly) = face.landmarks[:2]
    x1, y1, x2, y2 = face.box_xyxy
    # The subject's right eye is on the image's left.
    assert x1 < rx < lx < x2 and y1 < ry < (y1 + y2) / 2 and abs(ry - ly) < 10


def test_finds_a_face_turned_to_the_side(blazeface):
    faces = blazeface.detect(photo("camera"))
    assert len(faces) == 1 and iou(faces[0].box_xyxy, TRUTH["camera"]) > 0.4


def test_boxes_map_back_through_letterboxing(blazeface):
    image = photo("astronaut")
    (base,) = blazeface.detect(image)
    for shape, offset in [((512, 1100, 3), (300, 0)), ((1000, 512, 3), (0, 350))]:
        canvas = np.full(shape, 127, np.uint8)
        canvas[offset[1]:offset[1] + 512, offset[0]:offset[0] + 512] = image
        (face,) = blazeface.detect(canvas)
        shifted = np.array(base.box_xyxy) + offset * 2
        assert np.abs(np.array(face.box_xyxy) - shifted).max() < 6


def test_several_faces_down_to_32px(blazeface, crowd):
    frame, truth = crowd
    faces = blazeface.detect(frame)
    assert len(faces) == len(truth)
    for box in truth:
        assert max(iou(face.box_xyxy, box) for face in faces) > 0.4, box


def test_whole_frame_search_modes(crowd):
    frame, truth = crowd
    one_pass = BlazeFaceDetector(min_face_px=None, close_up=False)
    assert len(one_pass.passes(480, 640)) == 1
    assert 1 <= len(one_pass.detect(frame)) < len(truth)
    pyramid = BlazeFaceDetector(tiles=False)
    found = pyramid.detect(frame)
    assert 3 <= len(found) <= len(truth)
    for face in found:
        assert max(iou(face.box_xyxy, box) for box in truth) > 0.4


def test_max_side_searches_large_frames_as_if_scaled_down(crowd):
    frame, truth = crowd
    capped = BlazeFaceDetector(tiles=False, max_side=640)
    plain = BlazeFaceDetector(tiles=False)
    # Up to max_side nothing changes; a frame twice as large gets the same passes, scaled.
    assert capped.passes(480, 640) == plain.passes(480, 640)
    small, large = capped.passes(480, 640), capped.passes(960, 1280)
    assert [p.width for p in large] == [p.width for p in small]
    assert [p.scale for p in large] == pytest.approx([p.scale / 2 for p in small])
    assert len(plain.passes(960, 1280)) > len(large)
    # ... and finds the same faces there, at twice the size.
    big = cv2.resize(frame, (1280, 960), interpolation=cv2.INTER_LINEAR)
    found = capped.detect(big)
    assert len(found) == len(plain.detect(frame))
    for face in found:
        assert max(iou(face.box_xyxy, np.array(box) * 2) for box in truth) > 0.4


@pytest.mark.parametrize("frame", [
    np.full((480, 640, 3), 128, np.uint8),
    np.tile(np.linspace(0, 255, 640, dtype=np.uint8)[None, :, None], (480, 1, 3)),
    photo("astronaut")[300:, :],   # spacesuit and flag, no face
    np.zeros((1, 1, 3), np.uint8),
])
def test_faceless_frames_give_no_faces(blazeface, frame):
    assert blazeface.detect(frame) == []


def test_close_up_pass_finds_a_frame_filling_face():
    x1, y1, x2, y2 = TRUTH["astronaut"]
    tight = photo("astronaut")[y1:y2, x1:x2]
    assert BlazeFaceDetector(close_up=True).detect(tight)


def test_short_range_model_and_bad_model():
    short = BlazeFaceDetector("short_range", min_face_px=None)
    assert len(short.detect(photo("astronaut"))) == 1
    with pytest.raises(FerkitError, match="full_range"):
        BlazeFaceDetector("tiny")


def test_shared_between_threads(blazeface, crowd):
    frame, _ = crowd
    expected = blazeface.detect(frame)
    results = [None] * 4

    def work(i):
        results[i] = blazeface.detect(frame)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == expected for r in results)


@pytest.mark.parametrize("near_input", [80, 128])
def test_detect_near_finds_the_known_faces_only(crowd, near_input):
    frame, truth = crowd
    detector = BlazeFaceDetector(tiles=False, near_input=near_input)
    near = detector.detect_near(frame, truth)
    assert len(near) == len(truth)
    for box in truth:
        assert max(iou(face.box_xyxy, box) for face in near) > 0.4, box
    # Only the windows are searched: one known face gives back that face alone.
    one = detector.detect_near(frame, truth[:1])
    assert len(one) == 1 and iou(one[0].box_xyxy, truth[0]) > 0.4
    assert detector.detect_near(frame, []) == []
    assert detector.detect_near(np.full((480, 640, 3), 128, np.uint8), truth) == []


def test_detect_near_without_close_up_runs_the_full_range_model_at_its_own_size(crowd):
    frame, truth = crowd
    near = BlazeFaceDetector(tiles=False, close_up=False).detect_near(frame, truth[:2])
    assert len(near) == 2


def test_near_input_must_suit_the_model_strides():
    with pytest.raises(FerkitError, match="multiple of 16"):
        BlazeFaceDetector(near_input=100)
