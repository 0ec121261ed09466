"""Classifier speed on this CPU with ONNX Runtime: faces/s at batch 32 and ms for one face."""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def _session(path: Path, threads: int):
    import onnxruntime as ort

    from ferkit.runtime import session_options

    # The settings ExpressionModel runs with, so the raw rows time what users get.
    return ort.InferenceSession(str(path), session_options(threads),
                                providers=["CPUExecutionProvider"])


def _input_shape(session, batch: int) -> tuple[int, ...]:
    # Works for any single-input image model: symbolic dims become the batch or 48.
    meta = session.get_modelmeta().custom_metadata_map
    size = int(json.loads(meta.get("input_size", "48")))
    dims = session.get_inputs()[0].shape
    return tuple([batch] + [d if isinstance(d, int) else size for d in dims[1:]])


def cpu_description() -> dict:
    """The first CPU's model name and the instruction sets int8 convolutions run on, from
    /proc/cpuinfo (Linux; elsewhere the flags are unknown, None), and ONNX Runtime's version:
    int8 speed differs most between CPUs with and without VNNI."""
    import onnxruntime as ort

    described: dict = {"cpu_model": platform.processor() or platform.machine(),
                       "cpu_int8_flags": None, "onnxruntime": ort.__version__}
    try:
        first = Path("/proc/cpuinfo").read_text().split("\n\n")[0]
    except OSError:
        return described
    fields = {k.strip(): v.strip() for k, v in
              (line.split(":", 1) for line in first.splitlines() if ":" in line)}
    described["cpu_model"] = fields.get("model name", described["cpu_model"])
    if "flags" in fields:
        flags = set(fields["flags"].split())
        wanted = ("avx2", "avx512f", "avx_vnni", "avx512_vnni", "amx_int8")
        described["cpu_int8_flags"] = [f for f in wanted if f in flags]
    return described


def _median_ms(fn, runs: int, warmup_s: float) -> tuple[float, float]:
    """Median and 10th-90th percentile spread of `fn` in ms, after a timed warm-up.

    The warm-up lasts seconds, not calls: a 2-thread pool runs at 1-thread speed for about
    its first second.
    """
    end = time.perf_counter() + warmup_s
    while time.perf_counter() < end:
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    q = statistics.quantiles(times, n=10)
    return statistics.median(times), q[-1] - q[0]


def bench(path: Path, threads: int, batch: int, runs: int, warmup_s: float) -> dict:
    session = _session(path, threads)
    name = session.get_inputs()[0].name
    rng = np.random.default_rng(0)
    x1 = rng.normal(size=_input_shape(session, 1)).astype(np.float32)
    xb = rng.normal(size=_input_shape(session, batch)).astype(np.float32)
    one, one_spread = _median_ms(lambda: session.run(None, {name: x1}), runs, warmup_s)
    many, many_spread = _median_ms(lambda: session.run(None, {name: xb}), runs, warmup_s)
    result = {
        "model": str(path), "threads": threads, "batch": batch, "runs": runs,
        "ms_single_face": one, "ms_single_face_p10_p90_spread": one_spread,
        f"ms_batch_{batch}": many, f"ms_batch_{batch}_p10_p90_spread": many_spread,
        f"faces_per_s_batch_{batch}": batch / many * 1000,
        "cpus": os.cpu_count(), **cpu_description(),
    }
    meta = session.get_modelmeta().custom_metadata_map
    if "emotions" in meta:  # a ferkit model: also time the public path, preprocessing included
        from ferkit.model import ExpressionModel

        model = ExpressionModel(path, threads=threads)
        crops = [rng.integers(0, 256, (96, 96, 3), dtype=np.uint8) for _ in range(batch)]
        ms, _ = _median_ms(lambda: model.probabilities(crops, "seed5"), runs, warmup_s)
        result[f"ms_probabilities_{batch}_bgr96_crops"] = ms
        # One face with its mirror (`--tta`) and once (the default for photos and video).
        for tta, key in ((True, "ms_probabilities_1_mirrored"),
                         (False, "ms_probabilities_1_once")):
            result[key], _ = _median_ms(
                lambda t=tta: model.probabilities(crops[:1], "seed5", tta=t), runs, warmup_s)
        result["architecture"] = model.architecture
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", type=Path, default=None,
                        help="any .onnx with one image input (default: the shipped model)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--warmup", type=float, default=2.0, help="warm-up seconds per case")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.model is None:
        from ferkit.model import shipped_model_path

        args.model = shipped_model_path()
    if not args.model.is_file():
        print(f"bench_classifier: {args.model}: no such model file", file=sys.stderr)
        return 1
    r = bench(args.model, args.threads, args.batch, args.runs, args.warmup)
    if args.json:
        print(json.dumps(r, indent=2))
        return 0
    b = args.batch
    print(f"{r['model']} ({r.get('architecture', 'onnx')}), ONNX Runtime, {r['threads']} "
          f"threads, median of {r['runs']} runs after warm-up")
    flags = r["cpu_int8_flags"]
    shown = "int8 flags unknown" if flags is None else ", ".join(flags) or "no AVX2"
    print(f"CPU: {r['cpu_model']} ({shown}); ONNX Runtime {r['onnxruntime']}")
    print(f"{'case':<36} {'median ms':>10} {'p10-p90':>8} {'faces/s':>9}")
    print(f"{'1 face':<36} {r['ms_single_face']:>10.3f} "
          f"{r['ms_single_face_p10_p90_spread']:>8.3f} {1000 / r['ms_single_face']:>9.0f}")
    print(f"{f'batch of {b}':<36} {r[f'ms_batch_{b}']:>10.3f} "
          f"{r[f'ms_batch_{b}_p10_p90_spread']:>8.3f} {r[f'faces_per_s_batch_{b}']:>9.0f}")
    key = f"ms_probabilities_{b}_bgr96_crops"
    if key in r:
        print(f"{f'probabilities(), {b} BGR 96x96 crops':<36} {r[key]:>10.3f} {'':>8} "
              f"{b / r[key] * 1000:>9.0f}")
        for key, case in (("ms_probabilities_1_mirrored", "probabilities(), 1 face + mirror"),
                          ("ms_probabilities_1_once", "probabilities(), 1 face, tta=False")):
            print(f"{case:<36} {r[key]:>10.3f} {'':>8} {1000 / r[key]:>9.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
