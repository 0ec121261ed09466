"""`ferkit image`: every face in photos (files or folders) with its expression, as rows."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ferkit.detect import DEFAULT_DETECTOR, DETECTORS
from ferkit.errors import FerkitError
from ferkit.labels import LABEL_SETS


def add_common_options(p: argparse.ArgumentParser, *, row_formats: bool = True) -> None:
    """Options every recognition command shares; `row_formats`: --json/--csv for text rows."""
    p.add_argument("--label-set", default="seed5", choices=sorted(LABEL_SETS),
                   help="emotions to report (default: seed5)")
    p.add_argument("--detector", default=DEFAULT_DETECTOR, metavar="SPEC",
                   help=f"name[:key=value,...]: {', '.join(DETECTORS)} (default: "
                        f"{DEFAULT_DETECTOR})")
    p.add_argument("--model", type=Path, default=None, help="an exported .onnx (default: shipped)")
    if not row_formats:
        return
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", dest="format", action="store_const", const="json",
                     help="one JSON object per face and line (default)")
    fmt.add_argument("--csv", dest="format", action="store_const", const="csv",
                     help="CSV with one row per face")
    p.set_defaults(format="json")


#: The argument that reads an image from stdin (a str: no Path equals it).
STDIN = "-"


def _read_stdin() -> bytes:
    from ferkit.errors import FerkitError
    from ferkit.imageio import MAX_FILE_BYTES, read_limited

    data = read_limited(sys.stdin.buffer, MAX_FILE_BYTES, "from stdin")
    if not data:
        raise FerkitError("stdin is empty: pipe an image into it (ferkit image - < photo.jpg)")
    return data


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("image", help="find faces and their expressions in photos")
    # Strings, not Paths: Path("./-") is "-", and only a bare '-' means stdin.
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="image files or folders; '-' reads one image from stdin")
    p.add_argument("--example", action="store_true", help="also analyse the built-in photo")
    p.add_argument("--annotate", type=Path, metavar="DIR",
                   help="write annotated copies into DIR (never over the inputs; inputs "
                        "with the same name from different folders keep their folders)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace annotated copies that already exist in DIR")
    p.add_argument("--tta", action=argparse.BooleanOptionalAction, default=None,
                   help="also classify each face mirrored and average the two (default: "
                        "as every photo path does, ferkit.recognizer.PHOTO_TTA: no)")
    add_common_options(p)
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ferkit.annotate import draw
    from ferkit.imageio import example_path, load_image
    from ferkit.labels import label_names
    from ferkit.outputs import expand_inputs, plan_outputs, writable_image_name, write_image
    from ferkit.recognizer import Recognizer
    from ferkit.rows import RowWriter, columns, face_rows

    paths = [STDIN if arg == STDIN else Path(arg) for arg in args.paths]
    paths += [example_path()] if args.example else []
    if not paths:
        raise FerkitError("give at least one image or folder (or --example)")
    if paths.count(STDIN) > 1:
        raise FerkitError("'-' given twice: stdin holds one image")
    inputs: list[tuple[Path | str, Path]] = []
    for path in paths:  # stdin is annotated as stdin.png; folders skip the annotated copies
        inputs += ([(STDIN, Path("stdin.png"))] if path == STDIN
                   else expand_inputs([path], skip=[args.annotate]))
    if not inputs:
        raise FerkitError("no images found in " + ", ".join(map(str, paths)))
    annotated = (plan_outputs([(p, writable_image_name(rel)) for p, rel in inputs],
                              args.annotate, overwrite=args.overwrite)
                 if args.annotate is not None else [None] * len(inputs))
    recognizer = Recognizer(args.model, detector=args.detector)
    names = label_names(args.label_set)
    writer = RowWriter(sys.stdout, args.format, columns(names, stream=False, leading=("path",)))
    failed = 0
    for (path, _), out in zip(inputs, annotated, strict=True):
        try:
            image = (load_image(_read_stdin(), name="stdin") if path == STDIN
                     else load_image(path))
            faces = recognizer.analyze(image, args.label_set, tta=args.tta)
            writer.write_all(face_rows(faces, names, path=str(path)))
            if not faces:
                print(f"ferkit: no face found in {path}", file=sys.stderr)
            if out is not None:
                write_image(out, draw(image, faces),
                            protect=[p for p, _ in inputs])
        except FerkitError as exc:
            failed += 1
            print(f"ferkit: error: {exc}", file=sys.stderr)
    if failed:
        if len(inputs) > 1:
            print(f"ferkit: {failed} of {len(inputs)} inputs failed", file=sys.stderr)
        return 1
    return 0
