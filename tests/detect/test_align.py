"""Face crops: square with margin, eyes levelled, borders repeated."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from detect_helpers import photo

from ferkit.align import crop_face, eye_angle
from ferkit.detect import create_detector
from ferkit.faces import Face


def test_crop_is_square_gray_with_margin():
    image = np.zeros((100, 100, 3), np.uint8)
    image[40:60, 30:70] = 255
    face = Face((30, 40, 70, 60), 1.0)
    crop = crop_face(image, face, margin=0.0)
    assert crop.shape == (40, 40) and crop.dtype == np.uint8
    assert crop[20, 20] == 255 and crop[2, 20] == 0
    assert crop_face(image, face, margin=0.5).shape == (80, 80)
    assert crop_face(image, face, size=48, gray=False).shape == (48, 48, 3)


def test_crop_beyond_the_border_repeats_edge_pixels():
    image = np.full((50, 50, 3), 200, np.uint8)
    crop = crop_face(image, Face((0, 0, 20, 20), 1.0), margin=0.5)
    assert crop.shape == (40, 40) and (crop == 200).all()


def test_eye_angle_and_alignment_levels_the_eyes():
    face = Face((0, 0, 100, 100), 1.0, ((30, 40), (70, 60)))
    assert eye_angle(face) == pytest.approx(np.degrees(np.arctan2(20, 40)))
    assert eye_angle(Face((0, 0, 1, 1), 1.0)) is None
    # Two bright dots as eyes on a dark image: after alignment they sit on one row.
    image = np.zeros((100, 100, 3), np.uint8)
    cv2.circle(image, (30, 40), 3, (255, 255, 255), -1)
    cv2.circle(image, (70, 60), 3, (255, 255, 255), -1)
    crop = crop_face(image, face, margin=0.0)
    ys, xs = np.nonzero(crop > 128)
    left, right = ys[xs < 50].mean(), ys[xs >= 50].mean()
    assert abs(left - right) < 1.5
    unaligned = crop_face(image, face, margin=0.0, align=False)
    ys, xs = np.nonzero(unaligned > 128)
    assert ys[xs >= 50].mean() - ys[xs < 50].mean() > 15


def test_aligned_crop_of_a_rolled_photo_is_upright(blazeface):
    image = photo("astronaut")
    matrix = cv2.getRotationMatrix2D((256, 256), 25, 1.0)
    rolled = cv2.warpAffine(image, matrix, (512, 512), borderMode=cv2.BORDER_REFLECT)
    (face,) = blazeface.detect(rolled)
    assert abs(abs(eye_angle(face)) - 25) < 6
    crop = crop_face(rolled, face, margin=0.4, gray=False)
    (again,) = blazeface.detect(crop)
    assert abs(eye_angle(again)) < 6


def test_big_face_shrunk_to_a_small_crop():
    image = photo("astronaut")
    crop = crop_face(image, Face((0, 0, 512, 512), 1.0), size=48, margin=0.0)
    reference = cv2.resize(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), (48, 48),
                           interpolation=cv2.INTER_AREA)
    assert np.abs(crop.astype(int) - reference).mean() < 3


def test_crops_of_detected_faces(crowd):
    frame, truth = crowd
    faces = create_detector("blazeface").detect(frame)
    crops = [crop_face(frame, face, size=64) for face in faces]
    assert len(crops) == len(truth)
    assert all(c.shape == (64, 64) for c in crops)
    assert create_detector("blazeface").detect(np.full((120, 160, 3), 128, np.uint8)) == []
