"""`ferkit batch` throughput, local vs Ray engine at 1 and 2 workers; prints a Markdown table.

    python benchmarks/bench_batch.py                          # 2 videos, 20 s each, --every 6
    python benchmarks/bench_batch.py --videos 4 --seconds 30 --workers 1 2 4 --engines local

Workload: `--videos` 1280x720 mp4v videos at `--fps` (default 30) of `--seconds` each, made
here from the shipped photos: two faces (150 and 110 px wide) drifting over a textured
background. Every run analyses every `--every`-th frame (default 6: 5 frames/s of a 30 fps
source, so each analysed frame also pays for decoding the 5 frames skipped before it) with
the video defaults (`blazeface:tiles=false`, shipped model, one ONNX Runtime thread per
worker), videos split into jobs of `--chunk-frames` analysed frames. Each configuration
writes into a fresh folder. "start s" is the engine's start (process pool spawn or Ray start
plus one actor per worker loading its model); frames/s and faces/s count analysed frames and
face rows over the analysis time after that start, as report.json records them; "worker CPU
ms/frame" is the CPU time of the worker processes (all their threads: decoding included) per
analysed frame, the figure that sizes a cluster. The last row, for reference, is
`analyze_video` in this process with ONNX Runtime's default threads and --redetect-every 5.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_detect import backgrounds, head_patch, sources  # noqa: E402

from ferkit.batch import BatchSettings, run_batch  # noqa: E402
from ferkit.batch.local import LocalEngine  # noqa: E402
from ferkit.detect.spec import VIDEO_DETECTOR  # noqa: E402
from ferkit.video import AtomicVideoWriter, StreamOptions, analyze_video  # noqa: E402


def make_video(path: Path, frames: int, fps: float, seed: int, size_wh=(1280, 720)) -> Path:
    """Two faces drifting in opposite directions across a 720p textured background."""
    rng = np.random.default_rng(seed)
    background = backgrounds(rng, size_wh)[seed % 8]
    srcs = sources()
    patches = [head_patch(srcs[seed % len(srcs)], rng, 150)[0],
               head_patch(srcs[(seed + 1) % len(srcs)], rng, 110)[0]]
    width = size_wh[0]
    with AtomicVideoWriter(path, fps) as writer:
        for k in range(frames):
            frame = background.copy()
            for j, patch in enumerate(patches):
                h, w = patch.shape[:2]
                span = width - w - 40
                x = 20 + ((3 + j) * k * (1 if j == 0 else -1)) % span  # wraps around
                y = 120 + 260 * j
                frame[y:y + h, x:x + w] = patch[: size_wh[1] - y]
            writer.write(frame)
    return path


def engine_for(name: str, settings: BatchSettings, workers: int):
    if name == "ray":
        from ferkit.batch.ray_engine import RayEngine

        return RayEngine(settings, workers)
    return LocalEngine(settings, workers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--fps", type=float, default=30.0)
    parser.add_argument("--every", type=int, default=6)
    parser.add_argument("--chunk-frames", type=int, default=25)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--engines", nargs="+", default=["local", "ray"],
                        choices=["local", "ray"])
    parser.add_argument("--model", type=Path, default=None)
    args = parser.parse_args(argv)

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    frames = int(args.seconds * args.fps)
    settings = BatchSettings(model=None if args.model is None else str(args.model.absolute()),
                             every=args.every)
    print(f"{cores} cores, {platform.processor() or platform.machine()}, python "
          f"{sys.version.split()[0]}; {args.videos} videos x {frames} frames 1280x720 at "
          f"{args.fps:g} fps, every {args.every}th analysed, chunks of {args.chunk_frames}\n")
    print("| engine | workers | start s | analysis s | frames/s | faces/s | frames/s per worker "
          "| worker CPU ms/frame |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        videos = [make_video(root / "in" / f"clip{k}.mp4", frames, args.fps, k)
                  for k in range(args.videos)]
        for engine_name in args.engines:
            for workers in args.workers:
                out = root / f"out-{engine_name}-{workers}"
                outcome = run_batch([root / "in"], out, settings,
                                    engine_for(engine_name, settings, workers),
                                    chunk_frames=args.chunk_frames, progress=False)
                r = outcome.report
                if r["inputs"]["failed"]:
                    raise SystemExit(f"failures: {r['failures']}")
                fps = r["throughput"]["frames_per_s"]
                cpu_ms = 1000 * r["throughput"]["worker_cpu_s_per_frame"]
                print(f"| {engine_name} | {workers} | {r['engine_start_s']:.1f} | "
                      f"{r['analysis_s']:.1f} | {fps:.1f} | {r['throughput']['faces_per_s']:.1f} "
                      f"| {fps / workers:.1f} | {cpu_ms:.0f} |", flush=True)
        options = StreamOptions(detector=VIDEO_DETECTOR, every=args.every, model=settings.model,
                                redetect_every=settings.redetect_every)
        recognizer = options.recognizer()
        began, count, faces = time.perf_counter(), 0, 0
        for video in videos:
            for result in analyze_video(video, options, recognizer=recognizer):
                count += 1
                faces += len(result.faces)
        elapsed = time.perf_counter() - began
        print(f"| analyze_video, 1 process | ORT default | - | {elapsed:.1f} | "
              f"{count / elapsed:.1f} | {faces / elapsed:.1f} | - | - |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
