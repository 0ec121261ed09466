"""Head pose (yaw, pitch, roll in degrees) from five face landmarks and a generic 3D face."""

from __future__ import annotations

import math
from collections.abc import Sequence

import cv2
import numpy as np

#: A generic face in millimetres, in the landmark order of the 5-point detectors (subject's
#: right eye, left eye, nose tip, right mouth corner, left mouth corner), looking at the
#: camera: x to the image's right, y down, z away from the camera, nose tip at the origin.
#: x and y: the median RetinaFace landmarks of 300 RAF-DB training faces (in-the-wild photos,
#: mostly near-frontal), scaled to eye centres 62 mm apart; depths: anthropometric averages
#: (eyes 24 mm and mouth corners 20 mm behind the nose tip). An average face reads as 0, 0, 0.
FACE_3D_MM = np.array([
    [-31.0, -33.5, 24.0],
    [31.0, -33.5, 24.0],
    [0.0, 0.0, 0.0],
    [-26.0, 21.0, 20.0],
    [26.0, 21.0, 20.0],
], dtype=np.float64)


def head_pose(landmarks: Sequence[tuple[float, float]], image_wh: tuple[int, int]
              ) -> tuple[float, float, float] | None:
    """(yaw, pitch, roll) in degrees of a face from its five landmarks, or None when the
    points do not fit a face.

    Signs: yaw > 0 when the face turns to its own left (the nose towards the image's right),
    pitch > 0 when it looks up, roll > 0 when its left eye (on the image's right) sits lower,
    as `ferkit.align.eye_angle`. Angles are relative to the line from the camera to the face.
    The camera is assumed to have a focal length equal to the image's longer side and the
    generic face of `FACE_3D_MM`: a coarse estimate (see docs/BENCHMARKS.md).
    """
    if len(landmarks) != 5:
        return None
    width, height = image_wh
    focal = float(max(width, height))
    camera = np.array([[focal, 0, width / 2], [0, focal, height / 2], [0, 0, 1]], np.float64)
    image_points = np.asarray(landmarks, dtype=np.float64).reshape(5, 1, 2)
    try:
        ok, rvec, tvec = cv2.solvePnP(FACE_3D_MM, image_points, camera, None,
                                      flags=cv2.SOLVEPNP_SQPNP)
    except cv2.error:  # points (nearly) on top of each other, as a tiny face's can be
        return None
    if not ok or tvec[2, 0] <= 0:
        return None
    rotation = cv2.Rodrigues(rvec)[0]
    # Undo the direction from the camera to the face, so that a face looking straight at the
    # camera has yaw 0 and pitch 0 wherever it is in the frame.
    rotation = _towards_axis(tvec[:, 0]) @ rotation
    # rotation = turn(yaw) @ nod(pitch) @ tilt(roll): yaw and pitch from where the face
    # looks, roll from what is left once those two are undone.
    forward = rotation @ np.array([0.0, 0.0, -1.0])
    yaw = math.atan2(forward[0], -forward[2])
    pitch = math.atan2(-forward[1], math.hypot(forward[0], forward[2]))
    tilt = (_turn(yaw) @ _nod(pitch)).T @ rotation
    roll = math.atan2(tilt[1, 0], tilt[0, 0])
    return tuple(round(math.degrees(v), 1) for v in (yaw, pitch, roll))


def _turn(yaw: float) -> np.ndarray:
    """Rotation about the camera's vertical axis that turns the face's gaze to the right."""
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]])


def _nod(pitch: float) -> np.ndarray:
    """Rotation about the camera's horizontal axis that raises the face's gaze."""
    c, s = math.cos(pitch), math.sin(pitch)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]])


def _towards_axis(direction: np.ndarray) -> np.ndarray:
    """The rotation taking `direction` onto the camera's optical axis (0, 0, 1)."""
    d = direction / np.linalg.norm(direction)
    axis = np.cross(d, [0.0, 0.0, 1.0])
    sin = np.linalg.norm(axis)
    if sin < 1e-9:
        return np.eye(3)
    angle = math.atan2(sin, float(d[2]))
    return cv2.Rodrigues(axis / sin * angle)[0]
