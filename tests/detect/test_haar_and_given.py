"""The Haar fallback, user-given boxes, and choosing detectors by name."""

from __future__ import annotations

import numpy as np
import pytest
from detect_helpers import CROWD, TRUTH, iou, photo

from ferkit.detect import DETECTORS, FaceDetector, create_detector, haar
from ferkit.detect.given import GivenBoxes, parse_boxes
from ferkit.errors import FerkitError

needs_haar = pytest.mark.skipif(not haar.available(), reason="OpenCV build without cascades")


def test_every_registered_detector_builds_and_fits_the_protocol():
    for name in DETECTORS:
        if name == "haar" and not haar.available():
            continue
        detector = create_detector(name)
        assert isinstance(detector, FaceDetector) and detector.name == name


@needs_haar
def test_unknown_detector_and_bad_option():
    with pytest.raises(FerkitError, match="blazeface, haar, boxes"):
        create_detector("yunet")
    with pytest.raises(FerkitError, match="haar detector"):
        create_detector("haar", min_sise=20)
    with pytest.raises(FerkitError, match="haar detector: min_size must be a whole number"):
        create_detector("haar", min_size="x")
    with pytest.raises(FerkitError, match="scale_factor > 1"):
        create_detector("haar", scale_factor=0.5)  # OpenCV would fail on the first image


@needs_haar
def test_haar_finds_the_astronaut_without_landmarks():
    faces = create_detector("haar").detect(photo("astronaut"))
    assert len(faces) == 1
    assert iou(faces[0].box_xyxy, TRUTH["astronaut"]) > 0.5
    assert faces[0].landmarks is None and 0.5 <= faces[0].detector_score < 1


@needs_haar
def test_haar_on_several_faces_and_on_nothing(crowd):
    frame, truth = crowd
    haar = create_detector("haar")
    faces = haar.detect(frame)
    # Frontal faces of 40 px and up; it is not expected to find the turned or 32 px ones.
    big_frontal = [box for box, (name, w, *_) in zip(truth, CROWD, strict=True) if
                   name == "astronaut" and w >= 40]
    for box in big_frontal:
        assert max(iou(f.box_xyxy, box) for f in faces) > 0.4
    assert haar.detect(np.full((480, 640, 3), 128, np.uint8)) == []
    assert haar.detect(np.full((480, 640), 128, np.uint8)) == []


def test_given_boxes_are_clipped_and_checked():
    image = np.zeros((100, 200, 3), np.uint8)
    faces = GivenBoxes([(10, 10, 50, 60), (150, -5, 250, 40)]).detect(image)
    assert [f.box_xyxy for f in faces] == [(10, 10, 50, 60), (150, 0, 200, 40)]
    assert all(f.detector_score == 1.0 for f in faces)
    with pytest.raises(FerkitError, match="outside the 200x100 image"):
        GivenBoxes([(300, 0, 400, 50)]).detect(image)
    with pytest.raises(FerkitError, match="x2 > x1"):
        GivenBoxes([(50, 0, 10, 50)])
    with pytest.raises(FerkitError, match="one entry per box"):
        GivenBoxes([(0, 0, 1, 1)], landmarks=[])


def test_given_whole_image_and_landmarks():
    image = np.zeros((48, 64, 3), np.uint8)
    assert create_detector("boxes").detect(image)[0].box_xyxy == (0, 0, 64, 48)
    face = GivenBoxes([(0, 0, 10, 10)], landmarks=[[(2, 3), (7, 3)]]).detect(image)[0]
    assert face.landmarks == ((2.0, 3.0), (7.0, 3.0))


def test_parse_boxes():
    assert parse_boxes("1,2,3,4; 5,6,7,8") == ((1, 2, 3, 4), (5, 6, 7, 8))
    assert GivenBoxes("0,0,10,10").boxes == ((0, 0, 10, 10),)
    for bad in ["", "1,2,3", "a,b,c,d"]:
        with pytest.raises(FerkitError):
            parse_boxes(bad)
