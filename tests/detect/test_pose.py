"""Head pose from five landmarks: exact on a projected model face, signs on real photos."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from detect_helpers import photo

from ferkit.align import eye_angle
from ferkit.detect.pose import FACE_3D_MM, head_pose
from ferkit.detect.retinaface import RetinaFaceDetector


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Model-to-camera rotation of a face turned by yaw (to its left: nose to the image's
    right), pitch (up) and roll (its left eye down), in degrees; camera axes x right, y down,
    z forward."""
    y, p, r = (math.radians(v) for v in (yaw, pitch, roll))
    # Yaw turns about the vertical axis, pitch about the horizontal one, roll about the
    # viewing axis; with y down and z away from the camera the signs below give the docs'.
    ry = np.array([[math.cos(y), 0, -math.sin(y)], [0, 1, 0], [math.sin(y), 0, math.cos(y)]])
    rx = np.array([[1, 0, 0], [0, math.cos(p), math.sin(p)], [0, -math.sin(p), math.cos(p)]])
    rz = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return ry @ rx @ rz


def project(yaw, pitch, roll, centre=(320, 240), distance_mm=600.0, size_wh=(640, 480)):
    """The model face's landmarks in the image, its nose tip at `centre`, posed relative to
    the line from the camera to it."""
    focal = max(size_wh)
    ray = np.array([(centre[0] - size_wh[0] / 2) / focal, (centre[1] - size_wh[1] / 2) / focal,
                    1.0])
    # turn the posed face so that pose (0, 0, 0) looks along the ray, at the camera
    axis = np.cross([0.0, 0.0, 1.0], ray / np.linalg.norm(ray))
    angle = math.asin(min(1.0, float(np.linalg.norm(axis))))
    onto_ray = cv2.Rodrigues(axis / max(np.linalg.norm(axis), 1e-12) * angle)[0]
    points = FACE_3D_MM @ (onto_ray @ rotation(yaw, pitch, roll)).T
    points = points + ray / np.linalg.norm(ray) * distance_mm
    uv = points[:, :2] / points[:, 2:] * focal + np.array(size_wh) / 2
    return [tuple(p) for p in uv]


@pytest.mark.parametrize("yaw, pitch, roll", [
    (0, 0, 0), (30, 0, 0), (-30, 0, 0), (0, 20, 0), (0, -20, 0), (0, 0, 25), (0, 0, -25),
    (40, -15, 10), (-60, 10, -20),
])
def test_recovers_the_pose_of_a_projected_model_face(yaw, pitch, roll):
    got = head_pose(project(yaw, pitch, roll), (640, 480))
    assert got == pytest.approx((yaw, pitch, roll), abs=1.0)


@pytest.mark.parametrize("centre", [(60, 60), (600, 420), (320, 60)])
def test_a_face_looking_at_the_camera_reads_frontal_anywhere_in_the_frame(centre):
    assert head_pose(project(0, 0, 0, centre), (640, 480)) == pytest.approx((0, 0, 0), abs=1.5)


def test_yaw_sign_convention_in_image_terms():
    """Turned to its left, the face's nose tip moves to the right of its eyes in the image."""
    def nose_right_of_eyes(points):
        return points[2][0] - (points[0][0] + points[1][0]) / 2

    assert nose_right_of_eyes(project(30, 0, 0)) > 5 > abs(nose_right_of_eyes(project(0, 0, 0)))


def test_pitch_sign_convention_in_image_terms():
    """Looking up, the nose tip (nearer the camera than the eyes) rises towards the eye line."""
    def nose_below_eyes(points):
        return points[2][1] - (points[0][1] + points[1][1]) / 2

    assert nose_below_eyes(project(0, 20, 0)) < nose_below_eyes(project(0, 0, 0))


def test_roll_agrees_with_the_eye_angle_used_for_alignment():
    from ferkit.faces import Face

    points = project(0, 0, 20)
    face = Face((0, 0, 640, 480), 1.0, points)
    assert head_pose(points, (640, 480))[2] == pytest.approx(eye_angle(face), abs=1.0)


def test_landmarks_on_top_of_each_other_have_no_pose():
    # A tiny, unsure detection can put its five points within a fraction of a pixel.
    assert head_pose([(100.0, 100.0)] * 5, (640, 480)) is None
    assert head_pose([(100.0, 100.0 + 1e-9 * i) for i in range(5)], (640, 480)) is None


def test_other_landmark_counts_have_no_pose():
    assert head_pose([(0, 0)] * 6, (640, 480)) is None


@pytest.fixture(scope="module")
def retinaface():
    return RetinaFaceDetector()


def test_real_face_turned_to_its_left_has_positive_yaw_and_its_mirror_negative(retinaface):
    # camera.jpg: the photographer looks into his camera on the image's right
    (face,) = retinaface.detect(photo("camera"))
    (mirrored,) = retinaface.detect(np.ascontiguousarray(photo("camera")[:, ::-1]))
    assert face.head_pose_deg[0] > 30 and mirrored.head_pose_deg[0] < -30


def test_a_near_frontal_face_mirrored_keeps_its_yaw_small_and_flips_its_roll(retinaface):
    (face,) = retinaface.detect(photo("astronaut"))
    (mirrored,) = retinaface.detect(np.ascontiguousarray(photo("astronaut")[:, ::-1]))
    assert abs(face.head_pose_deg[0]) < 15 and abs(mirrored.head_pose_deg[0]) < 15
    assert face.head_pose_deg[2] == pytest.approx(-mirrored.head_pose_deg[2], abs=3)


@pytest.mark.parametrize("degrees", [-30, 30])
def test_rolling_a_real_face_in_the_image_changes_its_roll_by_as_much(retinaface, degrees):
    image = photo("astronaut")
    (upright,) = retinaface.detect(image)
    # cv2's positive angle turns the picture counter-clockwise on screen: the face's left eye
    # (on the image's right) rises, so its roll falls by the angle
    matrix = cv2.getRotationMatrix2D((225, 123), degrees, 1.0)
    (turned,) = retinaface.detect(cv2.warpAffine(image, matrix, (512, 512),
                                                 borderMode=cv2.BORDER_REFLECT))
    change = turned.head_pose_deg[2] - upright.head_pose_deg[2]
    assert change == pytest.approx(-degrees, abs=6)
