"""`ferkit video`: every face in every frame of a video, tracked, as rows; annotated copy, plot."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from ferkit.commands.image import add_common_options
from ferkit.detect.spec import REDETECT_EVERY, VIDEO_DETECTOR, parse_detector
from ferkit.errors import FerkitError


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
    p.add_argument("--smooth", type=float, default=1.0, metavar="ALPHA",
                   help="smooth each face's probabilities over frames: weight of the newest "
                        "frame in (0, 1]; 1 = off (default), 0.3 = strong")
    p.add_argument("--redetect-every", type=int, default=REDETECT_EVERY, metavar="K",
                   help="search the whole frame every K-th analysed frame and only near known "
                        f"faces in between: faster, new faces show up to K-1 frames late "
                        f"(default: {REDETECT_EVERY}; 1 = whole frame every time)")
    p.add_argument("--tta", action="store_true", help="average with the mirrored face")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads per model")


def make_recognizer(args: argparse.Namespace):
    from ferkit.recognizer import Recognizer

    if args.every < 1:
        raise FerkitError(f"--every must be 1 or more, got {args.every}")
    if args.redetect_every < 1:
        raise FerkitError(f"--redetect-every must be 1 or more, got {args.redetect_every}")
    if not 0 < args.smooth <= 1:
        raise FerkitError(f"--smooth must be in (0, 1] (1 = off), got {args.smooth}")
    return Recognizer(args.model, detector=parse_detector(args.detector), threads=args.threads)


def frame_rows(result, names) -> list[dict[str, Any]]:
    """One flat row per face of a FrameResult: frame, time_s, track_id, box, score, emotions."""
    from ferkit.faces import faces_to_records

    rows = []
    for record in faces_to_records(result.faces, names):
        track_id = record.pop("track_id", None)
        rows.append({"frame": result.index, "time_s": round(result.time_s, 4),
                     "track_id": track_id, **record})
    return rows


@contextmanager
def output_stream(path: Path | None, protect: list[Path]) -> Iterator[TextIO]:
    """stdout, or a temporary file beside `path` renamed over it only when all went well."""
    if path is None:
        yield sys.stdout
        return
    for p in protect:
        if p.exists() and path.exists() and path.resolve() == p.resolve():
            raise FerkitError(f"{path}: refusing to overwrite an input file")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise FerkitError(f"{path}: cannot write ({exc.strerror or exc})") from None
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide the result from other users
    ok = False
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as fh:
            yield fh
        ok = True
    finally:
        if ok:
            os.replace(tmp, path)
        else:
            Path(tmp).unlink(missing_ok=True)


def progress(total: int | None, enabled: bool, desc: str):
    from tqdm import tqdm

    return tqdm(total=total or None, unit="frame", desc=desc, file=sys.stderr,
                disable=not enabled, dynamic_ncols=True, leave=False)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("video", help="faces and expressions in every frame of a video",
                       description=__doc__)
    p.add_argument("path", type=Path, metavar="PATH", help="a video file (anything OpenCV reads)")
    p.add_argument("--out", type=Path, metavar="FILE",
                   help="write the rows to FILE (atomically) instead of stdout")
    p.add_argument("--annotate", type=Path, metavar="OUT.mp4",
                   help="write a copy of the video with boxes, track ids and labels drawn "
                        "(mp4v; with --every N, the analysed frames at 1/N the frame rate)")
    p.add_argument("--plot", type=Path, metavar="OUT.png",
                   help="draw each tracked face's emotions over time")
    p.add_argument("--episodes", type=Path, metavar="DIR",
                   help="write each face's emotion episodes into DIR: ELAN .eaf, Praat "
                        ".TextGrid, BORIS events (.tsv, .xlsx), a per-frame table and an "
                        "HTML report")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar on stderr")
    add_stream_options(p)
    from ferkit.commands.report import add_episode_options

    add_episode_options(p)  # used with --episodes
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ferkit.annotate import draw
    from ferkit.labels import label_names
    from ferkit.outputs import RowWriter, atomic_write_bytes
    from ferkit.video import (
        AtomicVideoWriter,
        analyze_video,
        plot_timeline,
        probe_video,
        quiet_ffmpeg,
    )

    quiet_ffmpeg()
    names = label_names(args.label_set)
    source: Path = args.path
    info = probe_video(source)  # a bad file fails here, before the model loads
    from ferkit.commands.report import EpisodeHook

    coding = EpisodeHook(args, info) if args.episodes is not None else None
    recognizer = make_recognizer(args)
    protect = [source]
    for out in (args.out, args.annotate, args.plot):
        if out is not None and source.exists() and out.exists() and \
                out.resolve() == source.resolve():
            raise FerkitError(f"{out}: refusing to overwrite the input video")
    annotated = (AtomicVideoWriter(args.annotate, info.fps / args.every, protect=protect)
                 if args.annotate is not None else None)
    points: list[tuple[float, int, dict[str, float]]] = []
    total = -(-info.frame_count // args.every) if info.frame_count else None
    frames = faces = 0
    track_ids: set[int] = set()
    try:
        with output_stream(args.out, protect) as stream, \
                progress(total, args.progress, source.name) as bar:
            writer = RowWriter(stream, args.format)
            for result in analyze_video(recognizer, source, args.label_set, every=args.every,
                                        smooth=args.smooth, tta=args.tta,
                                        redetect_every=args.redetect_every):
                for row in frame_rows(result, names):
                    writer.write(row)
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
        png = plot_timeline(points, names, title=source.name)
        atomic_write_bytes(args.plot, png, protect=protect)
    if coding is not None:
        coding.write(source, recognizer)
    tracks = len(track_ids)
    print(f"ferkit: {frames} frames analysed, {faces} faces in {tracks} "
          f"track{'' if tracks == 1 else 's'}", file=sys.stderr)
    return 0
