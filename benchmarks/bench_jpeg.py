"""How much JPEG compression costs a model: validation accuracy on faces re-encoded as JPEG.

    python benchmarks/bench_jpeg.py ../shared/datasets [--model A.onnx --model B.onnx]

Photos and webcam frames reach the model as JPEGs. FER+ Valid is lossless (PNG), so its faces
are scored as they are and re-encoded at each quality (FER+ head, majority protocol, 8
classes); FER2013 PublicTest is itself JPEG at quality ~95, so its faces are scored as they
are and re-encoded once more (FER2013 head, 7 classes). Accuracy without TTA, in %.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2

from ferkit.datasets.sources import read_source
from ferkit.evaluation import Selection, evaluate_selection, select
from ferkit.model import ExpressionModel, shipped_model_path

QUALITIES = (95, 75, 50)


def recompress(sel: Selection, quality: int) -> Selection:
    """The same selection with every face round-tripped through JPEG at `quality`."""
    images = [cv2.imdecode(cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])[1],
                           cv2.IMREAD_GRAYSCALE) for img in sel.images]
    return Selection(images=images, labels=list(sel.labels))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", type=Path, help="folder holding fer2013/ and ferplus/")
    parser.add_argument("--model", type=Path, action="append", default=None,
                        help="an exported .onnx (repeatable; default: the shipped one)")
    args = parser.parse_args(argv)
    sets = {
        "FER+ Valid (PNG)": select(read_source(str(args.datasets / "ferplus")), "val",
                                   "ferplus"),
        "FER2013 PublicTest (JPEG q~95)": select(read_source(str(args.datasets / "fer2013")),
                                                "val", "fer2013"),
    }
    label_sets = {"FER+ Valid (PNG)": "ferplus", "FER2013 PublicTest (JPEG q~95)": "fer2013"}
    print("| model | faces | as stored | " + " | ".join(f"JPEG q{q}" for q in QUALITIES) + " |")
    print("|---|---|---:|" + "---:|" * len(QUALITIES))
    for path in args.model or [shipped_model_path()]:
        model = ExpressionModel(path)
        for name, sel in sets.items():
            cells = []
            for variant in [sel, *(recompress(sel, q) for q in QUALITIES)]:
                result = evaluate_selection(model, variant, label_sets[name])
                cells.append(f"{100 * result['plain']['accuracy']:.1f}")
            print(f"| {path.name} | {name}, {len(sel.labels):,} | " + " | ".join(cells) + " |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
