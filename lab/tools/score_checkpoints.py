"""Validation accuracy per head of `ferkit train` checkpoints, each alone and all averaged.

    python lab/tools/score_checkpoints.py --prepared combined.npz runs/teacher-*/best.pt
    python lab/tools/score_checkpoints.py --data ../shared/datasets/fer2013 --data ... \
        runs/x/best.pt

The validation split is the one training used (combined, lossless FER+ pixels where a face has
them), so the figures match the run's metrics.csv, not `ferkit evaluate` on the JPEGs.
`--update-bn` also scores each checkpoint after re-measuring its batch-norm statistics on the
plain training faces (torch's `update_bn`), as weight averaging is usually followed up.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch
from torch.optim.swa_utils import update_bn

from ferkit.datasets.combine import CombinedDataset, load_combined
from ferkit.pixels import CHANNELS
from ferkit.train.distill import Teachers
from ferkit.train.loop import evaluate_heads, pick_device, to_input


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoints", nargs="+", type=Path)
    parser.add_argument("--prepared", type=Path, help="a `ferkit data pack` file")
    parser.add_argument("--data", action="append", default=[], metavar="SOURCE",
                        help="a dataset source instead (repeatable), as `ferkit train --data`")
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache/ferkit"))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--update-bn", action="store_true",
                        help="also score each after re-measuring batch norm on training faces")
    args = parser.parse_args()
    device = pick_device(args.device)
    if args.prepared:
        data = CombinedDataset.load(args.prepared)
    else:
        data = load_combined(args.data, "ferplus", args.cache_dir, 0)
    val = data.subset(data.split == "val")
    train = data.images[data.split == "train"] if args.update_bn else None
    rows = {}
    seen = (data.input_size, CHANNELS[data.color])  # each checkpoint must take these faces
    for path in args.checkpoints:
        teacher = Teachers([path], device, seen)
        rows[str(path)] = evaluate_heads(teacher, val, device=device)
        if train is not None:
            batches = (to_input(train[s : s + 512]).to(device) for s in range(0, len(train), 512))
            with torch.no_grad():
                update_bn(batches, teacher.members[0], device=device)
            rows[f"{path} with update_bn"] = evaluate_heads(teacher, val, device=device)
    if len(args.checkpoints) > 1:
        rows["ensemble"] = evaluate_heads(Teachers(args.checkpoints, device, seen), val,
                                          device=device)
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
