"""`ferkit video`: every face in every frame of a video, tracked, as rows; annotated copy, plot."""

from __future__ import annotations

import argparse
import sys
from contextlib import nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

from ferkit.commands import finite_float, threads_count
from ferkit.commands.image import add_common_options
from ferkit.detect.spec import REDETECT_EVERY, VIDEO_DETECTOR

if TYPE_CHECKING:
    from ferkit.video.pipeline import StreamOptions


def add_stream_options(p: argparse.ArgumentParser, *, row_formats: bool = True) -> None:
    """Options `ferkit video`, `webcam` and `batch` share (beyond add_common_options)."""
    add_common_options(p, row_formats=row_formats)
    for action in p._actions:  # same option, a different default for streams
        if action.dest == "detector":
            action.default = VIDEO_DETECTOR
            action.help = (f"name[:key=value,...] (default: {VIDEO_DETECTOR}; 'retinaface' "
                           "searches full frames, 'blazeface' tiles for small faces, 'haar')")
    p.add_argument("--every", type=int, default=1, metavar="N",
                   help="analyse every N-th frame (default: 1, all)")
    p.add_argument("--smooth", type=finite_float, default=1.0, metavar="ALPHA",
                   help="smooth each face's probabilities over frames: weight of the newest "
                        "frame in (0, 1]; 1 = off (default), 0.3 = strong")
    p.add_argument("--redetect-every", type=int, default=REDETECT_EVERY, metavar="K",
                   help="search the whole frame every K-th analysed frame and only near known "
                        f"faces in between: faster, new faces show up to K-1 frames late "
                        f"(default: {REDETECT_EVERY}; 1 = whole frame every time)")
    p.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                   help="also classify each face mirrored and average the two (default: "
                        "no; photos as ferkit.recognizer.PHOTO_TTA says)")
    p.add_argument("--threads", type=threads_count, default=None,
                   help="ONNX Runtime threads per model")


def stream_options(args: argparse.Namespace) -> StreamOptions:
    """The StreamOptions the shared command-line options describe (validated there)."""
    from ferkit.video.pipeline import StreamOptions

    return StreamOptions(label_set=args.label_set, detector=args.detector, every=args.every,
                         smooth=args.smooth, tta=args.tta, redetect_every=args.redetect_every,
                         model=args.model,
                         threads=args.threads)


def progress(total: int | None, enabled: bool, desc: str):
    from tqdm import tqdm

    return tqdm(total=total or None, unit="frame", desc=desc, file=sys.stderr,
                disable=not enabled, dynamic_ncols=True, leave=False)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("video", help="faces and expressions in every frame of a video",
                       description=__doc__)
    p.add_argument("path", type=Path, metavar="PATH", help="a video file (anything OpenCV reads)")
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="write the rows to FILE (atomically) instead of stdout; CSV if it "
                        "ends in .csv, else JSON lines")
    p.add_argument("--annotate", type=Path, metavar="OUT.mp4",
                   help="write a copy of the video with boxes, track ids and labels drawn "
                        "(.mp4, .m4v, .mov, .mkv or .avi; H.264, or mp4v without the video "
                        "extra; with --every N, the analysed frames at 1/N the frame rate)")
    p.add_argument("--plot", type=Path, metavar="OUT.png",
                   help="draw each tracked face's emotions over time (.png, .pdf, .svg "
                        "or .jpg)")
    p.add_argument("--episodes", type=Path, metavar="DIR",
                   help="write each face's emotion episodes into DIR: ELAN .eaf, Praat "
                        ".TextGrid, BORIS events (.tsv, .xlsx), a per-frame table and an "
                        "HTML report")
    p.add_argument("--overwrite", action="store_true",
                   help="replace output files that already exist (never the input video)")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar on stderr")
    add_stream_options(p)
    from ferkit.commands.report import add_episode_options

    add_episode_options(p)  # used with --episodes
    p.set_defaults(run=run, format=None)  # None: by --out's suffix (row_format)


