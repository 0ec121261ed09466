"""Two finished ferkit models as one ONNX file: each head the mean of both calibrated answers.

    python tools/merge_pair.py lab/models/stage5o.onnx \\
        runs/scratch30-bgr-occlude/fernet.onnx --out runs/pair/fernet-uncalibrated.onnx
    ferkit calibrate runs/pair/fernet-uncalibrated.onnx ... --out runs/pair/fernet.onnx

(tools/make_pair.sh runs both, as the shipped model was made.)

The merged graph takes one input in the second model's form (its colour, size, mean and std);
a grey first model gets the input turned grey inside the graph with OpenCV's BGR2GRAY
weights (unrounded, where OpenCV rounds to whole grey levels: the grey member's answers move
by a few hundredths on some colour faces; the merged file is scored as it is). Each model's
own temperatures are applied inside the graph before averaging, so the
merged file starts at temperature 1 for every head and `ferkit calibrate` fits its own.
The two models must share emotions, heads, input size and normalisation.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, compose, helper, numpy_helper

from ferkit.model import model_sha256
from ferkit.outputs import atomic_write_bytes

#: cv2.COLOR_BGR2GRAY's weights in B, G, R order.
GRAY_BGR = (0.114, 0.587, 0.299)
_TINY = 1e-12


def _meta(model: onnx.ModelProto) -> dict:
    return {p.key: json.loads(p.value) for p in model.metadata_props}


def _check_pair(a: dict, b: dict) -> None:
    for key in ("emotions", "heads", "outputs", "label_set_heads", "input_size", "mean", "std",
                "resize"):
        if a.get(key) != b.get(key):
            raise SystemExit(f"merge_pair: the models differ in {key}: {a.get(key)} / {b.get(key)}")
    if b.get("color") != "bgr" and a.get("color") != b.get("color"):
        raise SystemExit("merge_pair: give the colour model second")
    folds = [m.get("training", {}).get("config", {}).get("data", {}).get("val_fold", 0)
             for m in (a, b)]
    if folds[0] != folds[1]:  # the merged file keeps one; CK+'s held-out subjects must agree
        raise SystemExit(f"merge_pair: the models hold out different CK+ folds: {folds}")


def merge(first: Path, second: Path) -> onnx.ModelProto:
    """The merged model (metadata: the second model's, temperatures 1, `ensemble` added)."""
    a_model, b_model = onnx.load(first), onnx.load(second)
    a, b = _meta(a_model), _meta(b_model)
    _check_pair(a, b)
    a_model, b_model = compose.add_prefix(a_model, "a/"), compose.add_prefix(b_model, "b/")
    input_name = b["input_name"]
    nodes, inits = [], []
    # The shared input feeds the colour branch as is and the grey branch through Conv(1x1).
    if a.get("color", "gray") == "gray" and b.get("color") == "bgr":
        # Normalised grey = sum_c w_c * normalised channel c, since the weights sum to 1 and
        # every channel shares mean and std.
        w = np.asarray(GRAY_BGR, np.float32).reshape(1, 3, 1, 1)
        inits.append(numpy_helper.from_array(w, "gray_weights"))
        nodes.append(helper.make_node("Conv", [input_name, "gray_weights"],
                                      ["a/" + a["input_name"]]))
    else:
        nodes.append(helper.make_node("Identity", [input_name], ["a/" + a["input_name"]]))
    nodes.append(helper.make_node("Identity", [input_name], ["b/" + b["input_name"]]))
    nodes += [*a_model.graph.node, *b_model.graph.node]
    inits.append(numpy_helper.from_array(np.asarray(_TINY, np.float32), "tiny"))
    inits.append(numpy_helper.from_array(np.asarray(0.5, np.float32), "half"))
    outputs = []
    for head in a["heads"]:
        out = a["outputs"][head]
        calibrated = []
        for tag, meta in (("a", a), ("b", b)):
            t = float(meta.get("temperatures", {}).get(head, 1.0))
            inits.append(numpy_helper.from_array(np.asarray(1.0 / t, np.float32),
                                                 f"{tag}/inv_t_{head}"))
            src = f"{tag}/{out}"
            nodes += [
                helper.make_node("Max", [src, "tiny"], [f"{src}/floor"]),
                helper.make_node("Log", [f"{src}/floor"], [f"{src}/log"]),
                helper.make_node("Mul", [f"{src}/log", f"{tag}/inv_t_{head}"], [f"{src}/scaled"]),
                helper.make_node("Softmax", [f"{src}/scaled"], [f"{src}/calibrated"], axis=-1),
            ]
            calibrated.append(f"{src}/calibrated")
        nodes += [helper.make_node("Add", calibrated, [f"{out}/sum"]),
                  helper.make_node("Mul", [f"{out}/sum", "half"], [out])]
        outputs.append(helper.make_tensor_value_info(out, TensorProto.FLOAT,
                                                     ["batch", len(a["emotions"])]))
    graph = helper.make_graph(
        nodes, "fernet_pair",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT,
                                       ["batch", 3 if b.get("color") == "bgr" else 1,
                                        b["input_size"], b["input_size"]])],
        outputs,
        [*inits, *a_model.graph.initializer, *b_model.graph.initializer],
        value_info=[*a_model.graph.value_info, *b_model.graph.value_info])
    opsets: dict[str, int] = {}
    for o in [*a_model.opset_import, *b_model.opset_import]:
        opsets[o.domain] = max(opsets.get(o.domain, 0), o.version)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, v)
                                                    for d, v in opsets.items()])
    model.ir_version = max(a_model.ir_version, b_model.ir_version)
    meta = dict(b)
    meta["architecture"] = f"{a['architecture']} + {b['architecture']} (mean of two networks)"
    meta["temperatures"] = {h: 1.0 for h in b["heads"]}
    meta["ensemble"] = {"members": [str(first), str(second)],
                        "member_sha256": [model_sha256(first), model_sha256(second)],
                        "member_colors": [a.get("color", "gray"), b.get("color", "gray")],
                        "member_temperatures": [a.get("temperatures", {}),
                                                b.get("temperatures", {})]}
    helper.set_model_props(model, {key: json.dumps(value) for key, value in meta.items()})
    onnx.checker.check_model(model)
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("first", type=Path, help="finished model (grey or colour)")
    parser.add_argument("second", type=Path, help="finished model; its input form is the file's")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    model = merge(args.first, args.second)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.out, model.SerializeToString())
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
