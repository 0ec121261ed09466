"""`ferkit evaluate`: accuracy, macro recall and F1, per-class scores, calibration and figures."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ferkit.commands import threads_count


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("evaluate", help="score an ONNX model on a labelled dataset",
                       description="Score an exported model on a dataset's validation split. "
                       "FER+ uses the majority protocol; CK+ and JAFFE use the subject fold "
                       "held out of training; RAF-DB its fixed hash split of train. Reports "
                       "accuracy, macro recall (mean per-class recall), macro-F1 and the "
                       "expected calibration error (ECE: 15 equal-width bins of the top-1 "
                       "probability) of the probabilities the model returns.")
    p.add_argument("--model", type=Path, default=None,
                   help="ONNX model from `ferkit export` (default: the shipped model)")
    p.add_argument("--data", required=True, metavar="SOURCE",
                   help="dataset folder or file (layout detected), or KIND=PATH")
    p.add_argument("--split", default=None, choices=("train", "val", "test", "all"),
                   help="split to score (default: val, which for CK+/JAFFE is the held-out "
                        "subject fold; all for your own <emotion>/ folders, which have no "
                        "splits)")
    p.add_argument("--label-set", default=None, choices=("seed5", "fer2013", "ferplus"),
                   help="classes to score in (default: the dataset's own: fer2013 for FER2013, "
                        "RAF-DB and JAFFE, ferplus for FER+ and CK+, seed5 for own folders)")
    p.add_argument("--head", default=None,
                   help="score this model head instead of the one the model assigns to the "
                        "label set (to choose heads by validation)")
    p.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                   help="per-class scores and figures with each face also read mirrored "
                        "(default: as photos are read, once: ferkit.recognizer.PHOTO_TTA; "
                        "both accuracies are always reported)")
    p.add_argument("--faces", choices=("auto", "given", "found"), default="auto",
                   help="how images become faces. auto (default): images of your own "
                        "<emotion>/ folders over 160 px on their shorter side "
                        "(ferkit.datasets.base.PHOTO_MIN_SIDE) are photos, searched by the image "
                        "default detector and cropped to their best face as ferkit image does; "
                        "smaller ones and the research datasets are read as ferkit train reads "
                        "them. given: every image is a face crop. found: every image is "
                        "searched. An image with no face found is read whole. --corrupt "
                        "applies to faces found as cropped, at the model's input size.")
    p.add_argument("--corrupt", default=None, metavar="NAME",
                   help="score faces with this corruption applied (seeded, deterministic), "
                        "e.g. blur, low_res, sunglasses, mask (a wrong name lists them all)")
    p.add_argument("--seed", type=int, default=0, help="seed of --corrupt (default 0)")
    p.add_argument("--threads", type=threads_count, default=None, help="ONNX Runtime threads")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--out", type=Path, default=None,
                   help="folder for the JSON report eval-<source>-<labelset>.json, "
                        "confusion-*.png and reliability-*.png (the reliability diagram)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the files of an earlier report in --out")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ferkit.corruptions import corrupt_all, get_corruption
    from ferkit.datasets.sources import check_outside, parse_source, read_source
    from ferkit.errors import FerkitError
    from ferkit.evaluation import (
        DEFAULT_LABEL_SET,
        FaceFinder,
        evaluate_selection,
        in_split,
        plot_confusion,
        plot_reliability,
        select,
        val_fold_of,
    )
    from ferkit.labels import label_names
    from ferkit.model import ExpressionModel
    from ferkit.outputs import check_outputs, new_figure, write_json
    from ferkit.progress import progress
    from ferkit.recognizer import photo_tta

    args.tta = photo_tta(args.tta)
    if args.out:  # the figures' missing extra, before any work
        new_figure("ferkit evaluate --out (its confusion matrix)")
    model = (ExpressionModel(args.model, threads=args.threads) if args.model
             else ExpressionModel.shipped(threads=args.threads))
    kind, path = parse_source(args.data)
    check_outside([args.out], [args.data])
    if args.split is None:  # own folders (the GUI's collected faces) are one split
        args.split = "all" if kind == "own" else "val"
    label_set = args.label_set or DEFAULT_LABEL_SET.get(kind, "seed5")
    if args.corrupt is not None:
        get_corruption(args.corrupt)  # a wrong name fails before the data is read
    if args.out:
        stem = f"{kind}-{label_set}" + (f"-{args.corrupt}" if args.corrupt else "")
        files = {name: args.out / f"{name}-{stem}.{ext}" for name, ext in
                 (("eval", "json"), ("confusion", "png"), ("reliability", "png"))}
        check_outputs(files.values(), overwrite=args.overwrite)
    if args.head is not None and args.head not in model.heads:
        raise FerkitError(f"model has no head {args.head!r} (heads: {', '.join(model.heads)})")
    val_fold = val_fold_of(model)
    # Skip decoding the other splits (28.7k FER2013 training faces for a validation score).
    # Read in the model's colour (a colour model scores RAF-DB's colour faces), or in colour
    # for the detector, which then crops in the model's colour.
    samples = progress(read_source(args.data, splits=None if args.split == "all"
                                   else (args.split,),
                                   color=model.color if args.faces == "given" else "bgr"),
                       f"reading {path}")
    finder = None
    if args.faces != "given":
        names = label_names(label_set)  # only faces that will be scored are searched
        finder = FaceFinder(model, args.faces,
                            wanted=lambda s: s.label in names and in_split(s, args.split,
                                                                           val_fold))
        samples = finder.crops(samples)
    sel = select(samples, args.split, label_set, val_fold)
    if not (sel.labels or sel.no_majority or sel.not_in_label_set):
        if args.split == "all":
            raise FerkitError(f"{path}: no samples read")
        # Layouts with splits were read for this split alone, so they may show none.
        seen = f" (the source has: {', '.join(sorted(sel.splits_seen))})" if sel.read else ""
        raise FerkitError(f"{path}: no samples in split {args.split!r}{seen}")
    if args.corrupt:
        sel.images = corrupt_all(sel.images, args.corrupt, seed=args.seed)
    result = evaluate_selection(model, sel, label_set, args.head)
    primary = result["flip_tta" if args.tta else "plain"]
    report = {
        "model": str(model.path), "architecture": model.architecture,
        "data": str(path), "source": kind, "split": args.split,
        "subject_fold": val_fold if "all" in sel.splits_seen else None,
        "label_set": label_set, "head": result["head"], "temperature": result["temperature"],
        "tta": args.tta, "corruption": args.corrupt,
        "corruption_seed": args.seed if args.corrupt else None,
        "samples": sel.counts(), "faces": args.faces,
        "faces_searched": finder.searched if finder else None,
        "faces_not_found": finder.not_found if finder else None,
        **{key: primary[key] for key in ("accuracy", "macro_recall", "macro_f1", "ece", "nll",
                                         "mean_confidence")},
        **{f"{key}_{view}": result[view][key]
           for key in ("accuracy", "macro_recall", "macro_f1", "ece")
           for view in ("plain", "flip_tta")},
        "classes": result["classes"],
        "per_class": primary["per_class"], "confusion_matrix": primary["confusion_matrix"],
        "reliability_bins": primary["reliability_bins"],
    }
    if args.out:
        what = (f"{model.architecture} on {kind} {args.split}"
                f"{', faces ' + args.faces if finder and finder.searched else ''}"
                f"{', ' + args.corrupt if args.corrupt else ''} ({label_set}, head "
                f"{result['head']}{', flip TTA' if args.tta else ''})")
        report["figure"] = str(plot_confusion(
            primary["confusion_matrix"], result["classes"], files["confusion"],
            f"{what}: acc {report['accuracy']:.3f}, macro recall "
            f"{report['macro_recall']:.3f}, macro-F1 {report['macro_f1']:.3f}"))
        report["reliability_figure"] = str(plot_reliability(
            primary["reliability_bins"], files["reliability"],
            f"{what}\nECE {report['ece']:.3f}, T {report['temperature']:.2f}"))
        write_json(files["eval"], report)
    print(json.dumps(report, indent=2) if args.json else format_table(report))
    return 0


def format_table(r: dict) -> str:
    """The report as text for people."""
    from ferkit.evaluation import searched_line

    s = r["samples"]
    excluded = [f"{n} {k}" for k, n in s["excluded_not_in_label_set"].items()]
    if s["excluded_no_majority"]:
        excluded.insert(0, f"{s['excluded_no_majority']} without a majority label")
    fold = f", subject fold {r['subject_fold']}" if r["subject_fold"] is not None else ""
    if r.get("corruption"):
        fold += f", corrupted: {r['corruption']} (seed {r['corruption_seed']})"
    lines = [
        f"model     {r['model']} ({r['architecture']}, head {r['head']}, "
        f"temperature {r['temperature']:.3g})",
        f"data      {r['data']} ({r['source']}, split {r['split']}{fold})",
        f"label set {r['label_set']}: {', '.join(r['classes'])}",
        f"samples   {s['evaluated']} evaluated"
        + (f"; excluded {', '.join(excluded)}" if excluded else ""),
        *([f"faces     {searched_line(r['faces_searched'], r['faces_not_found'], s['read'])}"]
          if r.get("faces_searched") else []),
        "",
        f"{'':<14}{'with mirror':>21}{'read once':>19}",
        *(f"{name:<14}{r[key + '_flip_tta']:>21.4f}{r[key + '_plain']:>19.4f}"
          for name, key in (("accuracy", "accuracy"), ("macro recall", "macro_recall"),
                            ("macro-F1", "macro_f1"), ("ECE (15 bins)", "ece"))),
        "",
        f"per class ({'with mirror' if r['tta'] else 'read once'}):",
        f"{'class':<10} {'precision':>9} {'recall':>7} {'f1':>7} {'support':>8}",
    ]
    for name, m in r["per_class"].items():
        lines.append(f"{name:<10} {m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>7.3f} "
                     f"{m['support']:>8d}")
    if r.get("figure"):
        lines += ["", f"confusion matrix:    {r['figure']}",
                  f"reliability diagram: {r['reliability_figure']}"]
    return "\n".join(lines)
