"""`ferkit export`: turn a training checkpoint into the ONNX model ferkit runs on."""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("export",
                       help="export a training checkpoint to ONNX (needs the train extra)")
    p.add_argument("checkpoint", type=Path,
                   help="best.pt or last.pt written by `ferkit train`, or an fp32 .onnx model "
                        "to quantise (with --int8-calibration)")
    p.add_argument("--out", type=Path, required=True, help="ONNX file to write")
    p.add_argument("--overwrite", action="store_true", help="replace OUT if it exists")
    p.add_argument("--opset", type=int, default=None, help="ONNX opset, 13 to 20 (default 17)")
    p.add_argument("--head", dest="heads", action="append", default=[], metavar="LABELSET=HEAD",
                   help="which head serves a label set, e.g. seed5=ferplus (repeatable; "
                        "defaults: seed5=fer2013, fer2013=fer2013, ferplus=ferplus)")
    p.add_argument("--fp16-weights", action="store_true",
                   help="store weights at half precision (half the file; fp32 compute)")
    p.add_argument("--int8-calibration", metavar="SOURCE", action="append", default=[],
                   help="quantise to int8, calibrated on 512 training-split faces of SOURCE "
                        "(repeatable: 512 of each)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from ferkit.datasets.sources import check_outside
    from ferkit.errors import FerkitError
    from ferkit.outputs import check_outputs
    from ferkit.train.export import DEFAULT_OPSET, OPSETS, export_checkpoint, parse_head_choices

    check_outputs([args.out], inputs=[args.checkpoint], overwrite=args.overwrite)
    check_outside([args.out], args.int8_calibration)  # a bad source fails before any work
    if args.opset is not None and args.opset not in OPSETS:
        raise FerkitError(f"--opset {args.opset}: choose {OPSETS.start} to {OPSETS.stop - 1}")
    if args.checkpoint.suffix.lower() == ".onnx":
        if not args.int8_calibration:
            raise FerkitError("an .onnx input is only quantised: give --int8-calibration SOURCE")
        _quantise(args.checkpoint, args)
        return 0
    with tempfile.TemporaryDirectory(prefix="ferkit-export-") as tmp:
        # Asked for int8, the fp32 graph is an intermediate: it never lands at --out, so a
        # calibration that fails leaves nothing there.
        fp32 = Path(tmp) / "fp32.onnx" if args.int8_calibration else args.out
        result = export_checkpoint(args.checkpoint, fp32, opset=args.opset or DEFAULT_OPSET,
                                   label_set_heads=parse_head_choices(args.heads),
                                   fp16_weights=args.fp16_weights)
        mapping = json.loads(result["metadata"]["label_set_heads"])
        size_mb = fp32.stat().st_size / 1e6
        stored = "fp16-stored weights, fp32 compute" if args.fp16_weights else "fp32"
        print(f"exported {stored} ({size_mb:.1f} MB, heads {', '.join(result['heads'])})"
              + ("" if args.int8_calibration else f": {args.out}"))
        print("label set -> head: " + ", ".join(f"{k}={v}" for k, v in mapping.items()))
        print(f"ONNX Runtime vs torch: max |diff| {result['max_abs_diff']:.2e}")
        if args.int8_calibration:
            _quantise(fp32, args)
    return 0


def _quantise(src: Path, args: argparse.Namespace) -> None:
    import numpy as np

    from ferkit.datasets.sources import read_source
    from ferkit.model import ExpressionModel
    from ferkit.train.quantize import calibration_faces, quantize_int8, refuse_int8

    model = ExpressionModel(src)  # the faces it takes: its size and colour
    refuse_int8(src, model.metadata)  # before reading faces
    faces = np.concatenate([
        calibration_faces(read_source(spec, splits=("train",), color=model.color),
                          size=model.input_size, color=model.color)
        for spec in args.int8_calibration])
    quantize_int8(src, args.out, faces)
    size_mb = args.out.stat().st_size / 1e6
    print(f"quantised to int8 on {len(faces)} training faces: {args.out} ({size_mb:.1f} MB)")
