"""`ferkit webcam`: live expressions from a camera (or a video file), one row per face."""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from pathlib import Path

from ferkit.commands.video import add_stream_options, stream_options


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "webcam", help="live expressions from a camera, one JSON line per face",
        description=__doc__ + " The rows `ferkit video` writes, each written as its frame is "
        "analysed: JSON lines (default) or --csv. Stop with Ctrl-C (a --record file is kept "
        "up to that point).")
    p.add_argument("--camera", default="0", metavar="N|PATH",
                   help="camera index (default: 0) or a video file to replay")
    p.add_argument("--frames", type=int, default=None, metavar="N",
                   help="stop after N analysed frames (default: run until Ctrl-C)")
    p.add_argument("--record", type=Path, metavar="OUT.mp4",
                   help="also record the annotated stream to OUT.mp4")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an OUT.mp4 that already exists (never the replayed video)")
    add_stream_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ferkit.annotate import draw
    from ferkit.errors import FerkitError
    from ferkit.labels import label_names
    from ferkit.outputs import check_outputs
    from ferkit.rows import RowWriter, columns, frame_rows
    from ferkit.video import AtomicVideoWriter, analyze_video, probe_video, quiet_ffmpeg
    from ferkit.video.io import describe_source

    options = stream_options(args)
    if args.frames is not None and args.frames < 1:
        raise FerkitError(f"--frames must be 1 or more, got {args.frames}")
    quiet_ffmpeg()
    names = label_names(options.label_set)
    target, _, is_camera = describe_source(args.camera)
    protect = [] if is_camera else [Path(target)]
    check_outputs([args.record], inputs=protect, overwrite=args.overwrite)
    info = probe_video(args.camera)  # "no camera at index 0" before the model loads
    fps = info.fps / options.every if info.fps else 15.0
    recorder = AtomicVideoWriter(args.record, fps, protect=protect) if args.record else None
    recognizer = options.recognizer()
    writer = RowWriter(sys.stdout, args.format, columns(names))
    try:
        # The writer's exit keeps the recording up to the last frame on Ctrl-C and drops it
        # on any other error.
        with recorder or nullcontext():
            for result in analyze_video(args.camera, options, recognizer=recognizer,
                                        max_frames=args.frames):
                writer.write_all(frame_rows(result, names))
                if recorder is not None:
                    recorder.write(draw(result.frame_bgr, result.faces))
    except KeyboardInterrupt:
        pass  # the usual way to stop a live stream
    return 0
