"""`ferkit batch`: many photos and videos (files, folders, manifests) into Parquet, resumably."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ferkit.commands.report import add_episode_options, episode_options
from ferkit.commands.video import add_stream_options
from ferkit.detect.spec import STREAM_PHOTO_DETECTOR, VIDEO_DETECTOR
from ferkit.errors import FerkitError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "batch", help="analyse many photos and videos into Parquet, on all cores or Ray",
        description=__doc__ + " Writes DIR/faces/*.parquet (one file per input, one row per "
        "face per analysed frame), DIR/episodes/*.parquet (each face's emotion episodes, "
        "cut as ferkit video --episodes cuts them), DIR/summary.parquet, "
        "DIR/faces_summary.parquet (each face's share of time per emotion), "
        "DIR/failures.parquet and DIR/report.json. Rerun the same command to resume: "
        "finished inputs are skipped.")
    p.add_argument("inputs", nargs="+", type=Path, metavar="INPUT",
                   help="image or video files, folders (searched recursively) or .txt "
                        "manifests listing one path per line")
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    p.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: a process pool on this machine (default); ray: Ray actors")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker processes or Ray actors, one model each (default: one per CPU "
                        "of this machine, or of the Ray cluster)")
    p.add_argument("--ray-address", default=None, metavar="ADDR",
                   help="join this Ray cluster (host:port, ray://host:port or auto) instead "
                        "of starting a local one; RAY_ADDRESS is used when set")
    p.add_argument("--chunk-frames", type=int, default=None, metavar="N",
                   help="split videos into jobs of N analysed frames so a long video uses "
                        "many workers (default: 300, rounded up to a multiple of "
                        "--redetect-every; 0: never split); results do not change")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bars on stderr")
    add_stream_options(p, row_formats=False)
    add_episode_options(p)
    for action in p._actions:
        if action.dest == "threads":
            action.help = "ONNX Runtime threads per worker (default: 1; workers fill the cores)"
        if action.dest == "detector":  # None: photos and videos each get their own default
            action.default = None
            action.help = (f"name[:key=value,...] for every input (default: photos "
                           f"{STREAM_PHOTO_DETECTOR}, as `ferkit image` searches them; videos "
                           f"{VIDEO_DETECTOR})")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ferkit.batch import BatchSettings, run_batch
    from ferkit.batch.plan import DEFAULT_CHUNK_FRAMES

    if args.workers is not None and args.workers < 1:
        raise FerkitError(f"--workers must be 1 or more, got {args.workers}")
    if args.ray_address and args.engine != "ray":
        raise FerkitError("--ray-address needs --engine ray")
    settings = BatchSettings(
        label_set=args.label_set, detector=args.detector,
        model=None if args.model is None else str(args.model.absolute()),
        every=args.every, smooth=args.smooth, tta=args.tta, redetect_every=args.redetect_every,
        threads=args.threads or 1, episodes=episode_options(args))  # workers fill the cores
    if args.engine == "ray":
        from ferkit.batch.ray_engine import RayEngine, import_ray

        import_ray()  # say "pip install ferkit[scale]" before any work
        engine = RayEngine(settings, args.workers, args.ray_address)
    else:
        from ferkit.batch.local import LocalEngine

        engine = LocalEngine(settings, args.workers)
    chunk = DEFAULT_CHUNK_FRAMES if args.chunk_frames is None else args.chunk_frames
    outcome = run_batch(args.inputs, args.out, settings, engine, chunk_frames=chunk,
                        progress=args.progress)
    report = outcome.report
    counts, speed = report["inputs"], report["throughput"]
    rate = f" ({speed['frames_per_s']:.1f} frames/s)" if speed["frames_per_s"] else ""
    print(f"ferkit: {counts['total']} inputs: {counts['done']} analysed, {counts['skipped']} "
          f"already done, {counts['failed']} failed; {report['frames']} frames, "
          f"{report['faces']} faces in {report['analysis_s']:.1f} s{rate}; "
          f"report: {outcome.report_path}", file=sys.stderr)
    for failure in report["failures"][:10]:
        print(f"ferkit: failed: {failure['input']}: {failure['error']}", file=sys.stderr)
    return 1 if counts["failed"] else 0
