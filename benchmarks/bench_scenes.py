"""Detector recall by face size and by rotation on scenes of real faces; prints Markdown tables.

    python benchmarks/bench_scenes.py --rafdb ../shared/datasets/rafdb
    python benchmarks/bench_scenes.py --rafdb ../shared/datasets/rafdb retinaface haar

Faces: RAF-DB training faces (in-the-wild internet photos, aligned 100x100 colour crops, the
face filling the crop: its true box is the whole crop), each pasted with a 6 %-feathered edge,
rolled in the image plane by 0, 15, 30 or 45 degrees either way, dimmed or brightened, at
face widths drawn evenly from 10-20, 20-40, 40-80 and 80-160 px (a rolled face's true box is
the upright box around the rolled crop). Yaw and pitch are the photos' own: RAF-DB has
profile and tilted faces among its frontal ones. Backgrounds: real photo regions without faces
(the shipped astronaut.jpg and camera.jpg away from their faces, flipped, scaled, in a 2x2
mosaic). Each scene is 640x480 or 1280x720 (`--size`) with 8 faces; `--empty` further
face-less scenes count false positives on their own.

A hit is a detection whose centre lies in a true box and whose width is 0.5-2x the true
face's (upright) width, each truth matched once; every other detection is a false positive.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from ferkit.detect.spec import parse_detector
from ferkit.imageio import example_backgrounds

SIZE_BINS = ((10, 20), (20, 40), (40, 80), (80, 160))
ROLLS = (0, 15, 30, 45)
DEFAULT_DETECTORS = (
    "retinaface:max_side=none", "retinaface:max_side=640", "retinaface:max_side=480",
    "retinaface:max_side=320", "blazeface", "blazeface:tiles=false,max_side=720", "haar",
)


def rafdb_faces(root: Path, count: int, rng: np.random.Generator) -> list[np.ndarray]:
    files = sorted((root / "train").glob("*/*.jpg"))
    if not files:
        sys.exit(f"no RAF-DB faces under {root / 'train'}")
    picks = rng.choice(len(files), size=min(count, len(files)), replace=False)
    return [cv2.imread(str(files[i]), cv2.IMREAD_COLOR) for i in picks]


def background_patches() -> list[np.ndarray]:
    """Face-less regions of the shipped photos at least 64 px across."""
    return [patch for patch in example_backgrounds() if min(patch.shape[:2]) >= 64]


def background(patches: list[np.ndarray], size_wh: tuple[int, int], rng) -> np.ndarray:
    width, height = size_wh
    half_w, half_h = width // 2, height // 2
    canvas = np.zeros((height, width, 3), np.uint8)
    for y in (0, half_h):
        for x in (0, half_w):
            patch = patches[int(rng.integers(len(patches)))]
            if rng.random() < 0.5:
                patch = patch[:, ::-1]
            canvas[y:y + half_h, x:x + half_w] = cv2.resize(
                np.ascontiguousarray(patch), (half_w, half_h), interpolation=cv2.INTER_AREA)
    return canvas


def paste(canvas: np.ndarray, face: np.ndarray, width: int, roll: float, centre, rng):
    """Paste `face` scaled to `width` and rolled by `roll` degrees (counter-clockwise on
    screen) at `centre`; returns the true upright box."""
    gain, bias = rng.uniform(0.6, 1.3), rng.uniform(-30, 30)
    face = np.clip(face.astype(np.float32) * gain + bias, 0, 255)
    side = face.shape[0]
    mask = np.zeros((side, side), np.float32)
    edge = max(1, round(0.06 * side))
    mask[edge:-edge, edge:-edge] = 1
    mask = cv2.GaussianBlur(mask, (0, 0), edge / 2)
    k = width / side
    out = int(np.ceil(width * 1.5)) + 2
    matrix = cv2.getRotationMatrix2D((side / 2, side / 2), roll, k)
    matrix[:, 2] += out / 2 - side / 2
    interp = cv2.INTER_AREA if k < 1 else cv2.INTER_LINEAR
    warped = cv2.warpAffine(face, matrix, (out, out), flags=interp)
    alpha = cv2.warpAffine(mask, matrix, (out, out), flags=cv2.INTER_LINEAR)[..., None]
    x0, y0 = int(centre[0] - out / 2), int(centre[1] - out / 2)
    region = canvas[y0:y0 + out, x0:x0 + out].astype(np.float32)
    canvas[y0:y0 + out, x0:x0 + out] = (region * (1 - alpha) + warped * alpha).astype(np.uint8)
    corners = np.array([[0, 0, 1], [side, 0, 1], [0, side, 1], [side, side, 1]], np.float64)
    moved = corners @ matrix.T + (x0, y0)
    return (*moved.min(axis=0), *moved.max(axis=0))


def scenes(faces, patches, size_wh, count: int, per_scene: int, rng):
    """(frame, truth) pairs; truth rows: upright box, face width, roll."""
    width, height = size_wh
    out = []
    pool = iter(faces * (1 + count * per_scene // max(1, len(faces))))
    for k in range(count):
        frame = background(patches, size_wh, rng)
        taken: list[tuple[float, float, float]] = []
        truth = []
        for j in range(per_scene):
            lo, hi = SIZE_BINS[(k + j) % len(SIZE_BINS)]
            face_w = int(rng.integers(lo, hi))
            roll = ROLLS[(k * per_scene + j) % len(ROLLS)] * (1 if rng.random() < 0.5 else -1)
            reach = face_w * 0.75 + 2
            for _ in range(200):
                cx = rng.uniform(reach + 1, width - reach - 1)
                cy = rng.uniform(reach + 1, height - reach - 1)
                if all(abs(cx - x) > reach + r or abs(cy - y) > reach + r
                       for x, y, r in taken):
                    box = paste(frame, next(pool), face_w, roll, (cx, cy), rng)
                    taken.append((cx, cy, reach))
                    truth.append((box, face_w, abs(roll)))
                    break
        out.append((frame, truth))
    return out


def match(faces, truth) -> tuple[list[bool], int]:
    found = [False] * len(truth)
    extra = 0
    for face in faces:
        x1, y1, x2, y2 = face.box_xyxy
        cx, cy, w = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1
        for j, ((a, b, c, d), face_w, _) in enumerate(truth):
            if not found[j] and a <= cx <= c and b <= cy <= d and 0.5 <= w / face_w <= 2:
                found[j] = True
                break
        else:
            extra += 1
    return found, extra


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("detectors", nargs="*", default=list(DEFAULT_DETECTORS))
    parser.add_argument("--rafdb", type=Path, default=Path("../shared/datasets/rafdb"))
    parser.add_argument("--size", default="640x480", help="scene size WxH (default 640x480)")
    parser.add_argument("--scenes", type=int, default=40)
    parser.add_argument("--per-scene", type=int, default=8)
    parser.add_argument("--empty", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    size_wh = tuple(int(v) for v in args.size.lower().split("x"))
    rng = np.random.default_rng(args.seed)
    patches = background_patches()
    faces = rafdb_faces(args.rafdb, args.scenes * args.per_scene, rng)
    frames = scenes(faces, patches, size_wh, args.scenes, args.per_scene, rng)
    empties = [background(patches, size_wh, rng) for _ in range(args.empty)]
    total = sum(len(t) for _, t in frames)
    cores = len(os.sched_getaffinity(0))
    print(f"{args.size}: {len(frames)} scenes, {total} RAF-DB faces, {len(empties)} face-less "
          f"scenes; seed {args.seed}; {cores} cores\n")
    size_cols = [f"{lo}-{hi}px" if hi < 160 else f"{lo}+px" for lo, hi in SIZE_BINS]
    roll_cols = [f"roll {r}" for r in ROLLS]
    header = ("| detector | " + " | ".join(size_cols) + " | >=24px | " + " | ".join(roll_cols)
              + " | FP/scene | FP/empty | ms/scene |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for spec in args.detectors:
        detector = parse_detector(spec)
        by_size = {c: [0, 0] for c in size_cols}
        by_roll = {c: [0, 0] for c in roll_cols}
        big = [0, 0]
        extra, times = 0, []
        for frame, truth in frames:
            start = time.perf_counter()
            found_faces = detector.detect(frame)
            times.append((time.perf_counter() - start) * 1000)
            found, e = match(found_faces, truth)
            extra += e
            for (_, face_w, roll), hit in zip(truth, found, strict=True):
                col = next(c for c, (lo, hi) in zip(size_cols, SIZE_BINS, strict=True)
                           if lo <= face_w < hi)
                for cell in (by_size[col], by_roll[f"roll {roll}"]) + ((big,) if face_w >= 24
                                                                       else ()):
                    cell[0] += hit
                    cell[1] += 1
        empty_fp = sum(len(detector.detect(frame)) for frame in empties)
        cells = [f"{h / n:.0%} ({h}/{n})" for h, n in (*by_size.values(),)]
        rolls = [f"{h / n:.0%}" for h, n in by_roll.values()]
        print(f"| `{spec}` | " + " | ".join(cells) + f" | {big[0] / big[1]:.0%} | "
              + " | ".join(rolls) + f" | {extra / len(frames):.2f} | "
              f"{empty_fp / len(empties):.2f} | {statistics.median(times):.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
