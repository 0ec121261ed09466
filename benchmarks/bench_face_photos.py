"""Dataset face crops given to `ferkit image` as photos: how many faces are found, and read right.

    python benchmarks/bench_face_photos.py ../shared/datasets
    python benchmarks/bench_face_photos.py ../shared/datasets --detectors retinaface \
        "retinaface:close_up=false" blazeface

Users often hold face crops (a dataset, another tool's output) and run them through
`ferkit image` or `Recognizer.analyze` as they would any photo, so the detector must find a
face that fills the whole picture. For each validation face of FER2013 (48x48 grey, cut tight
to the face) and RAF-DB (100x100 colour, aligned with a margin), this runs the default photo
path (`Recognizer(detector=...).analyze`, as photos are read) and counts the images where a
face is found and where the best face's top class (FER2013's 7) is the label; a face not found
counts as wrong in "right of all". The last column is `ferkit evaluate`'s reading of the same
crops (no detector). Face-less patches of the shipped photos (600, seeded, 24-512 px) count
the pictures where a face is reported that is not there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from ferkit import Recognizer
from ferkit.datasets.sources import read_source
from ferkit.imageio import example_backgrounds
from ferkit.labels import label_names

DETECTORS = ("retinaface", "retinaface:close_up=false")


def faceless_patches(count: int, seed: int = 0) -> list[np.ndarray]:
    """Square patches of the shipped photos away from their faces, 24 px to the region's
    size; every other one enlarged to up to 512 px, the largest image `close_up` searches
    again."""
    rng = np.random.default_rng(seed)
    regions = example_backgrounds()
    out = []
    for i in range(count):
        region = regions[i % len(regions)]
        side = int(rng.integers(24, min(region.shape[:2]) + 1))
        y = int(rng.integers(0, region.shape[0] - side + 1))
        x = int(rng.integers(0, region.shape[1] - side + 1))
        patch = np.ascontiguousarray(region[y:y + side, x:x + side])
        if i % 2:
            target = int(rng.integers(side, 513))
            patch = cv2.resize(patch, (target, target), interpolation=cv2.INTER_CUBIC)
        out.append(patch)
    return out


def read_faces(recognizer: Recognizer, images: list[np.ndarray], truth: np.ndarray) -> dict:
    """Found, right among found, right of all, for face-crop photos read the default way."""
    found = right = 0
    for image, label in zip(images, truth, strict=True):
        faces = recognizer.analyze(image, "fer2013")
        if faces:
            found += 1
            right += max(faces[0].scores, key=faces[0].scores.get) == label
    return {"faces": len(images), "found": found, "right": right}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", type=Path, help="folder holding fer2013/ and rafdb/")
    parser.add_argument("--detectors", nargs="+", default=list(DETECTORS))
    parser.add_argument("--limit", type=int, default=0, help="first N faces of each set (0: all)")
    parser.add_argument("--empty", type=int, default=600, help="face-less patches")
    args = parser.parse_args(argv)

    sets = {}
    for name in ("fer2013", "rafdb"):
        if not (args.datasets / name).is_dir():
            continue
        samples = [s for s in read_source(str(args.datasets / name), splits=("val",), color="bgr")
                   if s.split == "val"]
        samples = samples[: args.limit] if args.limit else samples
        sets[name] = ([s.image for s in samples], np.array([s.label for s in samples]))
    if not sets:
        sys.exit(f"neither fer2013/ nor rafdb/ under {args.datasets}")
    empties = faceless_patches(args.empty)
    reference = Recognizer()
    names = np.array(label_names("fer2013"))

    print("| detector | set | found | right among found | right of all | "
          "crops read directly | face-less patches with a face |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for spec in args.detectors:
        recognizer = Recognizer(reference.model, detector=spec)
        false = sum(bool(recognizer.analyze(e)) for e in empties)
        for name, (images, truth) in sets.items():
            r = read_faces(recognizer, images, truth)
            direct = np.mean(names[reference.classify(images, "fer2013").argmax(1)] == truth)
            print(f"| `{spec}` | {name} | {r['found'] / r['faces']:.1%} ({r['found']}/"
                  f"{r['faces']}) | {r['right'] / max(r['found'], 1):.1%} | "
                  f"{r['right'] / r['faces']:.1%} | {direct:.1%} | {false}/{len(empties)} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
