"""`ferkit distill-cache`: run an ensemble of exported models over a training set once."""

from __future__ import annotations

import argparse
from pathlib import Path

from ferkit.commands import threads_count


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "distill-cache", help="cache an ensemble's predictions to distil from",
        description="Run exported models (`ferkit export` output, the shipped fernet.onnx) over "
        "every face of the combined dataset a training config names, average each head's "
        "probabilities over the models that have it, and write them to an .npz that "
        "`ferkit train --set train.teacher_cache=FILE` distils from: the teachers run once, "
        "not on every training step. Prints each model's and the ensemble's validation "
        "accuracy per head.")
    p.add_argument("models", nargs="+", type=Path, metavar="MODEL", help="exported .onnx models")
    p.add_argument("--out", type=Path, required=True, help="the .npz to write")
    p.add_argument("--config", type=Path, default=None,
                   help="the training config whose data to run over (as `ferkit train`)")
    p.add_argument("--data", action="append", default=None, metavar="SOURCE",
                   help="dataset path (repeatable); replaces data.sources")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE", help="override a config value, e.g. data.val_fold=1")
    p.add_argument("--mirror", action="store_true",
                   help="average each face with its horizontal mirror (twice the time)")
    p.add_argument("--threads", type=threads_count, default=None, help="ONNX Runtime threads")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ferkit.datasets.combine import load_configured
    from ferkit.errors import FerkitError
    from ferkit.model import ExpressionModel
    from ferkit.outputs import check_outputs
    from ferkit.train.config import data_input, load_config
    from ferkit.train.teacher_cache import build_teacher_cache

    if args.out.suffix != ".npz":
        raise FerkitError(f"{args.out}: the cache's name must end in .npz")
    check_outputs([args.out], inputs=args.models, overwrite=args.overwrite)
    models = [ExpressionModel(path, threads=args.threads) for path in args.models]
    config = load_config(args.config, args.overrides)
    if args.data:
        config["data"]["sources"] = [str(p) for p in args.data]
    data = load_configured(config["data"], *data_input(config))
    cache = build_teacher_cache(models, data, mirror=args.mirror)
    cache.save(args.out)
    val = data.subset(data.split == "val")
    rows = {str(m.path): build_teacher_cache([m], val, mirror=args.mirror).accuracy(val)
            for m in models}
    rows["ensemble"] = cache.accuracy(data)
    heads = sorted({h for scores in rows.values() for h in scores})
    mirrored = ", each with its mirror" if args.mirror else ""
    print(f"wrote {args.out}: {len(models)} teachers over {len(data)} faces{mirrored}; "
          f"heads {', '.join(cache.probs)}")
    width = max(len(name) for name in rows)
    print(f"validation accuracy ({len(val)} faces)\n{'model':<{width}} "
          + " ".join(f"{h:>8}" for h in heads))
    for name, scores in rows.items():
        print(f"{name:<{width}} " + " ".join(
            f"{scores[h]:>8.4f}" if h in scores else f"{'-':>8}" for h in heads))
    return 0
