"""`ferkit report` (one self-contained HTML page per video) and `ferkit video --episodes`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ferkit.commands import finite_float
from ferkit.errors import FerkitError


def add_episode_options(p: argparse.ArgumentParser) -> None:
    """The episode options `ferkit video --episodes` and `ferkit report` share."""
    from ferkit.episodes import EpisodeOptions

    default = EpisodeOptions()
    group = p.add_argument_group("episodes")
    group.add_argument("--min-episode", type=finite_float, default=default.min_duration_s,
                       metavar="SECONDS", help="merge emotion episodes shorter than this into "
                       f"their neighbour (default: {default.min_duration_s:g})")
    group.add_argument("--margin", type=finite_float, default=default.margin, metavar="P",
                       help="a face's label changes only when another emotion's probability "
                       f"beats it by P (default: {default.margin:g})")
    group.add_argument("--uncertain-below", type=finite_float, default=default.uncertain_below,
                       metavar="P", help="frames whose top probability is below P are "
                       f"'uncertain' (default: {default.uncertain_below:g}, never)")


def episode_options(args: argparse.Namespace):
    from ferkit.episodes import EpisodeOptions

    return EpisodeOptions(margin=args.margin, min_duration_s=args.min_episode,
                          uncertain_below=args.uncertain_below)


def video_coding(args: argparse.Namespace, info, stream):
    """The VideoCoding of the stream `info` describes, analysed with `stream` (the command's
    StreamOptions) and the episode options the user gave (bad ones fail here, before the
    model loads)."""
    from ferkit.coding import VideoCoding

    return VideoCoding(info.name, info.fps, stream, episode_options(args))


class EpisodeHook:
    """`--episodes DIR`: records the stream, then writes its episodes, exports and report."""

    def __init__(self, args: argparse.Namespace, info, stream) -> None:
        self.out_dir: Path = args.episodes
        if self.out_dir.exists() and not self.out_dir.is_dir():
            raise FerkitError(f"--episodes {self.out_dir}: not a directory")
        self.coding = video_coding(args, info, stream)

    def add(self, result) -> None:
        self.coding.add(result)

    def write(self, source: Path, recognizer) -> None:
        from ferkit.coding import write_coding_outputs
        from ferkit.report import model_summary

        episodes, recording = self.coding.episodes(), self.coding.recording
        written = write_coding_outputs(self.out_dir, recording, episodes, source,
                                       settings=self.coding.settings,
                                       model=model_summary(recognizer.model))
        print(f"ferkit: {len(episodes)} episodes of {len(recording.track_ids)} faces; "
              f"report {written['report']}", file=sys.stderr)


def register(sub: argparse._SubParsersAction) -> None:
    from ferkit.commands.video import add_stream_options

    p = sub.add_parser("report", help="an HTML report of a video's faces and emotion episodes",
                       description="One self-contained HTML page of a video: per face a thumbnail, "
                       "timelines, share of time per emotion and episodes; the exports inside.")
    p.add_argument("path", type=Path, metavar="VIDEO", help="a video file")
    p.add_argument("--out", type=Path, required=True, metavar="REPORT.html",
                   help="where to write the report (the exports are inside it as downloads)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace REPORT.html if it already exists (never the video)")
    p.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar on stderr")
    add_stream_options(p, row_formats=False)
    add_episode_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ferkit.coding import embedded_downloads, write_report
    from ferkit.commands.video import progress, stream_options
    from ferkit.outputs import check_outputs
    from ferkit.report import model_summary
    from ferkit.video import analyze_video, probe_video, quiet_ffmpeg

    stream = stream_options(args)
    quiet_ffmpeg()
    source: Path = args.path
    check_outputs([args.out], inputs=[source], overwrite=args.overwrite)
    info = probe_video(source)
    coding = video_coding(args, info, stream)
    recognizer = stream.recognizer()
    with progress(info.analysed_frames(stream.every), args.progress, source.name) as bar:
        for result in analyze_video(source, stream, recognizer=recognizer):
            coding.add(result)
            bar.update(1)
    episodes, recording = coding.episodes(), coding.recording
    write_report(args.out, recording, episodes, title=source.name, settings=coding.settings,
                 model=model_summary(recognizer.model),
                 downloads=embedded_downloads(recording, episodes, source, args.out),
                 protect=[source])
    print(f"ferkit: report of {len(recording.track_ids)} faces, {len(episodes)} episodes "
          f"written to {args.out}", file=sys.stderr)
    return 0
