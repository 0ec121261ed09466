"""`ferkit evaluate`: accuracy, macro-F1, per-class scores and a confusion matrix on real data."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

#: The label set a dataset is scored in when --label-set is not given: its own classes.
_DEFAULT_LABEL_SET = {"fer2013": "fer2013", "fer2013csv": "fer2013", "jaffe": "fer2013",
                      "ferplus": "ferplus", "ckplus": "ferplus", "own": "seed5"}


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score an ONNX model on a labelled dataset",
                       description="Score an exported model on a dataset's validation split. "
                       "FER+ uses the majority protocol; CK+ and JAFFE use the subject fold "
                       "held out of training.")
    p.add_argument("--model", type=Path, default=None,
                   help="ONNX model from `ferkit export` (default: the shipped model)")
    p.add_argument("--data", required=True, metavar="SOURCE",
                   help="dataset folder or file (layout detected), or KIND=PATH")
    p.add_argument("--split", default=None, choices=("train", "val", "test", "all"),
                   help="split to score (default: val, which for CK+/JAFFE is the held-out "
                        "subject fold; all for your own <emotion>/ folders, which have no "
                        "splits)")
    p.add_argument("--label-set", default=None, choices=("seed5", "fer2013", "ferplus"),
                   help="classes to score in (default: the dataset's own: fer2013 for FER2013 "
                        "and JAFFE, ferplus for FER+ and CK+, seed5 for own folders)")
    p.add_argument("--head", default=None,
                   help="score this model head instead of the one the model assigns to the "
                        "label set (to choose heads by validation)")
    p.add_argument("--tta", action="store_true",
                   help="per-class scores and figure from flip test-time augmentation "
                        "(both accuracies are always reported)")
    p.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for confusion-<source>-<labelset>.png and the JSON report")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ferkit.datasets.sources import parse_source, read_source
    from ferkit.errors import FerkitError
    from ferkit.evaluation import evaluate_selection, plot_confusion, select
    from ferkit.model import ExpressionModel
    from ferkit.outputs import write_json
    from ferkit.progress import progress

    model = (ExpressionModel(args.model, threads=args.threads) if args.model
             else ExpressionModel.shipped(threads=args.threads))
    kind, path = parse_source(args.data)
    if args.split is None:  # own folders (the GUI's collected faces) are one split
        args.split = "all" if kind == "own" else "val"
    label_set = args.label_set or _DEFAULT_LABEL_SET.get(kind, "seed5")
    if args.head is not None and args.head not in model.heads:
        raise FerkitError(f"model has no head {args.head!r} (heads: {', '.join(model.heads)})")
    # Score subject folds against the fold this model's training held out.
    val_fold = int(model.metadata.get("training", {}).get("config", {})
                   .get("data", {}).get("val_fold", 0))
    # Skip decoding the other splits (28.7k FER2013 training faces for a validation score).
    samples = progress(read_source(args.data, splits=None if args.split == "all"
                                   else (args.split,)), f"reading {path}")
    sel = select(samples, args.split, label_set, val_fold)
    if not (sel.labels or sel.no_majority or sel.not_in_label_set):
        if args.split == "all":
            raise FerkitError(f"{path}: no samples read")
        # Layouts with splits were read for this split alone, so they may show none.
        seen = f" (the source has: {', '.join(sorted(sel.splits_seen))})" if sel.read else ""
        raise FerkitError(f"{path}: no samples in split {args.split!r}{seen}")
    result = evaluate_selection(model, sel, label_set, args.head)
    primary = result["flip_tta" if args.tta else "plain"]
    report = {
        "model": str(model.path), "architecture": model.architecture,
        "data": str(path), "source": kind, "split": args.split,
        "subject_fold": val_fold if "all" in sel.splits_seen else None,
        "label_set": label_set, "head": result["head"], "tta": args.tta,
        "samples": sel.counts(),
        "accuracy": primary["accuracy"], "macro_f1": primary["macro_f1"],
        "accuracy_plain": result["plain"]["accuracy"],
        "accuracy_flip_tta": result["flip_tta"]["accuracy"],
        "macro_f1_plain": result["plain"]["macro_f1"],
        "macro_f1_flip_tta": result["flip_tta"]["macro_f1"],
        "classes": result["classes"],
        "per_class": primary["per_class"], "confusion_matrix": primary["confusion_matrix"],
    }
    if args.out:
        stem = f"{kind}-{label_set}"
        title = (f"{model.architecture} on {kind} {args.split} ({label_set}, head "
                 f"{result['head']}{', flip TTA' if args.tta else ''}): "
                 f"acc {report['accuracy']:.3f}, macro-F1 {report['macro_f1']:.3f}")
        figure = plot_confusion(primary["confusion_matrix"], result["classes"],
                                args.out / f"confusion-{stem}.png", title)
        report["figure"] = str(figure)
        write_json(args.out / f"eval-{stem}.json", report)
    print(json.dumps(report, indent=2) if args.json else format_table(report))
    return 0


def format_table(r: dict) -> str:
    """The report as text for people."""
    s = r["samples"]
    excluded = [f"{n} {k}" for k, n in s["excluded_not_in_label_set"].items()]
    if s["excluded_no_majority"]:
        excluded.insert(0, f"{s['excluded_no_majority']} without a majority label")
    fold = f", subject fold {r['subject_fold']}" if r["subject_fold"] is not None else ""
    lines = [
        f"model     {r['model']} ({r['architecture']}, head {r['head']})",
        f"data      {r['data']} ({r['source']}, split {r['split']}{fold})",
        f"label set {r['label_set']}: {', '.join(r['classes'])}",
        f"samples   {s['evaluated']} evaluated"
        + (f"; excluded {', '.join(excluded)}" if excluded else ""),
        "",
        f"accuracy  {r['accuracy_plain']:.4f}   with flip TTA {r['accuracy_flip_tta']:.4f}",
        f"macro-F1  {r['macro_f1_plain']:.4f}   with flip TTA {r['macro_f1_flip_tta']:.4f}",
        "",
        f"per class{' (flip TTA)' if r['tta'] else ''}:",
        f"{'class':<10} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}",
    ]
    for name, m in r["per_class"].items():
        lines.append(f"{name:<10} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>7.3f} "
                     f"{m['support']:>8d}")
    if r.get("figure"):
        lines += ["", f"confusion matrix: {r['figure']}"]
    return "\n".join(lines)
