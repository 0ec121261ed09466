"""How much a per-class prior shift could move an exported model's accuracy in one label set.

    python lab/tools/prior_shift.py ../shared/datasets/fer2013 --label-set seed5 \
        --out lab/eval/seed5-prior-shift.json

Adds a constant to each class's log-probability and searches the constants (coordinate
search over [-1, 1]) twice: fitted on the training split, then scored on validation (what a
shipped correction could honestly gain), and fitted on validation itself (an upper bound that
no shipped model could reach, since it tunes on the faces it is scored on).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ferkit.datasets.sources import read_source
from ferkit.evaluation import select
from ferkit.labels import label_names
from ferkit.model import ExpressionModel
from ferkit.outputs import write_json


def log_probs(model: ExpressionModel, source: str, split: str,
              label_set: str) -> tuple[np.ndarray, np.ndarray]:
    """Log-probabilities over `label_set`, as the model serves them, and the true labels."""
    sel = select(read_source(source, splits=(split,)), split, label_set)
    probs = model.probabilities(sel.images, label_set)
    return np.log(probs + 1e-9), np.array(sel.labels)


def accuracy(logp: np.ndarray, y: np.ndarray, shift: np.ndarray) -> float:
    return float((np.argmax(logp + shift, axis=1) == y).mean())


def fit_shift(logp: np.ndarray, y: np.ndarray, rounds: int = 3) -> np.ndarray:
    """Per-class constants maximising accuracy, by coordinate search on a 0.05 grid."""
    shift = np.zeros(logp.shape[1])
    grid = np.linspace(-1.0, 1.0, 41)
    for _ in range(rounds):
        for k in range(len(shift)):
            scores = [accuracy(logp, y, np.r_[shift[:k], v, shift[k + 1:]]) for v in grid]
            shift[k] = grid[int(np.argmax(scores))]
    return shift


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="dataset with train and val splits, e.g. FER2013")
    parser.add_argument("--model", default=None, help="exported .onnx (default: the shipped)")
    parser.add_argument("--label-set", default="seed5")
    parser.add_argument("--out", type=Path, default=None, help="JSON report to write")
    args = parser.parse_args()
    model = (ExpressionModel(args.model) if args.model else ExpressionModel.shipped())
    train = log_probs(model, args.source, "train", args.label_set)
    val = log_probs(model, args.source, "val", args.label_set)
    fitted, oracle = fit_shift(*train), fit_shift(*val)
    report = {
        "model": args.model or "shipped", "source": args.source, "label_set": args.label_set,
        "head": model.head_for(args.label_set), "classes": list(label_names(args.label_set)),
        "faces": {"train": len(train[1]), "val": len(val[1])},
        "val_accuracy": accuracy(*val, np.zeros(len(fitted))),
        "train_accuracy": accuracy(*train, np.zeros(len(fitted))),
        "shift_fitted_on_train": fitted.round(2).tolist(),
        "val_accuracy_with_train_shift": accuracy(*val, fitted),
        "shift_fitted_on_val": oracle.round(2).tolist(),
        "val_accuracy_with_val_shift_upper_bound": accuracy(*val, oracle),
    }
    print(json.dumps(report, indent=2))
    if args.out:
        write_json(args.out, report)


if __name__ == "__main__":
    main()
