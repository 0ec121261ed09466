"""End-to-end recognition speed (detect + align + classify) per frame; prints a Markdown table.

    python benchmarks/bench_pipeline.py --model src/ferkit/models/fernet.onnx
    python benchmarks/bench_pipeline.py --model m.onnx "blazeface:tiles=false" blazeface haar

Frames: the shipped photos (ferkit/assets) composed onto synthetic 640x480 and 1280x720
backgrounds with 1 face (96 px wide at 640x480, 144 px at 720p) or 5 faces (40-128 px /
60-192 px), as benchmarks/bench_detect.py builds them. Each cell is `Recognizer.analyze` on
one frame, each face read once as photos and video frames are (`--tta`: mirrored too):
median wall ms over the frames and repeats after warm-up, the frames per second
that gives, then the median CPU ms per frame (all threads of the process: steadier than wall
time on a busy machine). The "video file" column runs `ferkit.video.analyze_video` over a
720p mp4 written here (one face panning), so it adds decoding, tracking and smoothing.
"found" counts true faces found in the 5-face frames (centre inside the true box, width
0.5-2x).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_detect import backgrounds, compose, head_patch, match, sources  # noqa: E402

from ferkit.detect import DEFAULT_DETECTOR  # noqa: E402
from ferkit.detect.spec import VIDEO_DETECTOR  # noqa: E402
from ferkit.recognizer import Recognizer  # noqa: E402
from ferkit.video import AtomicVideoWriter, StreamOptions, analyze_video  # noqa: E402

SCENES = {  # name: (size_wh, face widths at that size)
    "640x480, 1 face": ((640, 480), (96,)),
    "640x480, 5 faces": ((640, 480), (40, 56, 72, 96, 128)),
    "1280x720, 1 face": ((1280, 720), (144,)),
    "1280x720, 5 faces": ((1280, 720), (60, 84, 108, 144, 192)),
}


def scene_frames(size_wh, widths, count: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    srcs, bgs = sources(), backgrounds(rng, size_wh)
    frames = []
    for k in range(count):
        patches = [head_patch(srcs[(k + j) % len(srcs)], rng, w) for j, w in enumerate(widths)]
        frames.append(compose(bgs[k % len(bgs)], patches, rng))
    return frames


def pan_video(path: Path, frames: int = 60, size_wh=(1280, 720), fps: float = 30.0) -> Path:
    """One face (about 150 px wide) drifting across a 720p textured background."""
    rng = np.random.default_rng(3)
    background = backgrounds(rng, size_wh)[2]
    patch, _ = head_patch(sources()[0], rng, 150)
    with AtomicVideoWriter(path, fps) as writer:
        for k in range(frames):
            frame = background.copy()
            x = 100 + 12 * k
            frame[200:200 + patch.shape[0], x:x + patch.shape[1]] = patch
            writer.write(frame)
    return path


def median_ms(fn, items, repeats: int) -> tuple[float, float]:
    """Median wall and CPU (all threads of this process) ms per call of `fn` over `items`."""
    for item in items[:2]:
        fn(item)
    wall, cpu = [], []
    for _ in range(repeats):
        for item in items:
            start, start_cpu = time.perf_counter(), time.process_time()
            fn(item)
            wall.append((time.perf_counter() - start) * 1000)
            cpu.append((time.process_time() - start_cpu) * 1000)
    return statistics.median(wall), statistics.median(cpu)


def video_fps(recognizer: Recognizer, path: Path) -> float:
    start = time.perf_counter()
    options = StreamOptions(smooth=0.5, redetect_every=1)  # the whole frame, every frame
    n = sum(1 for _ in analyze_video(path, options, recognizer=recognizer))
    return n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("detectors", nargs="*", default=[VIDEO_DETECTOR, DEFAULT_DETECTOR],
                        help="detector specs, name[:key=value,...]")
    parser.add_argument("--model", type=Path, default=None,
                        help="an exported .onnx (default: the shipped model)")
    parser.add_argument("--frames", type=int, default=6, help="distinct frames per scene")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--video-frames", type=int, default=60)
    parser.add_argument("--tta", action="store_true",
                        help="read each face mirrored too, as photos are (default: once)")
    args = parser.parse_args(argv)

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    scenes = {name: scene_frames(size, widths, args.frames) for name, (size, widths)
              in SCENES.items()}
    print(f"{cores} cores, {platform.processor() or platform.machine()}, python "
          f"{sys.version.split()[0]}; {args.frames} frames x {args.repeats} repeats per cell: "
          f"median wall ms per frame (frames/s) / median CPU ms per frame, all threads\n")
    header = "| detector | " + " | ".join(SCENES) + " | found (5 faces) | video file 720p |"
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    with tempfile.TemporaryDirectory() as tmp:
        video = pan_video(Path(tmp) / "pan720.mp4", args.video_frames)
        for spec in args.detectors:
            recognizer = Recognizer(args.model, detector=spec)
            cells, hits, total = [], 0, 0
            for name, frames in scenes.items():
                ms, cpu_ms = median_ms(lambda ft, r=recognizer: r.analyze(ft[0], tta=args.tta),
                                       frames, args.repeats)
                cells.append(f"{ms:.0f} ({1000 / ms:.1f}) / {cpu_ms:.0f}")
                if "5 faces" in name:
                    for frame, truth in frames:
                        hits += sum(match(recognizer.analyze(frame, tta=args.tta), truth)[0])
                        total += len(truth)
            fps = video_fps(recognizer, video)
            print(f"| {spec} | " + " | ".join(cells) + f" | {hits}/{total} | {fps:.1f} fps |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
