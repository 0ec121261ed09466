"""Whether averaging in a second head's projection would serve a label set better than its own head.

    python lab/tools/head_mix.py ../shared/datasets/fer2013 \
        --model lab/models/stage4f-fp32.onnx \
        --out lab/eval/seed5-head-mix.json

For each label set (seed5 and fer2013 by default) the validation faces' probabilities from the
head the model's metadata assigns (`fer2013` for both) are averaged with the `ferplus` head's,
projected onto the label set, at each weight of the second head; weight 0 is the shipped answer.
Scored on validation only: a weight that gained here would still need checking elsewhere.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from ferkit.datasets.sources import read_source
from ferkit.labels import label_names, project
from ferkit.model import ExpressionModel
from ferkit.outputs import write_json

WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5)


def mixed_accuracies(model: ExpressionModel, source: str, label_sets: Sequence[str],
                     other_head: str) -> dict[str, dict[str, float]]:
    """Per label set, validation accuracy of (1 - w) * its own head + w * `other_head`, for
    each w in WEIGHTS. The faces are read, and each head run, once for all label sets."""
    faces = list(read_source(source, splits=("val",)))
    images = [s.image for s in faces]
    heads = {model.head_for(ls) for ls in label_sets} | {other_head}
    probs = {h: model.head_probabilities(images, h) for h in heads}
    scores = {}
    for ls in label_sets:
        names = label_names(ls)
        keep = np.array([s.label in names for s in faces])
        y = np.array([names.index(s.label) for s in faces if s.label in names])
        own, other = (project(probs[h][keep], model.emotions, ls)
                      for h in (model.head_for(ls), other_head))
        scores[ls] = {f"{w:.1f}": float((((1 - w) * own + w * other).argmax(1) == y).mean())
                      for w in WEIGHTS}
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="dataset with a val split, e.g. FER2013")
    parser.add_argument("--model", default=None, help="exported .onnx (default: the shipped)")
    parser.add_argument("--label-sets", nargs="+", default=["seed5", "fer2013"])
    parser.add_argument("--other-head", default="ferplus")
    parser.add_argument("--out", type=Path, default=None, help="JSON report to write")
    args = parser.parse_args()
    model = ExpressionModel(args.model) if args.model else ExpressionModel.shipped()
    report = {
        "model": args.model or "shipped", "source": args.source, "other_head": args.other_head,
        "val_accuracy_by_other_head_weight": mixed_accuracies(
            model, args.source, args.label_sets, args.other_head),
    }
    print(json.dumps(report, indent=2))
    if args.out:
        write_json(args.out, report)


if __name__ == "__main__":
    main()
