"""`ferkit data stats` (class counts, duplicates, a sample-face grid) and `ferkit data pack`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ferkit.errors import FerkitError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("data", help="inspect datasets (counts, duplicates, sample faces)",
                       description="Inspect datasets in any layout ferkit reads.")
    actions = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    s = actions.add_parser(
        "stats", help="counts per source, class and split; duplicates; a sample grid",
        description="Count images per source, class and split; find exact and near duplicates "
                    "within each source and the training copies of validation faces that "
                    "combining removes; with --out, draw sample faces per class to "
                    "OUT/samples.png and keep the counts in OUT/stats.json.")
    s.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="dataset folder or file (layout detected), or KIND=PATH")
    s.add_argument("--out", type=Path, default=None,
                   help="folder for samples.png and stats.json (default: print only)")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.add_argument("--cache-dir", type=Path, default=None,
                   help="reuse/write combined-dataset caches here (as `ferkit train` does)")
    s.add_argument("--label-set", default="ferplus", choices=("seed5", "fer2013", "ferplus"),
                   help="classes kept when combining (default ferplus: all eight)")
    s.add_argument("--val-fold", type=int, default=0,
                   help="subject fold held out for CK+/JAFFE validation (default 0)")
    s.add_argument("--per-class", type=int, default=8,
                   help="sample faces per source and class in the grid (default 8)")
    s.add_argument("--overwrite", action="store_true",
                   help="replace an earlier samples.png and stats.json in --out")
    s.set_defaults(run=run_stats)

    k = actions.add_parser(
        "pack", help="combine datasets into one compact file that `ferkit train` can use",
        description="Combine the sources as `ferkit train` does (de-duplicated, leak-free, "
                    "with validation folds) and write the result to one compact .npz: the "
                    "faces as lossless WebP. Train from it elsewhere with "
                    "--set data.prepared=FILE, without the original datasets.")
    k.add_argument("sources", nargs="+", metavar="SOURCE",
                   help="dataset folder or file (layout detected), or KIND=PATH")
    k.add_argument("--out", type=Path, required=True, help="the .npz file to write")
    k.add_argument("--label-set", default="ferplus", choices=("seed5", "fer2013", "ferplus"),
                   help="classes kept when combining (default ferplus: all eight)")
    k.add_argument("--val-fold", type=int, default=0,
                   help="subject fold held out for CK+/JAFFE validation (default 0)")
    k.add_argument("--cache-dir", type=Path, default=None,
                   help="reuse/write combined-dataset caches here (as `ferkit train` does)")
    k.add_argument("--input-size", type=int, default=48,
                   help="face side in pixels, as data.input_size (default 48)")
    k.add_argument("--color", default="gray",
                   help="gray or bgr, as data.color (default gray)")
    k.add_argument("--overwrite", action="store_true", help="replace --out if it exists")
    k.set_defaults(run=run_pack)


def _progress(message: str) -> None:
    # stderr, so that --json output on stdout stays machine-readable.
    print(message, file=sys.stderr, flush=True)


def run_stats(args: argparse.Namespace) -> int:
    from ferkit.datasets import stats
    from ferkit.datasets.sources import check_outside
    from ferkit.outputs import check_outputs, new_figure, write_json

    if args.per_class < 1:
        raise FerkitError("--per-class must be at least 1")
    if args.out is not None:  # the files' problems, before any work
        new_figure("ferkit data stats --out (its sample grid)")
        if args.out.exists() and not args.out.is_dir():
            raise FerkitError(f"--out {args.out}: a file, not a folder")
        check_outputs([args.out / "samples.png", args.out / "stats.json"],
                      overwrite=args.overwrite, hint="choose another --out")
        check_outside([args.out], args.sources)
    stats.check_sources(args.sources)
    sources = []
    for spec in args.sources:
        _progress(f"reading {spec} ...")
        sources.extend(stats.read_sources([spec]))
    _progress("finding duplicates and combining (a minute or more for FER2013 + FER+) ...")
    result = stats.collect_stats(sources, args.label_set, args.val_fold, args.cache_dir)
    grid = None
    if args.out is not None:
        try:
            grid = stats.sample_grid(sources, args.out / "samples.png", args.per_class)
            result["samples_png"] = str(grid)
            write_json(args.out / "stats.json", result)
        except OSError as exc:
            raise FerkitError(f"{args.out}: cannot write the report "
                              f"({exc.strerror or exc})") from None
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(stats.format_table(result), end="")
        print(f"\nsample grid: {grid}" if grid else
              "\n(--out DIR also draws a sample grid and keeps these counts as JSON)")
    return 0


def run_pack(args: argparse.Namespace) -> int:
    from ferkit.datasets import stats
    from ferkit.datasets.combine import load_combined
    from ferkit.datasets.sources import check_outside
    from ferkit.outputs import check_outputs
    from ferkit.pixels import check_input

    if args.out.suffix != ".npz":
        raise FerkitError(f"{args.out}: the packed file's name must end in .npz")
    check_outputs([args.out], overwrite=args.overwrite, hint="choose another --out")
    check_outside([args.out], args.sources)
    check_input(args.input_size, args.color, "pack")
    stats.check_sources(args.sources)
    _progress("reading and combining (a minute or more for FER2013 + FER+) ...")
    data = load_combined(args.sources, args.label_set, args.cache_dir, args.val_fold,
                         input_size=args.input_size, color=args.color)
    try:
        data.save(args.out, compact=True)
    except OSError as exc:
        raise FerkitError(f"{args.out}: cannot write ({exc.strerror or exc})") from None
    counts = {split: int((data.split == split).sum()) for split in ("train", "val")}
    print(f"{args.out}: {len(data)} faces ({counts['train']} train, {counts['val']} val), "
          f"{args.out.stat().st_size / 1e6:.1f} MB")
    return 0
