"""Does eye alignment help, and which crop margin is best? Accuracy of detector-made crops.

    python benchmarks/bench_crops.py ../shared/datasets/fer2013
    python benchmarks/bench_crops.py ../shared/datasets/fer2013 --detector blazeface --roll 30

The pipeline classifies crops cut around the detector's box, not the dataset's own crops.
This measures which cut reproduces the classifier's accuracy best: each FER2013 PublicTest
face (48x48, the validation split) is padded by half its size on every side (edge pixels
repeated), enlarged to 240x240 and run through the detector (`--detector`, default the
image default); the best face whose centre lies in the middle third is re-cut with each
margin, with and without levelling the eyes, and classified (FER2013 7 classes). The
dataset's own crop, classified directly, is the reference. Faces the detector misses are
counted and left out of every row, so all rows score the same faces.
`--roll DEG` turns every other staged face by +DEG and the rest by -DEG in the image plane
before detection (heads tilted further than FER2013's own): the case eye levelling is for.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

from ferkit.align import DEFAULT_MARGIN, crop_face, eye_angle
from ferkit.datasets.sources import read_source
from ferkit.detect import DEFAULT_DETECTOR
from ferkit.detect.spec import parse_detector
from ferkit.labels import label_names
from ferkit.model import ExpressionModel

MARGINS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)
SIDE = 240


def staged(face48: np.ndarray) -> np.ndarray:
    pad = face48.shape[0] // 2
    big = cv2.copyMakeBorder(face48, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    return cv2.cvtColor(cv2.resize(big, (SIDE, SIDE), interpolation=cv2.INTER_CUBIC),
                        cv2.COLOR_GRAY2BGR)


def _in_middle_third(box) -> bool:
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return SIDE / 3 < cx < 2 * SIDE / 3 and SIDE / 3 < cy < 2 * SIDE / 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("fer2013", help="FER2013 folder or CSV")
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--detector", default=DEFAULT_DETECTOR)
    parser.add_argument("--limit", type=int, default=0, help="first N faces only (0: all)")
    parser.add_argument("--margins", type=float, nargs="+", default=list(MARGINS))
    parser.add_argument("--roll", type=float, default=0.0, metavar="DEG",
                        help="turn the staged faces by +-DEG in the image plane")
    args = parser.parse_args(argv)

    model = ExpressionModel(args.model) if args.model else ExpressionModel.shipped()
    detector = parse_detector(args.detector)
    samples = [s for s in read_source(args.fer2013) if s.split == "val"]  # PublicTest
    if args.limit:
        samples = samples[: args.limit]
    names = np.array(label_names("fer2013"))
    angles, images, faces, truth, own = [], [], [], [], []
    for k, s in enumerate(samples):
        image = staged(s.image)
        if args.roll:
            turn = cv2.getRotationMatrix2D((SIDE / 2, SIDE / 2), args.roll * (-1) ** k, 1.0)
            image = cv2.warpAffine(image, turn, (SIDE, SIDE), borderMode=cv2.BORDER_REPLICATE)
        centred = [f for f in detector.detect(image) if _in_middle_third(f.box_xyxy)]
        if not centred:
            continue
        images.append(image)
        faces.append(centred[0])
        truth.append(s.label)
        own.append(s.image)
        angles.append(abs(eye_angle(centred[0]) or 0.0))
    truth = np.array(truth)
    found = len(faces)

    def accuracy(crops: list[np.ndarray]) -> float:
        probs = model.probabilities(crops, "fer2013")
        return float(np.mean(names[probs.argmax(1)] == truth))

    originals = [s.image for s in samples]
    print(f"{len(samples)} PublicTest faces, rolled by +-{args.roll:g} deg; "
          f"detector {args.detector} found {found} "
          f"({found / len(samples):.1%}); median |eye angle| {np.median(angles):.1f} deg, "
          f"{np.mean(np.array(angles) > 5):.0%} over 5 deg\n")
    all_probs = model.probabilities(originals, "fer2013")
    all_acc = float(np.mean(names[all_probs.argmax(1)] == np.array([s.label for s in samples])))
    print("| crop | aligned | not aligned |")
    print("|---|---:|---:|")
    for margin in args.margins:
        cells = [accuracy([crop_face(im, f, size=model.input_size, margin=margin, align=a)
                           for im, f in zip(images, faces, strict=True)]) for a in (True, False)]
        mark = " (default)" if margin == DEFAULT_MARGIN else ""
        print(f"| margin {margin:.2f}{mark} | {cells[0]:.1%} | {cells[1]:.1%} |", flush=True)
    print(f"| the dataset's own 48x48 crop | {accuracy(own):.1%} | |")
    print(f"\nThe dataset's own crops, all {len(samples)} faces: {all_acc:.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
