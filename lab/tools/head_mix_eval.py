"""Score one model's heads alone and averaged in every combination, on the card's validation sets.

    python lab/tools/head_mix_eval.py src/ferkit/models/fernet.onnx

Each head's calibrated probabilities are projected onto the label set; a mix is their plain
mean. Prints a Markdown table: accuracy / macro recall per head set and validation set.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from pathlib import Path

import numpy as np
from ensemble_eval import validation_sets  # lab/tools, beside this script

from ferkit.evaluation import scores, val_fold_of
from ferkit.labels import label_names, project
from ferkit.model import ExpressionModel

#: (source folder under --data, label set scored): the card's rows, CK+ in both label sets.
SETS = (("rafdb", "fer2013"), ("fer2013", "fer2013"), ("ferplus", "ferplus"),
        ("ckplus", "ferplus"), ("ckplus", "fer2013"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    args = parser.parse_args(argv)
    model = ExpressionModel(args.model)
    mixes = [c for n in range(1, len(model.heads) + 1)
             for c in itertools.combinations(model.heads, n)]
    results: dict[tuple[str, ...], list[str]] = {mix: [] for mix in mixes}
    for _, label_set, sel in validation_sets(args.data, SETS, model.color, val_fold_of(model)):
        truth = np.asarray(sel.labels)
        heads = model.every_head_probabilities(sel.images)
        for mix in mixes:
            p = np.mean([project(heads[h], model.emotions, label_set) for h in mix], axis=0)
            s = scores(truth, p, label_names(label_set))
            results[mix].append(f"{s['accuracy']:.1%} / {s['macro_recall']:.1%}")
    print("| heads | " + " | ".join(f"{s} ({ls})" for s, ls in SETS) + " |")
    print("|---|" + "---|" * len(SETS))
    for mix, cells in results.items():
        print(f"| {' + '.join(mix)} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
