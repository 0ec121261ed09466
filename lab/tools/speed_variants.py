"""Faces/s of candidate architectures before training any: issue #20's speed target.

Each variant of `ExpressionNet` is built with random weights (batch-norm statistics from a few
forward passes), exported and quantised to int8 by ferkit's own path (`export_onnx`,
`quantize_int8`: the shipped file's format), then timed by `benchmarks/bench_classifier.py` in
a fresh process, `--rounds` times in turn with the shipped model. Speed does not depend on the
weights, so this says which architectures can reach 1,000 faces/s before hours of training.

    python lab/tools/speed_variants.py --out lab/eval/speed-variants   # ~5 min, idle cores
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

from ferkit.model import shipped_model_path
from ferkit.train.export import export_onnx
from ferkit.train.models import ExpressionNet
from ferkit.train.quantize import quantize_int8

ROOT = Path(__file__).resolve().parents[2]
#: name: (widths, blocks per stage); "fernet_s" is the shipped architecture.
VARIANTS = {"fernet_s": ((32, 64, 128, 256), (2, 2, 2)),
            "one block per stage": ((32, 64, 128, 256), (1, 1, 1)),
            "2-1-1 blocks": ((32, 64, 128, 256), (2, 1, 1)),
            "widths x0.75": ((24, 48, 96, 192), (2, 2, 2))}
HEADS = ("fer2013", "ferplus", "posed", "rafdb")


def build(widths, blocks, channels: int, folder: Path, name: str) -> Path:
    """An int8 file of the variant, made as `ferkit export` makes the shipped one."""
    torch.manual_seed(0)
    net = ExpressionNet(widths, blocks, HEADS, in_channels=channels)
    net.train()
    with torch.no_grad():  # batch-norm statistics of a plausible scale
        for _ in range(5):
            net(torch.randn(64, channels, 48, 48))
    net.eval()
    fp32, int8 = folder / f"{name}.onnx", folder / f"{name}-int8.onnx"
    export_onnx(net, fp32, architecture="fernet_s")
    shape = (128, 48, 48) if channels == 1 else (128, 48, 48, 3)
    quantize_int8(fp32, int8, np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8))
    return int8


def bench(model: Path, runs: int) -> dict:
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_classifier.py"),
                          "--model", str(model), "--runs", str(runs), "--warmup", "1",
                          "--json"],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for results.md/json")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=60)
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        files = {"shipped (fernet_s, grey, trained)": shipped_model_path()}
        for name, (widths, blocks) in VARIANTS.items():
            for colour, channels in (("grey", 1), ("colour", 3)):
                slug = f"{name}-{colour}".replace(" ", "_")
                files[f"{name}, {colour}"] = build(widths, blocks, channels, Path(tmp), slug)
        timings: dict[str, list[dict]] = {label: [] for label in files}
        for _ in range(args.rounds):  # in turn, so a slow spell of the machine hits them all
            for label, path in files.items():
                timings[label].append(bench(path, args.runs))
    rows = []
    for label, results in timings.items():
        faces = [r["faces_per_s_batch_32"] for r in results]
        one = [r["ms_single_face"] for r in results]
        rows.append({"variant": label, "faces_per_s_batch_32": faces, "ms_single_face": one})
    (args.out / "results.json").write_text(json.dumps(rows, indent=2) + "\n")
    lines = ["| variant | faces/s at batch 32 (median of rounds; range) | ms for 1 face |",
             "|---|---|---|"]
    for row in rows:
        f, m = row["faces_per_s_batch_32"], row["ms_single_face"]
        lines.append(f"| {row['variant']} | {statistics.median(f):.0f} ({min(f):.0f}-"
                     f"{max(f):.0f}) | {statistics.median(m):.2f} ({min(m):.2f}-{max(m):.2f}) |")
    (args.out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
