"""`ferkit head`: fit a new head on an exported model's frozen features from labelled faces."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ferkit.commands import finite_float, non_negative_float, positive_float


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "head", help="fit a new head on a model's frozen features (needs the train extra)",
        description="Fit a linear head on the frozen features of an exported model, from "
                    "the training split of labelled datasets (your own collected faces too; "
                    "photos over 160 px are searched for their face first), "
                    "and write the model with that head added. On the shipped two-network "
                    "model the head reads both networks' features. An int8 model's head is "
                    "fitted on the int8 features and stays in float; an fp32 model can be "
                    "quantised after with `ferkit export MODEL.onnx --int8-calibration "
                    "SOURCE`. Training copies of any source's validation faces are left out. "
                    "Minutes on a CPU, where training the network takes hours.")
    p.add_argument("model", type=Path,
                   help="an ONNX model written by `ferkit export` (fp32 or int8), or the "
                        "shipped src/ferkit/models/fernet.onnx")
    p.add_argument("--data", dest="sources", action="append", required=True, metavar="SOURCE",
                   help="dataset folder or file (layout detected), or KIND=PATH (repeatable)")
    p.add_argument("--weight", dest="weights", action="append", type=positive_float, default=[],
                   metavar="W", help="loss weight of each --data, in order (default 1 each)")
    p.add_argument("--name", required=True, help="the new head's name, e.g. wild")
    p.add_argument("--serve", action="append", default=[], metavar="LABELSET",
                   help="label set the new head answers from now on (repeatable)")
    p.add_argument("--replace", action="store_true",
                   help="refit the model's head of that --name in place: it keeps the label "
                        "sets it answers and loses its temperature (run `ferkit calibrate` "
                        "after)")
    p.add_argument("--out", type=Path, required=True, help="model file to write")
    p.add_argument("--l2", type=non_negative_float, default=1e-4,
                   help="weight decay (default 1e-4)")
    p.add_argument("--class-weight-power", type=finite_float, default=None, metavar="P",
                   help="weigh each class by its frequency ** -P: 0 leaves the data's balance, "
                        "1 weighs every class alike (default 0.3, as `ferkit train`)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    # Its old name, kept so scripts written for it still run; every other command says
    # --overwrite.
    p.add_argument("--force", dest="overwrite", action="store_true", help=argparse.SUPPRESS)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ferkit.datasets.combine import labelled_training_faces
    from ferkit.datasets.sources import check_outside
    from ferkit.errors import FerkitError
    from ferkit.evaluation import FaceFinder
    from ferkit.labels import label_names
    from ferkit.model import ExpressionModel
    from ferkit.outputs import check_outputs
    from ferkit.train.config import CLASS_WEIGHT_POWER, check_class_weight_power
    from ferkit.train.heads import add_head, check_new_head, fit_linear_head, model_features

    check_outputs([args.out], inputs=[args.model], overwrite=args.overwrite)
    weights = args.weights or [1.0] * len(args.sources)
    power = check_class_weight_power(CLASS_WEIGHT_POWER if args.class_weight_power is None
                                     else args.class_weight_power)
    if len(weights) != len(args.sources):
        raise FerkitError(f"{len(args.sources)} --data but {len(weights)} --weight")
    check_outside([args.out], args.sources)
    model = ExpressionModel(args.model)  # the faces it takes: its size and colour
    check_new_head(args.model, model.metadata, args.name, args.serve, replace=args.replace)
    # Photos become their faces, as `ferkit evaluate` scores them; face crops stay as they are.
    finder = FaceFinder(model)
    faces, targets, source_index, report = labelled_training_faces(
        args.sources, model.input_size, color=model.color, prepare=finder.crops)
    for spec, counts in report.items():
        print(f"{spec}: {counts['kept']} training faces "
                   f"({counts['val_copies_dropped']} copies of validation faces left out)")
    if finder.searched:
        print(finder.summary())
    # Mirrored faces are as valid as the originals: twice the data for one more pass.
    both = np.concatenate([faces, faces[:, :, ::-1]])
    feats = model_features(args.model, both)  # one session for every face
    item_w = np.tile(np.asarray(weights, np.float32)[source_index], 2)
    head = fit_linear_head(feats, np.concatenate([targets, targets]), l2=args.l2,
                           class_weight_power=power, sample_weight=item_w)
    add_head(args.model, args.out, args.name, head, serves=args.serve, replace=args.replace)
    model = ExpressionModel(args.out)
    print(f"wrote {args.out}: heads {', '.join(model.heads)}; label set -> head: "
          + ", ".join(f"{k}={v}" for k, v in model.label_set_heads.items()))
    trained = model.metadata["added_heads"][args.name]["emotions"]
    served = [s for s, h in model.label_set_heads.items() if h == args.name]
    for label_set in served:
        never = [name for name in label_names(label_set) if name not in trained]
        if never:
            print(f"note: {args.name} never answers {', '.join(never)} (no training faces of "
                  f"them), which label set {label_set} asks for", file=sys.stderr)
    if not served:
        print(f"note: {args.name} answers no label set: --serve LABELSET makes it the one "
              "that set uses", file=sys.stderr)
    print(f"score it on a dataset's validation faces: ferkit evaluate --model {args.out} "
          f"--data DATASET --head {args.name}")
    return 0
