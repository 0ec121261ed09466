"""Robustness: a model's validation scores with each seeded corruption applied to the faces.

    python benchmarks/robustness.py ../shared/datasets [--model M.onnx] [--out docs/eval/robustness]

Validation faces only: FER2013 PublicTest (FER2013's 7 classes), FER+ Valid (majority
protocol, 8 classes) and RAF-DB's fixed hash validation split (FER2013's 7 classes), each
scored by the head the model assigns to that label set (the default user path; `--head
rafdb=HEAD` overrides). Each corruption of `ferkit.corruptions` is applied at the face's own
resolution with a generator seeded by (seed, face index, corruption), so a rerun gives the
same faces. Scores without TTA: accuracy, macro recall (mean per-class recall) and ECE, in %.
Prints a markdown table; `--out` also writes robustness.md and robustness.json there.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from ferkit.corruptions import CORRUPTIONS, corrupt_all
from ferkit.datasets.sources import read_source
from ferkit.errors import FerkitError
from ferkit.evaluation import DEFAULT_LABEL_SET, Selection, evaluate_selection, select
from ferkit.labels import label_names
from ferkit.model import ExpressionModel, shipped_model_path
from ferkit.outputs import atomic_write_bytes, write_json

#: (key, column title, folder under the datasets root); label sets follow `ferkit evaluate`.
DATASETS = (("fer2013", "FER2013 val", "fer2013"), ("ferplus", "FER+ Valid", "ferplus"),
            ("rafdb", "RAF-DB val", "rafdb"))
CLEAN = "clean"


def score(model: ExpressionModel, sel: Selection, label_set: str, head: str | None) -> dict:
    result = evaluate_selection(model, sel, label_set, head, tta=False)
    plain = result["plain"]
    return {"head": result["head"], "accuracy": plain["accuracy"],
            "macro_recall": plain["macro_recall"], "macro_f1": plain["macro_f1"],
            "ece": plain["ece"]}


def markdown(report: dict) -> str:
    sets = report["datasets"]
    head = "| corruption | " + " | ".join(
        f"{s['title']} acc | {s['title']} macro recall" for s in sets.values()) + " |"
    lines = [head, "|---|" + "---:|" * (2 * len(sets))]
    for name in report["conditions"]:
        cells = []
        for s in sets.values():
            r, clean = s["scores"][name], s["scores"][CLEAN]
            for metric in ("accuracy", "macro_recall"):
                drop = "" if name == CLEAN else f" ({100 * (r[metric] - clean[metric]):+.1f})"
                cells.append(f"{100 * r[metric]:.1f}{drop}")
        what = report["descriptions"].get(name, "as stored")
        lines.append(f"| {name}: {what} | " + " | ".join(cells) + " |")
    faces = ", ".join(f"{s['title']} {s['faces']:,} faces ({s['label_set']}, head {s['head']})"
                      for s in sets.values())
    return "\n".join(lines) + f"\n\n{faces}; in %, change from clean in brackets.\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("datasets", type=Path, help="folder holding fer2013/, ferplus/, rafdb/")
    parser.add_argument("--model", type=Path, default=None,
                        help="an exported .onnx (default: the shipped one)")
    parser.add_argument("--head", action="append", default=[], metavar="DATASET=HEAD",
                        help="score DATASET (fer2013, ferplus, rafdb) with HEAD (repeatable)")
    parser.add_argument("--only", action="append", default=None, metavar="CORRUPTION",
                        help="run only these corruptions (repeatable; default all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads")
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for robustness.md and robustness.json")
    args = parser.parse_args(argv)
    heads = dict(item.partition("=")[::2] for item in args.head)
    if any(key not in {k for k, _, _ in DATASETS} or not head for key, head in heads.items()):
        parser.error(f"--head takes DATASET=HEAD with DATASET one of "
                     f"{', '.join(k for k, _, _ in DATASETS)}, got {args.head}")
    names = args.only or list(CORRUPTIONS)
    unknown = [n for n in names if n not in CORRUPTIONS]
    if unknown:
        parser.error(f"unknown corruption {', '.join(unknown)} (known: {', '.join(CORRUPTIONS)})")
    model = ExpressionModel(args.model or shipped_model_path(), threads=args.threads)
    started = time.perf_counter()
    # Relative to where it runs, so a report kept in the repository names no machine's path.
    shown = Path(os.path.relpath(model.path)) if Path(model.path).is_relative_to(Path.cwd()) \
        else model.path
    report = {"model": str(shown), "architecture": model.architecture,
              "temperatures": dict(model.temperatures), "seed": args.seed,
              "command": "python benchmarks/robustness.py " + " ".join(
                  argv if argv is not None else sys.argv[1:]),
              "conditions": [CLEAN, *names],
              "descriptions": {n: CORRUPTIONS[n].description for n in names},
              "datasets": {}}
    for key, title, folder in DATASETS:
        path = args.datasets / folder
        if not path.is_dir():
            print(f"skipping {title}: no {path}", file=sys.stderr)
            continue
        label_set = DEFAULT_LABEL_SET[key]
        # In the model's colour, as `ferkit evaluate` reads them.
        sel = select(read_source(f"{key}={path}", splits=("val",), color=model.color), "val",
                     label_set)
        entry = {"title": title, "data": str(path), "label_set": label_set,
                 "faces": len(sel.labels), "scores": {},
                 "class_counts": dict(zip(label_names(label_set), np.bincount(
                     sel.labels, minlength=len(label_names(label_set))).tolist(), strict=True))}
        for name in [CLEAN, *names]:
            images = sel.images if name == CLEAN else corrupt_all(sel.images, name, args.seed)
            variant = Selection(images=images, labels=sel.labels, paths=sel.paths)
            entry["scores"][name] = score(model, variant, label_set, heads.get(key))
            r = entry["scores"][name]
            print(f"{title:<12} {name:<11} acc {100 * r['accuracy']:5.1f}  macro recall "
                  f"{100 * r['macro_recall']:5.1f}  ECE {100 * r['ece']:5.1f}", file=sys.stderr,
                  flush=True)
        entry["head"] = entry["scores"][CLEAN]["head"]
        report["datasets"][key] = entry
    report["seconds"] = round(time.perf_counter() - started, 1)
    table = markdown(report)
    print(table)
    if args.out:
        text = (f"# Robustness of {model.path.name} ({model.architecture})\n\n"
                f"`{report['command']}` ({report['seconds']:.0f} s)\n\n{table}")
        atomic_write_bytes(args.out / "robustness.md", text.encode())
        write_json(args.out / "robustness.json", report)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except FerkitError as exc:
        sys.exit(f"robustness.py: error: {exc}")
