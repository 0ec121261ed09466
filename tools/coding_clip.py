"""A multi-person test clip made of real faces: RAF-DB photos shown as a moving slideshow.

    python tools/coding_clip.py OUT.mp4 [--seconds 60] [--fps 15] [--people 3] [--seed 0]

There is no real multi-person interview video in the repository or in ../shared, so this
composes one from RAF-DB's in-the-wild faces (../shared/datasets/rafdb/train, aligned
100x100 colour photos; only those of ferkit's fixed RAF-DB validation split, so no model
trained by ferkit on RAF-DB has seen them): `--people` slots side by side on a textured
background, each showing a sequence of photos of one expression label at a time. A photo
stays 2-6 s, then crossfades (0.4 s) into the next; each slot sways and zooms a little every
frame, and the middle slot leaves the picture for 2 s at about a third of the clip. Each
slot is one tracked "face" whose expression changes at the photo changes: real faces and
real classifier noise, but the changes are cuts between people rather than one person's face
moving. `--plan` prints
the ground-truth schedule (slot, start s, end s, RAF-DB label) as JSON.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path

import cv2
import numpy as np

from ferkit.datasets.rafdb import RAFDB_CODES, rafdb_split

RAFDB = Path(__file__).resolve().parents[1] / ".." / "shared" / "datasets" / "rafdb"
SEED5 = ("happy", "angry", "sad", "neutral", "surprise")
SIZE_WH = (960, 540)
FACE_PX = 170
FADE_S = 0.4


def read_faces(root: Path) -> dict[str, list[Path]]:
    """RAF-DB photos of the validation split by label name (seed5 labels only), sorted."""
    by_label: dict[str, list[Path]] = {}
    with open(root / "train_labels.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            label = RAFDB_CODES[int(row["label"])]
            if label in SEED5 and rafdb_split(row["image"]) == "val":
                path = root / "train" / row["label"] / row["image"]
                by_label.setdefault(label, []).append(path)
    if not by_label:
        raise SystemExit(f"no RAF-DB faces under {root}")
    return {k: sorted(v) for k, v in by_label.items()}


def plan(seconds: float, people: int, seed: int) -> list[list[tuple[float, float, str]]]:
    """Per slot, (start s, end s, label) of each photo shown; labels never repeat back to back."""
    rng = np.random.default_rng(seed)
    slots = []
    for _ in range(people):
        shows, t, last = [], 0.0, None
        while t < seconds:
            hold = float(rng.uniform(2.0, 6.0))
            label = str(rng.choice([x for x in SEED5 if x != last]))
            shows.append((round(t, 3), round(min(t + hold, seconds), 3), label))
            t, last = t + hold, label
        slots.append(shows)
    return slots


def make_clip(out: Path, *, seconds: float = 60.0, fps: float = 15.0, people: int = 3,
              seed: int = 0, root: Path = RAFDB) -> list[list[tuple[float, float, str]]]:
    """Write the clip to `out` (mp4v); return its plan."""
    faces = read_faces(root)
    rng = np.random.default_rng(seed + 1)
    schedule = plan(seconds, people, seed)
    photos = [[cv2.resize(cv2.imread(str(faces[label][int(rng.integers(len(faces[label])))])),
                          (FACE_PX, FACE_PX), interpolation=cv2.INTER_CUBIC)
               for _, _, label in shows] for shows in schedule]
    width, height = SIZE_WH
    yy, xx = np.mgrid[0:height, 0:width]
    background = np.stack([60 + 40 * np.sin(xx / 90.0) + 20 * np.cos(yy / 50.0)] * 3, -1)
    background = np.clip(background + np.array([10, 0, -10]), 0, 255).astype(np.uint8)
    writer = cv2.VideoWriter(str(out), cv2.VideoWriter_fourcc(*"mp4v"), fps, SIZE_WH)
    if not writer.isOpened():
        raise SystemExit(f"cannot write {out}")
    away = (seconds / 3, seconds / 3 + 2.0)  # the middle slot leaves the picture
    for n in range(int(round(seconds * fps))):
        t = n / fps
        frame = background.copy()
        for slot, shows in enumerate(schedule):
            if slot == people // 2 and away[0] <= t < away[1]:
                continue
            k = next(i for i, (a, b, _) in enumerate(shows) if t < b or i == len(shows) - 1)
            image = photos[slot][k].astype(np.float32)
            start_next = shows[k][1]
            if k + 1 < len(shows) and t > start_next - FADE_S:
                w = (t - (start_next - FADE_S)) / FADE_S
                image = (1 - w) * image + w * photos[slot][k + 1].astype(np.float32)
            zoom = 1.0 + 0.06 * np.sin(2 * np.pi * t / (3.1 + slot))
            side = int(FACE_PX * zoom)
            image = cv2.resize(image, (side, side)).clip(0, 255).astype(np.uint8)
            cx = int((slot + 0.5) * width / people + 25 * np.sin(2 * np.pi * t / (4.3 + slot)))
            cy = int(height / 2 + 15 * np.cos(2 * np.pi * t / (5.7 - slot)))
            x0, y0 = cx - side // 2, cy - side // 2
            frame[y0:y0 + side, x0:x0 + side] = image
        noise = np.random.default_rng(n).normal(0, 3, frame.shape)
        writer.write(np.clip(frame + noise, 0, 255).astype(np.uint8))
    writer.release()
    return schedule


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=float, default=15.0)
    parser.add_argument("--people", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rafdb", type=Path, default=RAFDB)
    parser.add_argument("--plan", action="store_true", help="print the schedule as JSON")
    args = parser.parse_args(argv)
    schedule = make_clip(args.out, seconds=args.seconds, fps=args.fps, people=args.people,
                         seed=args.seed, root=args.rafdb)
    if args.plan:
        json.dump(schedule, sys.stdout)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