def _check_episode_options(args: argparse.Namespace) -> None:
    """Bad episode options are refused with or without --episodes; given without it (where
    nothing reads them), they are refused too, rather than ignored."""
    from ferkit.commands.report import episode_options
    from ferkit.episodes import EpisodeOptions
    from ferkit.errors import FerkitError

    given = episode_options(args)  # out of range: a one-line error
    if args.episodes is None and given != EpisodeOptions():
        raise FerkitError("--min-episode, --margin and --uncertain-below cut the episodes of "
                          "--episodes DIR; add it, or leave them out")


#: Row formats a file name's ending implies.
_SUFFIX_FORMATS = {".csv": "csv", ".json": "json", ".jsonl": "json", ".ndjson": "json"}


def row_format(chosen: str | None, out: Path | None) -> str:
    """The row format: --csv/--json if `chosen`, else what `out`'s ending says (JSON lines
    when it says nothing); FerkitError where the two disagree (a .csv of JSON lines)."""
    from ferkit.errors import FerkitError

    implied = _SUFFIX_FORMATS.get(out.suffix.lower()) if out is not None else None
    if chosen is not None and implied is not None and chosen != implied:
        raise FerkitError(f"--out {out}: its ending says {implied.upper()}, but --{chosen} "
                          "was given; change one")
    return chosen or implied or "json"


def run(args: argparse.Namespace) -> int:
    from ferkit.annotate import draw, plot_timeline
    from ferkit.coding import coding_output_paths
    from ferkit.labels import label_names
    from ferkit.outputs import (
        atomic_text,
        check_outputs,
        figure_format,
        new_figure,
        write_figure,
    )
    from ferkit.rows import RowWriter, columns, frame_rows
    from ferkit.video import AtomicVideoWriter, analyze_video, probe_video, quiet_ffmpeg

    options = stream_options(args)
    row_fmt = row_format(args.format, args.out)
    _check_episode_options(args)
    if args.plot is not None:
        new_figure("--plot")  # say which extra is missing before the video is analysed
    quiet_ffmpeg()
    names = label_names(options.label_set)
    source: Path = args.path
    episode_files = ([] if args.episodes is None or args.episodes.is_file() else
                     coding_output_paths(args.episodes, source).values())
    check_outputs([args.out, args.annotate, args.plot, *episode_files], inputs=[source],
                  overwrite=args.overwrite)
    if args.plot is not None:
        figure_format(args.plot)  # an ending it cannot write, before the analysis
    info = probe_video(source)  # a bad file fails here, before the model loads
    from ferkit.commands.report import EpisodeHook

    coding = EpisodeHook(args, info, options) if args.episodes is not None else None
    protect = [source]
    annotated = (AtomicVideoWriter(args.annotate, info.fps / options.every, protect=protect)
                 if args.annotate is not None else None)  # a bad file name fails here
    recognizer = options.recognizer()
    points: list[tuple[float, int, dict[str, float]]] = []
    total = info.analysed_frames(options.every)
    frames = faces = 0
    track_ids: set[int] = set()
    try:
        with (atomic_text(args.out, protect=protect) if args.out else nullcontext(sys.stdout)) \
                as stream, progress(total, args.progress, source.name) as bar:
            writer = RowWriter(stream, row_fmt, columns(names))
            for result in analyze_video(source, options, recognizer=recognizer):
                writer.write_all(frame_rows(result, names))
                if annotated is not None:
                    annotated.write(draw(result.frame_bgr, result.faces))
                if coding is not None:
                    coding.add(result)
                if args.plot is not None:
                    points.extend((result.time_s, f.track_id, f.scores) for f in result.faces)
                frames += 1
                faces += len(result.faces)
                track_ids.update(f.track_id for f in result.faces)
                bar.update(1)
        if annotated is not None:
            annotated.close()
    except BaseException:
        if annotated is not None:
            annotated.abort()
        raise
    if args.plot is not None:
        write_figure(args.plot, plot_timeline(points, names, title=source.name), dpi=100)
    if coding is not None:
        coding.write(source, recognizer)
    tracks = len(track_ids)
    print(f"ferkit: {frames} frames analysed, {faces} faces in {tracks} "
          f"track{'' if tracks == 1 else 's'}", file=sys.stderr)
    return 0
