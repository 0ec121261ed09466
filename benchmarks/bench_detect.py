"""Face detector speed and hit rates on composed multi-face frames; prints a Markdown table.

    python benchmarks/bench_detect.py                       # default detectors
    python benchmarks/bench_detect.py blazeface "blazeface:min_face_px=40" haar:scale_factor=1.2

Frames: copies of the two shipped photos (ferkit/assets: one frontal face, one face turned to
the side, plus the frontal one mirrored), rolled up to 20 degrees, dimmed or brightened, cut to
head and shoulders, at face widths from 24 to 128 px on 640x480 backgrounds. Backgrounds are
synthetic textures, plus scikit-image's face-less sample photos when scikit-image is installed.
A hit is a detection whose centre lies in the true box and whose width is 0.5-2x the true
width; every other detection counts as extra. Timings: median ms per frame after warm-up.
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

from ferkit.detect import create_detector
from ferkit.imageio import example_path, load_image

#: Face boxes (x1, y1, x2, y2) in the shipped 512x512 photos, drawn by hand.
TRUTH = {"astronaut": (173, 70, 278, 176), "camera": (185, 110, 262, 205)}
SIZES = (24, 28, 32, 40, 48, 64, 96, 128)
SKIMAGE_FACELESS = (
    "coffee.png", "motorcycle_left.png", "rocket.jpg", "chelsea.png", "grass.png", "brick.png",
    "gravel.png", "hubble_deep_field.jpg", "moon.png", "retina.jpg", "page.png", "text.png",
    "coins.png", "horse.png", "color.png", "ihc.png", "logo.png", "cell.png",
    "motorcycle_right.png", "clock_motion.png",
)


def sources() -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for name, box in TRUTH.items():
        image = load_image(example_path(name))
        out.append((image, np.array(box, float)))
        if name == "astronaut":
            flipped = np.array([512 - box[2], box[1], 512 - box[0], box[3]], float)
            out.append((np.ascontiguousarray(image[:, ::-1]), flipped))
    return out


def backgrounds(rng: np.random.Generator, size_wh=(640, 480)) -> list[np.ndarray]:
    width, height = size_wh
    out = []
    for k in range(8):
        # Smooth colour noise at several scales: texture without anything face-like in it.
        small = rng.integers(0, 256, (3 + 4 * k, 4 + 5 * k, 3), dtype=np.uint8)
        noise = cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)
        out.append(cv2.GaussianBlur(noise, (0, 0), 1 + k % 3))
    try:
        import skimage

        data = Path(skimage.__file__).parent / "data"
        for name in SKIMAGE_FACELESS:
            image = cv2.imread(str(data / name), cv2.IMREAD_COLOR)
            if image is not None:
                out.append(cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA))
    except ImportError:
        pass
    return out


def head_patch(src, rng, face_w: int):
    """A head-and-shoulders patch with the face `face_w` px wide, and the face box in it."""
    image, box = src
    centre = ((box[0] + box[2]) / 2, (box[1] + box[3]) / 2)
    matrix = cv2.getRotationMatrix2D(centre, float(rng.uniform(-20, 20)), 1.0)
    image = cv2.warpAffine(image, matrix, image.shape[1::-1], borderMode=cv2.BORDER_REFLECT)
    gain, bias = rng.uniform(0.6, 1.3), rng.uniform(-30, 30)
    image = np.clip(image.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8)
    scale = face_w / (box[2] - box[0])
    image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    box = box * scale
    cx, cy, reach = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2, 1.3 * face_w
    x0, y0 = int(max(cx - reach, 0)), int(max(cy - reach, 0))
    x1 = int(min(cx + reach, image.shape[1]))
    y1 = int(min(cy + 1.3 * reach, image.shape[0]))
    return image[y0:y1, x0:x1], box - (x0, y0, x0, y0)


def compose(background, patches, rng):
    """Paste patches without overlap; returns the frame and the true boxes placed."""
    frame = background.copy()
    height, width = frame.shape[:2]
    placed, truth = [], []
    for patch, box in patches:
        ph, pw = patch.shape[:2]
        for _ in range(100):
            x, y = int(rng.integers(0, width - pw)), int(rng.integers(0, height - ph))
            if all(x + pw < a or c < x or y + ph < b or d < y for a, b, c, d in placed):
                frame[y:y + ph, x:x + pw] = patch
                placed.append((x, y, x + pw, y + ph))
                truth.append(box + (x, y, x, y))
                break
    return frame, truth


def multi_face_frames(count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    srcs, bgs = sources(), backgrounds(rng)
    frames = []
    for k in range(count):
        sizes = [SIZES[(k + j) % len(SIZES)] for j in range(0, len(SIZES), 2)]
        patches = [head_patch(srcs[int(rng.integers(len(srcs)))], rng, s) for s in sizes]
        frame, truth = compose(bgs[k % len(bgs)], patches, rng)
        frames.append((frame, truth))
    return frames, bgs


def match(faces, truth):
    found = [False] * len(truth)
    extra = 0
    for face in faces:
        x1, y1, x2, y2 = face.box_xyxy
        cx, cy, w = (x1 + x2) / 2, (y1 + y2) / 2, x2 - x1
        for j, (a, b, c, d) in enumerate(truth):
            if not found[j] and a <= cx <= c and b <= cy <= d and 0.5 <= w / (c - a) <= 2:
                found[j] = True
                break
        else:
            extra += 1
    return found, extra


def time_ms(detector, frame, repeats: int) -> float:
    for _ in range(3):
        detector.detect(frame)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        detector.detect(frame)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def parse_spec(spec: str):
    name, _, rest = spec.partition(":")
    options = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        for cast in (int, float):
            try:
                value = cast(value)
                break
            except ValueError:
                continue
        else:
            value = {"true": True, "false": False, "none": None}.get(value.lower(), value)
        options[key] = value
    return name, options


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("detectors", nargs="*",
                        default=["blazeface", "blazeface:tiles=false",
                                 "blazeface:min_face_px=none", "haar"])
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)

    frames, bgs = multi_face_frames(args.frames)
    rng = np.random.default_rng(1)
    one = compose(bgs[0], [head_patch(sources()[0], rng, 96)], rng)[0]
    one_hd = cv2.resize(one, (1280, 720), interpolation=cv2.INTER_LINEAR)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"{len(frames)} frames, {sum(len(t) for _, t in frames)} faces, "
          f"{len(bgs)} face-less backgrounds; {cores} cores; python {sys.version.split()[0]}\n")
    header = ("| detector | ms 640x480 | ms 1280x720 | found | "
              + " | ".join(f"{s}px" for s in SIZES) + " | extra | false pos. on empty |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for spec in args.detectors:
        name, options = parse_spec(spec)
        detector = create_detector(name, **options)
        per_size = {s: [0, 0] for s in SIZES}
        extra = 0
        for frame, truth in frames:
            found, e = match(detector.detect(frame), truth)
            extra += e
            for box, hit in zip(truth, found, strict=True):
                size = min(SIZES, key=lambda s: abs(s - (box[2] - box[0])))
                per_size[size][0] += hit
                per_size[size][1] += 1
        empty = sum(len(detector.detect(bg)) for bg in bgs)
        hits = sum(v[0] for v in per_size.values())
        total = sum(v[1] for v in per_size.values())
        cells = " | ".join(f"{h}/{n}" for h, n in per_size.values())
        print(f"| {spec} | {time_ms(detector, one, args.repeats):.1f} | "
              f"{time_ms(detector, one_hd, args.repeats):.1f} | {hits}/{total} | {cells} | "
              f"{extra} | {empty}/{len(bgs)} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
