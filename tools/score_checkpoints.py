"""Validation accuracy per head of `ferkit train` checkpoints, each alone and all averaged.

    python tools/score_checkpoints.py --prepared combined.npz runs/teacher-*/best.pt
    python tools/score_checkpoints.py --data ../shared/datasets/fer2013 --data ... runs/x/best.pt

The validation split is the one training used (combined, lossless FER+ pixels where a face has
them), so the figures match the run's metrics.csv, not `ferkit evaluate` on the JPEGs.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ferkit.datasets.combine import CombinedDataset, load_combined
from ferkit.train.distill import Teachers
from ferkit.train.loop import evaluate_heads, pick_device


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--prepared", type=Path, help="a `ferkit data pack` file")
    parser.add_argument("--data", action="append", default=[], metavar="SOURCE",
                        help="a dataset source instead (repeatable), as `ferkit train --data`")
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache/ferkit"))
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    device = pick_device(args.device)
    if args.prepared:
        data = CombinedDataset.load(args.prepared)
    else:
        data = load_combined(args.data, "ferplus", args.cache_dir, 0)
    val = data.subset(data.split == "val")
    rows = {}
    for path in args.checkpoints:
        rows[str(path)] = evaluate_heads(Teachers([path], device), val, device=device)
    if len(args.checkpoints) > 1:
        rows["ensemble"] = evaluate_heads(Teachers(args.checkpoints, device), val, device=device)
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
