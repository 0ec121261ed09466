"""The size of `detect_near`'s windows: speed, and how the boxes and eyes found compare.

    python benchmarks/bench_near.py [--sizes 128 96 80 64]

On the composed frames of bench_pipeline.py (six random layouts of each scene), every face
the whole-frame search finds is searched again with `detect_near` around its box, shifted by
up to 3 px as between video frames, with each window scaled to the given size (128 is the
short-range model's native input). Reported per size: ms per window (median call time over
faces), the share of faces found again, the box IoU with the whole-frame box (mean and 10th
percentile) and the eye-point error as a share of the face width (median and 90th percentile).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_detect import backgrounds, compose, head_patch, sources  # noqa: E402
from bench_pipeline import SCENES  # noqa: E402

from ferkit.detect.blazeface import BlazeFaceDetector  # noqa: E402


def iou(a, b) -> float:
    x1, y1, x2, y2 = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inter = max(0.0, x2 - x1) * max(0.0, y2 - y1)
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def frames(layouts: int = 6):
    srcs = sources()
    for seed in range(layouts):
        rng = np.random.default_rng(seed)
        for size, widths in SCENES.values():
            background = backgrounds(rng, size)[seed % 4]
            patches = [head_patch(srcs[j % len(srcs)], rng, w) for j, w in enumerate(widths)]
            yield compose(background, patches, rng)[0], rng


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 96, 80, 64])
    args = parser.parse_args(argv)
    detectors = {n: BlazeFaceDetector(tiles=False, near_input=n) for n in args.sizes}
    whole = detectors[args.sizes[0]]
    stats = {n: {"ms": [], "iou": [], "eye": [], "missed": 0} for n in args.sizes}
    for frame, rng in frames():
        faces = whole.detect(frame)
        for face in faces:
            box = tuple(np.array(face.box_xyxy) + rng.uniform(-3, 3, 4))
            width = face.box_xyxy[2] - face.box_xyxy[0]
            for n, detector in detectors.items():
                detector.detect_near(frame, [box])  # warm
                start = time.perf_counter()
                near = detector.detect_near(frame, [box])
                stats[n]["ms"].append((time.perf_counter() - start) * 1000)
                best = max(near, key=lambda g: iou(face.box_xyxy, g.box_xyxy), default=None)
                if best is None or iou(face.box_xyxy, best.box_xyxy) < 0.3:
                    stats[n]["missed"] += 1
                    continue
                stats[n]["iou"].append(iou(face.box_xyxy, best.box_xyxy))
                eyes = np.array(face.landmarks[:2]) - np.array(best.landmarks[:2])
                stats[n]["eye"].append(np.abs(eyes).max() / width)
    print("| window | ms per window | found again | IoU mean (p10) "
          "| eye error / width, median (p90) |")
    print("|---:|---:|---:|---:|---:|")
    for n, s in stats.items():
        total = len(s["iou"]) + s["missed"]
        print(f"| {n} px | {np.median(s['ms']):.2f} | {len(s['iou'])}/{total} | "
              f"{np.mean(s['iou']):.3f} ({np.percentile(s['iou'], 10):.3f}) | "
              f"{np.median(s['eye']):.3f} ({np.percentile(s['eye'], 90):.3f}) |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
