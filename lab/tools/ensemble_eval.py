"""Score ONNX models alone and averaged (an ensemble) on the validation sets of the model card.

    python lab/tools/ensemble_eval.py src/ferkit/models/fernet.onnx runs/default/fernet.onnx

Each model's default head for the label set (as `ferkit evaluate` with no --head), its
calibrated probabilities projected onto the label set; the ensemble is their plain mean.
Prints a Markdown table: accuracy / macro recall per model and for the ensemble.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from ferkit.datasets.sources import read_source
from ferkit.evaluation import Selection, scores, select, val_fold_of
from ferkit.labels import label_names, project
from ferkit.model import ExpressionModel

#: (source folder under --data, label set scored), as tools/evaluate_shipped.sh's first rows.
SETS = (("rafdb", "fer2013"), ("fer2013", "fer2013"), ("ferplus", "ferplus"),
        ("ckplus", "ferplus"), ("rafdb", "seed5"))


def validation_sets(data: Path, sets: Sequence[tuple[str, str]], color: str, fold: int
                    ) -> Iterator[tuple[str, str, Selection]]:
    """(source, label set, its validation faces) for each of `sets`, each source read once."""
    samples: dict[str, list] = {}
    for source, label_set in sets:
        if source not in samples:
            samples[source] = list(read_source(str(data / source), color=color))
        yield source, label_set, select(samples[source], "val", label_set, fold)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    args = parser.parse_args(argv)
    models = [ExpressionModel(path) for path in args.models]
    names = [path.as_posix() for path in args.models]
    print("| data | label set | faces | " + " | ".join(names) + " | ensemble |")
    print("|---|---|---:|" + "---|" * (len(names) + 1))
    # Faces in colour when any model takes colour: gray models turn them gray themselves.
    color = "bgr" if any(m.color == "bgr" for m in models) else "gray"
    for source, label_set, sel in validation_sets(args.data, SETS, color,
                                                  val_fold_of(models[0])):
        truth = np.asarray(sel.labels)
        probs = [project(m.head_probabilities(sel.images, m.head_for(label_set)), m.emotions,
                         label_set) for m in models]
        cells = []
        for p in [*probs, np.mean(probs, axis=0)]:
            s = scores(truth, p, label_names(label_set))
            cells.append(f"{s['accuracy']:.1%} / {s['macro_recall']:.1%}")
        print(f"| {source} | {label_set} | {len(truth)} | " + " | ".join(cells) + " |",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
