"""RetinaFace's input preparation, A/B: `cv2.dnn.blobFromImages` against `network_batch`.

    python benchmarks/bench_detect_input.py                  # 640x480 and 1280x720
    python benchmarks/bench_detect_input.py --rounds 200 --sizes 640x480

Times, per frame, the two ways of building the network's float32 batch (A: pad with the mean
colour and `cv2.dnn.blobFromImages`, what the detector did before; B: `network_batch`, what
it does now), and a whole `RetinaFaceDetector.detect` for scale. Both ways are first checked
to give identical arrays. The ways take turns in a random order each round, so drift on a
shared machine hits both alike; prints median wall and CPU milliseconds (CPU: all threads of
this process) as a Markdown table.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import cv2
import numpy as np

from ferkit.detect.retinaface import _MEAN_BGR, RetinaFaceDetector, network_batch


def blob_batch(images: list[np.ndarray]) -> np.ndarray:
    """The batch as the detector built it before `network_batch`: mean-colour padding up to a
    multiple of 32, then `cv2.dnn.blobFromImages` subtracting the means."""
    height, width = images[0].shape[:2]
    ph, pw = -(-height // 32) * 32, -(-width // 32) * 32
    mean = tuple(float(v) for v in _MEAN_BGR)
    padded = [cv2.copyMakeBorder(im, 0, ph - height, 0, pw - width, cv2.BORDER_CONSTANT,
                                 value=mean) for im in images]
    return cv2.dnn.blobFromImages(padded, 1.0, (pw, ph), mean, swapRB=False, crop=False)


def frame(width: int, height: int, seed: int = 0) -> np.ndarray:
    """A textured BGR frame: what the preparation costs does not depend on content."""
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 256, (height // 8, width // 8, 3), dtype=np.uint8)
    return cv2.resize(small, (width, height), interpolation=cv2.INTER_CUBIC)


def time_rounds(ways: dict, rounds: int, seed: int = 0) -> dict[str, tuple[float, float]]:
    """Median (wall ms, CPU ms) of each callable, the callables taking turns in random order."""
    order = list(ways)
    wall: dict[str, list[float]] = {k: [] for k in ways}
    cpu: dict[str, list[float]] = {k: [] for k in ways}
    shuffle = random.Random(seed).shuffle
    for fn in ways.values():
        fn()
    for _ in range(rounds):
        shuffle(order)
        for key in order:
            c0, t0 = time.process_time(), time.perf_counter()
            ways[key]()
            wall[key].append((time.perf_counter() - t0) * 1000)
            cpu[key].append((time.process_time() - c0) * 1000)
    return {k: (statistics.median(wall[k]), statistics.median(cpu[k])) for k in ways}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["640x480", "1280x720"])
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args(argv)

    detector = RetinaFaceDetector()
    print("| frame | A: blobFromImages, ms (CPU) | B: network_batch, ms (CPU) | B/A wall "
          "| whole `detect`, ms (CPU) |")
    print("|---|---:|---:|---:|---:|")
    for size in args.sizes:
        width, height = (int(v) for v in size.lower().split("x"))
        image = frame(width, height)
        if not np.array_equal(blob_batch([image]), network_batch([image])):
            raise SystemExit(f"the two batches differ at {size}: fix before timing")
        result = time_rounds({"a": lambda im=image: blob_batch([im]),
                              "b": lambda im=image: network_batch([im]),
                              "detect": lambda im=image: detector.detect(im)}, args.rounds)
        (aw, ac), (bw, bc), (dw, dc) = result["a"], result["b"], result["detect"]
        print(f"| {width}x{height} | {aw:.2f} ({ac:.2f}) | {bw:.2f} ({bc:.2f}) | {bw / aw:.2f} "
              f"| {dw:.1f} ({dc:.1f}) |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
