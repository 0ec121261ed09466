"""How many episodes per minute each episode setting gives on a multi-person clip of real faces,
and how often the episodes' labels agree with the photos shown; prints a Markdown table.

    python benchmarks/bench_episodes.py                 # 60 s, 15 fps, 3 people, seed 0
    python benchmarks/bench_episodes.py --seconds 120 --seed 1

The clip is tools/coding_clip.py's slideshow of RAF-DB faces (../shared/datasets/rafdb): each
of 3 slots shows one photo for 2-6 s, then crossfades into a photo of another expression, so
the "true" episode rate is the number of photo changes. The clip is analysed once with the
`ferkit video` defaults (shipped model, its video detector and --redetect-every, seed5, no
smoothing unless --smooth); the frames are
then segmented with every (margin, minimum duration) pair. "episodes/min" counts emotion
episodes (not "no face" gaps) per minute of video, over all faces; "agreement" is the share
of face time, outside the 0.4 s crossfades, whose episode label is the RAF-DB label of the
photo on screen (tracks are matched to slots by position); the row "per frame" is the
model's raw top label per frame, for reference.
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def load_clip_tool():
    spec = importlib.util.spec_from_file_location("coding_clip", ROOT / "tools" / "coding_clip.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--smooth", type=float, default=1.0)
    parser.add_argument("--margins", type=float, nargs="+", default=[0.0, 0.05, 0.1, 0.2, 0.3])
    parser.add_argument("--durations", type=float, nargs="+",
                        default=[0.0, 0.5, 1.0, 2.0])
    args = parser.parse_args(argv)

    from ferkit.detect.spec import REDETECT_EVERY
    from ferkit.episodes import EpisodeOptions, Recording, segment
    from ferkit.labels import label_names
    from ferkit.video import StreamOptions, analyze_video

    tool = load_clip_tool()
    labels = label_names("seed5")
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "people.mp4"
        schedule = tool.make_clip(clip, seconds=args.seconds, fps=args.fps, seed=args.seed)
        recording = Recording(labels, nominal_step_s=1 / args.fps)
        options = StreamOptions(smooth=args.smooth, redetect_every=REDETECT_EVERY)
        for result in analyze_video(clip, options):
            recording.add(result.index, result.time_s, result.faces)
    minutes = args.seconds / 60
    changes = sum(len(shows) - 1 for shows in schedule)
    people = len(schedule)
    width = tool.SIZE_WH[0]

    # Which slot each track is: by its mean x centre.
    centres: dict[int, list[float]] = {}
    for s in recording.samples:
        centres.setdefault(s.track_id, []).append((s.box_xyxy[0] + s.box_xyxy[2]) / 2)
    slot_of = {t: min(int(np.mean(xs) / width * people), people - 1)
               for t, xs in centres.items()}

    def truth(slot: int, time_s: float) -> str | None:
        for start, end, label in schedule[slot]:
            if start <= time_s < end:
                near_fade = end - tool.FADE_S <= time_s or (start > 0 and time_s < start)
                return None if near_fade else label
        return None

    step = {i: t for i, t in recording.frames}
    frame_times = np.array([t for _, t in recording.frames])

    def agreement(episodes) -> float:
        hit = total = 0
        for e in episodes:
            if e.is_gap:
                continue
            for t in frame_times[(frame_times >= e.start_s) & (frame_times < e.end_s)]:
                expected = truth(slot_of[e.track_id], float(t))
                if expected is not None:
                    total += 1
                    hit += expected == e.label
        return hit / max(total, 1)

    raw_hits = raw_total = 0
    for s in recording.samples:
        expected = truth(slot_of[s.track_id], step[s.frame])
        if expected is not None:
            raw_total += 1
            raw_hits += labels[int(np.argmax(s.scores))] == expected
    raw_changes = 0
    by_track: dict[int, list] = {}
    for s in recording.samples:
        by_track.setdefault(s.track_id, []).append(int(np.argmax(s.scores)))
    for tops in by_track.values():
        raw_changes += 1 + sum(a != b for a, b in zip(tops, tops[1:], strict=False))

    print(f"clip: {args.seconds:g} s at {args.fps:g} fps, {people} people, seed {args.seed}; "
          f"{len(recording.track_ids)} tracks; photo changes: "
          f"{changes / minutes:.1f}/min (+{people / minutes:.1f}/min first photos)\n")
    print("| margin | min duration s | episodes/min | gaps/min | agreement |")
    print("|---|---|---|---|---|")
    print(f"| per frame | - | {raw_changes / minutes:.1f} | - | {raw_hits / raw_total:.3f} |")
    for margin in args.margins:
        for duration in args.durations:
            episodes = segment(recording, EpisodeOptions(margin=margin,
                                                         min_duration_s=duration))
            emotion = sum(not e.is_gap for e in episodes)
            gaps = sum(e.is_gap for e in episodes)
            print(f"| {margin:g} | {duration:g} | {emotion / minutes:.1f} | "
                  f"{gaps / minutes:.1f} | {agreement(episodes):.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
