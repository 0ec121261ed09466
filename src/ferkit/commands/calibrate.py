"""`ferkit calibrate`: fit each head's temperature on validation faces, write a new model file."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ferkit.commands import threads_count
from ferkit.errors import FerkitError

#: The head a source calibrates when `SOURCE=HEAD` does not name one.
DEFAULT_HEAD = {"fer2013": "fer2013", "fer2013csv": "fer2013", "ferplus": "ferplus",
                "rafdb": "rafdb", "ckplus": "posed", "jaffe": "posed"}


#: Below this on every validation face, a head is taken never to answer an emotion. A head
#: `ferkit head` fitted records what it learnt; `ferkit train`'s heads give emotions their
#: source lacks 1e-6 to 2e-5 at most, those it learnt 0.1 or more (the shipped heads on
#: CK+ and FER+). A temperature fitted on faces a head cannot answer flattens every answer.
NEVER_ANSWERED = 1e-4


def never_answered(model, head: str, probs, names: list[str]) -> list[str]:
    """The emotions of `names` that `head` never answers: those its `ferkit head` fit had no
    faces of (recorded in the model), else those under NEVER_ANSWERED on every face of
    `probs` (its uncalibrated probabilities over `names`)."""
    learnt = model.metadata.get("added_heads", {}).get(head, {}).get("emotions")
    if learnt is not None:
        return [n for n in names if n not in learnt]
    return [n for n, p in zip(names, probs.max(axis=0), strict=True) if p < NEVER_ANSWERED]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate", help="fit per-head temperatures so probabilities mean what they say",
        description="Fit a temperature per head (minimising the negative log-likelihood) on "
        "one half of each source's validation faces, report the expected calibration error "
        "(ECE, 15 bins) before and after on the other half, and write a copy of the model "
        "whose metadata carries the temperatures. The halves are fixed by a hash of the file "
        "names. Faces of emotions a head never answers (one `ferkit head` fitted without "
        "them) are left out of its fit and scores, with a note. Heads not calibrated keep "
        "the temperature they had. Needs the onnx package.")
    p.add_argument("model", type=Path,
                   help="ONNX model from `ferkit export` or `ferkit head`, or the shipped one")
    p.add_argument("--data", action="append", required=True, metavar="SOURCE[=HEAD]",
                   help="a dataset (folder, or KIND=PATH) whose validation split calibrates "
                        "HEAD (repeatable, one per head; default head by layout: FER2013 -> "
                        "fer2013, FER+ -> ferplus, RAF-DB -> rafdb, CK+ and JAFFE -> posed)")
    p.add_argument("--out", type=Path, required=True, help="the calibrated model to write")
    p.add_argument("--overwrite", action="store_true",
                   help="replace --out if it exists (it may then be MODEL itself)")
    p.add_argument("--min-faces", type=int, default=None,
                   help="fewest faces in a fitting half (default 200)")
    p.add_argument("--report", type=Path, default=None,
                   help="also write the report as JSON, with reliability diagrams of each "
                        "head's held-out half before and after beside it")
    p.add_argument("--threads", type=threads_count, default=None, help="ONNX Runtime threads")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=run)


def parse_data(spec: str, heads: tuple[str, ...]) -> tuple[str, str | None]:
    """`SOURCE=HEAD` -> (SOURCE, HEAD) when the part after the last '=' is a head of the
    model; otherwise the whole spec is a source (which may itself be KIND=PATH)."""
    source, sep, head = spec.rpartition("=")
    if sep and source and head in heads:
        return source, head
    if sep and source and Path(source).exists() and not Path(spec).exists():
        raise FerkitError(f"{spec}: the model has no head {head!r} (heads: {', '.join(heads)})")
    return spec, None


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from ferkit.calibration import MIN_FIT_FACES, fit_on_halves, write_temperatures
    from ferkit.datasets.sources import check_outside, parse_source, read_source
    from ferkit.errors import FerkitError
    from ferkit.evaluation import DEFAULT_LABEL_SET, plot_reliability, select, val_fold_of
    from ferkit.labels import label_names, project
    from ferkit.model import ExpressionModel
    from ferkit.outputs import check_outputs, write_json

    model = ExpressionModel(args.model, threads=args.threads)
    if args.min_faces is not None and args.min_faces < 1:
        raise FerkitError(f"--min-faces must be at least 1, got {args.min_faces}")
    jobs: dict[str, tuple[str, str]] = {}
    for spec in args.data:
        source, head = parse_data(spec, model.heads)
        kind, path = parse_source(source)
        head = head or DEFAULT_HEAD.get(kind)
        if head is None:
            raise FerkitError(f"{spec}: say which head this {kind} data calibrates, as "
                              f"SOURCE=HEAD (heads: {', '.join(model.heads)})")
        if head not in model.heads:
            raise FerkitError(f"{spec}: the model has no head {head!r} to calibrate on {kind} "
                              f"data (heads: {', '.join(model.heads)}); name one as "
                              "SOURCE=HEAD")
        if head in jobs:
            raise FerkitError(f"head {head!r} is calibrated by both {jobs[head][0]} and "
                              f"{source}; give one source per head")
        jobs[head] = (source, kind)
    figures = {(head, when): args.report.with_name(f"{args.report.stem}-{head}-{when}.png")
               for head in jobs for when in ("before", "after")} if args.report else {}
    # --out may be the model itself (with --overwrite); the report and figures never.
    check_outputs([args.report, *figures.values()], inputs=[args.model],
                  overwrite=args.overwrite)
    check_outputs([args.out, args.report, *figures.values()], overwrite=args.overwrite)
    check_outside([args.out, args.report, *figures.values()],
                  [source for source, _ in jobs.values()])

    val_fold = val_fold_of(model)
    results = {}
    for head, (source, kind) in jobs.items():
        label_set = DEFAULT_LABEL_SET.get(kind, "seed5")
        sel = select(read_source(source, splits=("val",), color=model.color), "val",
                     label_set, val_fold)
        if not sel.labels:
            why = (" (your own folders have no validation split: calibrate the head on a "
                   "dataset that has one and holds its emotions, e.g. RAF-DB as "
                   "PATH=HEAD)" if kind == "own" else "")
            raise FerkitError(f"{source}: no labelled validation faces to calibrate on{why}")
        raw = project(model.head_probabilities(sel.images, head, calibrated=False),
                      model.emotions, label_set)
        names = label_names(label_set)
        never = never_answered(model, head, raw, names)
        labels = np.asarray(sel.labels)
        keep = ~np.isin(labels, [names.index(n) for n in never])
        if not keep.all():
            left_out = sorted({names[i] for i in labels[~keep]})
            print(f"note: head {head} never answers {', '.join(left_out)}; their "
                  f"{(~keep).sum()} validation faces are left out of its calibration",
                  file=sys.stderr)
            if not keep.any():
                raise FerkitError(f"{source}: no validation faces of the emotions head "
                                  f"{head} answers")
        result = fit_on_halves(raw[keep], labels[keep],
                               [path for path, k in zip(sel.paths, keep, strict=True) if k],
                               temperature_before=model.temperatures[head],
                               min_faces=args.min_faces or MIN_FIT_FACES,
                               what=f"{source} (head {head})")
        results[head] = {"source": source, "kind": kind, "label_set": label_set,
                         "classes_never_answered": never, **result}

    written = write_temperatures(model.path, args.out,
                                 {h: r["temperature"] for h, r in results.items()})
    calibrated = ExpressionModel(written)  # the file reads back, temperatures included
    report = {"model": str(model.path), "out": str(written),
              "temperatures": dict(calibrated.temperatures), "heads": results}
    if args.report:
        for head, h in results.items():
            for when, t in (("before", h["temperature_before"]), ("after", h["temperature"])):
                h[f"reliability_figure_{when}"] = str(plot_reliability(
                    h[f"reliability_bins_{when}"], figures[head, when],
                    f"head {head}, {h['kind']} val held-out half ({h['faces_held_out']} "
                    f"faces)\nT {t:.3f}: ECE {h[f'ece_{when}']:.3f}"))
        write_json(args.report, report)
    print(json.dumps(report, indent=2) if args.json else format_table(report))
    return 0


def format_table(r: dict) -> str:
    """The report as text for people."""
    lines = [f"{'head':<9} {'data':<28} {'fit':>5} {'held-out':>8} {'T':>6} "
             f"{'ECE before':>10} {'after':>6} {'NLL before':>10} {'after':>6} {'accuracy':>8}"]
    for head, h in r["heads"].items():
        bound = " (search bound)" if h["at_search_bound"] else ""
        lines.append(f"{head:<9} {h['kind'] + ' val':<28} {h['faces_fit']:>5} "
                     f"{h['faces_held_out']:>8} {h['temperature']:>6.3f} "
                     f"{h['ece_before']:>10.4f} {h['ece_after']:>6.4f} "
                     f"{h['nll_before']:>10.4f} {h['nll_after']:>6.4f} "
                     f"{h['accuracy_held_out']:>8.4f}{bound}")
    kept = [f"{h}={t:g}" for h, t in r["temperatures"].items() if h not in r["heads"]]
    lines += ["", "ECE, NLL and accuracy on the held-out half; T fitted on the other half.",
              f"wrote {r['out']}" + (f" (other heads kept: {', '.join(kept)})" if kept else "")]
    return "\n".join(lines)
