"""Fit a new linear head on an exported model's frozen features and add it to the ONNX file.

Training the network costs hours on a 2-core CPU; a head on its frozen 256-d features (both
networks' 512 in the shipped pair) costs one forward pass over the faces and seconds of
fitting. That is how a new label source (a dataset, or faces a user collected) gets its own
head without retraining the backbone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ferkit.errors import FerkitError
from ferkit.labels import EMOTIONS, LABEL_SETS
from ferkit.outputs import AtomicFile
from ferkit.pixels import network_input
from ferkit.train.config import CLASS_WEIGHT_POWER

#: Logit given to emotions the training labels never use, so the head never predicts them.
ABSENT_LOGIT = -30.0


@dataclass(frozen=True)
class LinearHead:
    """A linear head: logits = features @ weight.T + bias over `ferkit.labels.EMOTIONS`."""

    weight: np.ndarray  # (len(EMOTIONS), feature dim) float32
    bias: np.ndarray    # (len(EMOTIONS),) float32

    def probabilities(self, features: np.ndarray) -> np.ndarray:
        z = features @ self.weight.T + self.bias
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)


def _load(path: Path):
    import onnx

    try:
        return onnx.load(str(path))
    except Exception as exc:  # onnx raises DecodeError, OSError, ... for unreadable files
        raise FerkitError(f"{path}: not a readable ONNX model ({exc})") from None


def _meta(model) -> dict:
    return {p.key: json.loads(p.value) for p in model.metadata_props}


#: What a head on a file of several networks (tools/merge_pair.py) reads: every network's
#: features side by side, so one linear head weighs both.
JOINT_FEATURES = "features_joint"


def feature_tensors(model) -> list[str]:
    """The pooled-feature tensors the model's heads read, one per network in graph order
    (a merged pair has two), or `JOINT_FEATURES` once a head has joined them."""
    names = list(dict.fromkeys(n.input[0] for n in model.graph.node if n.op_type == "Gemm"))
    if JOINT_FEATURES in names:
        return [JOINT_FEATURES]
    networks = len(_meta(model).get("ensemble", {}).get("members", [])) or 1
    if len(names) != networks:
        raise FerkitError("cannot find the model's shared features (expected every head of "
                          f"its {networks} network(s) to be one Gemm on that network's "
                          f"features, found {len(names)} inputs)")
    return names


def model_features(path: Path, faces: np.ndarray, *, threads: int | None = None,
                   batch: int = 256) -> np.ndarray:
    """Features (N, D) of uint8 faces (N, S, S) gray or (N, S, S, 3) BGR, the size and colour
    the model takes, normalised as its metadata says, `batch` faces at a time under one
    progress bar; a file of several networks gives their features side by side."""
    import onnx
    import onnxruntime as ort

    from ferkit.progress import progress
    from ferkit.runtime import session_options

    model = _load(path)
    meta = _meta(model)
    names = feature_tensors(model)
    model.graph.output.extend(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT,
                                                                 None) for name in names)
    session = ort.InferenceSession(model.SerializeToString(), session_options(threads),
                                   providers=["CPUExecutionProvider"])
    parts = []
    for start in progress(range(0, len(faces), batch), "features", unit="batch"):
        # Normalised a batch at a time: the float copy of every face at once is 4x the input.
        x = network_input(faces[start : start + batch], meta["mean"], meta["std"])
        parts.append(np.concatenate(session.run(names, {meta["input_name"]: x}), axis=1))
    return np.concatenate(parts) if parts else np.zeros((0, 0), np.float32)


def fit_linear_head(features: np.ndarray, targets: np.ndarray, *, l2: float = 1e-4,
                    label_smoothing: float = 0.1,
                    class_weight_power: float = CLASS_WEIGHT_POWER,
                    sample_weight: np.ndarray | None = None, max_iter: int = 300) -> LinearHead:
    """Multinomial logistic regression on `features` against target distributions (N, 8).

    Classes no target uses get `ABSENT_LOGIT`; the others are weighted by frequency ** -power
    and the targets smoothed over them, as `ferkit train` does for its heads;
    `sample_weight` (N,) weighs items further (e.g. one source over another).
    """
    import torch

    from ferkit.train.loop import class_weights

    if len(features) != len(targets) or len(features) == 0:
        raise FerkitError("need as many targets as feature rows, and at least one")
    x = torch.as_tensor(features, dtype=torch.float32)
    t = torch.as_tensor(targets, dtype=torch.float32)
    class_w = class_weights(targets, class_weight_power)
    present = class_w > 0
    smooth = t * (1 - label_smoothing) + label_smoothing * present.float() / present.sum()
    item_w = class_w[t.argmax(1)]
    if sample_weight is not None:
        item_w = item_w * torch.as_tensor(sample_weight, dtype=torch.float32)
    absent = torch.where(present, torch.zeros(()), torch.full((), ABSENT_LOGIT))
    w = torch.zeros(x.shape[1], t.shape[1], requires_grad=True)
    b = torch.zeros(t.shape[1], requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=max_iter, history_size=20,
                            line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        logp = torch.log_softmax(x @ w + b + absent, dim=1)
        loss = (-(smooth * logp).sum(1) * item_w).sum() / item_w.sum() + l2 * (w ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    return LinearHead(w.detach().numpy().T.copy(), (b + absent).detach().numpy().copy())


def check_new_head(src: Path, meta: Mapping[str, Any], name: str,
                   serves: Sequence[str] = (), *, replace: bool = False,
                   loaded: Any = None) -> None:
    """FerkitError where `add_head` would refuse to add head `name` serving `serves` to the
    model at `src`, whose decoded metadata is `meta` (`ExpressionModel.metadata`) and whose
    ONNX graph is `loaded` (None: read from `src`): for callers to fail before minutes of
    fitting."""
    if not name.isidentifier():
        raise FerkitError(f"head name {name!r}: use letters, digits and _")
    if name in meta["heads"] and not replace:
        raise FerkitError(f"{src}: the model already has a head {name!r} (--replace refits it)")
    if replace and name not in meta["heads"]:
        raise FerkitError(f"{src}: no head {name!r} to replace; the model has "
                          f"{', '.join(meta['heads'])}")
    unknown = [s for s in serves if s not in LABEL_SETS]
    if unknown:
        raise FerkitError(f"unknown label set(s) {', '.join(unknown)}; "
                          f"choose from {', '.join(LABEL_SETS)}")
    feature_tensors(_load(src) if loaded is None else loaded)  # features it cannot find


def _drop_output(graph, output: str, keep: Sequence[str]) -> None:
    """Remove graph output `output` and every node and initializer that only it needed, but
    not what computes the tensors `keep`."""
    kept_outputs = [o for o in graph.output if o.name != output]
    del graph.output[:]
    graph.output.extend(kept_outputs)
    needed = {o.name for o in graph.output} | set(keep)
    kept = []
    for node in reversed(graph.node):  # ONNX keeps nodes in topological order
        if any(name in needed for name in node.output):
            kept.append(node)
            needed.update(node.input)
    del graph.node[:]
    graph.node.extend(reversed(kept))
    for field in (graph.initializer, graph.value_info, graph.input):
        still = [item for item in field if item.name in needed]
        del field[:]
        field.extend(still)


def add_head(src: Path, out: Path, name: str, head: LinearHead,
             serves: Sequence[str] = (), *, replace: bool = False) -> dict:
    """Write `src` plus a head `name` (Gemm + Softmax on the shared features) to `out`,
    atomically; `serves` lists the label sets the new head answers from now on. `replace`:
    the existing head `name` is removed first; it keeps its place and the label sets it
    answered, and loses its temperature (calibrate the new head again)."""
    import onnx
    from onnx import helper, numpy_helper

    model = _load(src)
    meta = _meta(model)
    check_new_head(src, meta, name, serves, replace=replace, loaded=model)
    if head.weight.shape[0] != len(EMOTIONS):
        raise FerkitError(f"a head has {len(EMOTIONS)} outputs, got {head.weight.shape[0]}")
    position = meta["heads"].index(name) if replace else len(meta["heads"])
    features = feature_tensors(model)  # before a replaced head's nodes go
    if replace:
        _drop_output(model.graph, meta["outputs"][name], keep=features)
        meta["heads"] = [h for h in meta["heads"] if h != name]
        meta.get("temperatures", {}).pop(name, None)
        for member in meta.get("ensemble", {}).get("member_temperatures", []):
            member.pop(name, None)  # the new head is no mean of the members' heads
    if len(features) > 1:
        model.graph.node.append(helper.make_node("Concat", features, [JOINT_FEATURES], axis=1,
                                                 name="/net/features_joint/Concat"))
        features = [JOINT_FEATURES]
    output = f"probs_{name}"
    logits = f"/net/{name}/Gemm_output_0"
    model.graph.initializer.extend([
        numpy_helper.from_array(head.weight.astype(np.float32), f"net.heads.{name}.weight"),
        numpy_helper.from_array(head.bias.astype(np.float32), f"net.heads.{name}.bias"),
    ])
    model.graph.node.extend([
        helper.make_node("Gemm", [features[0], f"net.heads.{name}.weight",
                                  f"net.heads.{name}.bias"], [logits], name=f"/net/{name}/Gemm",
                         transB=1),
        helper.make_node("Softmax", [logits], [output], axis=1, name=f"/net/{name}/Softmax"),
    ])
    model.graph.output.append(helper.make_tensor_value_info(
        output, onnx.TensorProto.FLOAT, ["batch", len(EMOTIONS)]))
    meta["heads"] = [*meta["heads"][:position], name, *meta["heads"][position:]]
    meta["outputs"] = {**meta["outputs"], name: output}
    meta["label_set_heads"] = {**meta["label_set_heads"], **{s: name for s in serves}}
    added = meta.setdefault("added_heads", {})
    added[name] = {"fitted_on_frozen_features": True, "features": features[0],
                   "emotions": [e for e, b in zip(EMOTIONS, head.bias, strict=True)
                                if b > ABSENT_LOGIT / 2]}  # what its training faces held
    onnx.helper.set_model_props(model, {k: json.dumps(v) for k, v in meta.items()})
    onnx.checker.check_model(model)
    with AtomicFile(out) as file:
        onnx.save(model, str(file.tmp))
    return meta
