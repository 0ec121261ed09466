"""How far off is the head pose from five landmarks? Error under landmark noise and face shapes.

    python benchmarks/bench_pose.py

No real head-pose ground truth ships with ../shared (RAF-DB, FER2013, CK+ carry none), so this
measures the estimator's sensitivity, not its accuracy on real faces: model faces of varied
shape (each coordinate of `FACE_3D_MM` scaled by a random 0.85-1.15, depths too) are posed at
random (yaw +-60, pitch +-30, roll +-40 degrees), projected by a camera with a 640 px focal
length from as far as puts the eyes 20-100 px apart, their landmarks moved by Gaussian noise of
the given share of the eye distance (RetinaFace-class detectors are quoted at a few per cent),
and read back with `ferkit.detect.pose.head_pose`. Printed: median and 90th-percentile absolute
error per angle.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from ferkit.detect.pose import FACE_3D_MM, head_pose


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Camera-frame rotation of a face posed as `head_pose` reports (degrees)."""
    y, p, r = (math.radians(v) for v in (yaw, pitch, roll))
    turn = np.array([[math.cos(y), 0, -math.sin(y)], [0, 1, 0], [math.sin(y), 0, math.cos(y)]])
    nod = np.array([[1, 0, 0], [0, math.cos(p), math.sin(p)], [0, -math.sin(p), math.cos(p)]])
    tilt = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    return turn @ nod @ tilt


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=2000)
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.02, 0.05])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print("| landmark noise (share of eye distance) | face shapes | yaw err median / p90 | "
          "pitch err | roll err |")
    print("|---|---|---|---|---|")
    for noise in args.noise:
        for varied in (False, True):
            rng = np.random.default_rng(args.seed)
            errors = []
            for _ in range(args.faces):
                truth = (rng.uniform(-60, 60), rng.uniform(-30, 30), rng.uniform(-40, 40))
                face = FACE_3D_MM * (rng.uniform(0.85, 1.15, (1, 3)) if varied else 1.0)
                eyes_px = rng.uniform(20, 100)  # apart in the image: faces ~40-200 px wide
                distance = 640 * 62 / eyes_px
                points = face @ rotation(*truth).T + (0, 0, distance)
                uv = points[:, :2] / points[:, 2:] * 640 + (320, 240)
                eye_px = np.linalg.norm(uv[1] - uv[0])
                uv = uv + rng.normal(0, noise * max(eye_px, 1e-6), uv.shape)
                got = head_pose([tuple(p) for p in uv], (640, 480))
                if got is None:
                    continue
                errors.append(np.abs(np.array(got) - truth))
            err = np.array(errors)
            cells = [f"{np.median(err[:, k]):.1f} / {np.percentile(err[:, k], 90):.1f}"
                     for k in range(3)]
            print(f"| {noise:.0%} | {'varied +-15 %' if varied else 'the model face'} | "
                  + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
