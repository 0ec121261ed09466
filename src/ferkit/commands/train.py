"""`ferkit train`: train the expression CNN from a YAML config, resumable."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train the expression CNN (needs the train extra)")
    p.add_argument("--config", type=Path, default=None,
                   help="YAML config (defaults: configs/default.yaml in the repo)")
    p.add_argument("--out", type=Path, required=True, help="run folder for checkpoints/metrics")
    p.add_argument("--data", action="append", default=None, metavar="SOURCE",
                   help="dataset path (repeatable); replaces data.sources")
    p.add_argument("--epochs", type=int, help="shortcut for --set train.epochs=N")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE", help="override a config value, e.g. train.lr=0.02")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt")
    p.add_argument("--overwrite", action="store_true",
                   help="start again in an OUT that already holds a run, replacing it")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ferkit.datasets.base import PHOTO_MIN_SIDE
    from ferkit.train.config import load_config
    from ferkit.train.loop import Trainer, check_run_folder

    check_run_folder(args.out, args.resume, args.overwrite)  # before the data are read
    overrides = list(args.overrides)
    if args.epochs is not None:
        overrides.append(f"train.epochs={args.epochs}")
    config = load_config(args.config, overrides)
    if args.data:
        config["data"]["sources"] = [str(p) for p in args.data]
    trainer = Trainer(config, args.out)
    own_photos = trainer.report.get("own_photos_read_whole")
    if own_photos:
        print(f"note: images of your own over {PHOTO_MIN_SIDE} px on their shorter side: "
              f"{own_photos}, whole photos, not face crops. ferkit train reads each image "
              "whole as one face; crop the faces first (the GUI's 'Save face crops' does; "
              "ferkit head and evaluate search photos themselves)", file=sys.stderr)
    best = trainer.run(resume=args.resume, overwrite=args.overwrite)
    print(f"best checkpoint: {best}")
    return 0
