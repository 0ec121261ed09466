"""Export a trained expression CNN to ONNX with softmax outputs and self-describing metadata."""

from __future__ import annotations

import json
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ferkit import __version__
from ferkit.errors import FerkitError
from ferkit.labels import EMOTIONS, LABEL_SETS
from ferkit.onnxweights import store_weights_fp16
from ferkit.outputs import AtomicFile
from ferkit.pixels import CHANNELS, DEFAULT_COLOR, DEFAULT_SIZE, check_input
from ferkit.train.checkpoint import load_checkpoint
from ferkit.train.config import data_input
from ferkit.train.loop import MEAN, STD

INPUT_NAME = "faces"
OUTPUT_PREFIX = "probs_"
DEFAULT_OPSET = 17
#: The opsets `torch.onnx.export` (TorchScript exporter) writes and ferkit's graphs load in.
OPSETS = range(13, 21)
#: Version of the metadata layout below; readers refuse models with a newer major version.
FORMAT_VERSION = 1
#: Preferred head per label set; a model lacking that head falls back as `resolve_label_set_heads`.
DEFAULT_LABEL_SET_HEADS = {"seed5": "fer2013", "fer2013": "fer2013", "ferplus": "ferplus"}


class _Probabilities(nn.Module):
    """Wraps a multi-head net so the graph returns one softmax tensor per head, in a fixed order."""

    def __init__(self, net: nn.Module, heads: Sequence[str]):
        super().__init__()
        self.net = net
        self.heads = tuple(heads)

    def forward(self, faces: torch.Tensor) -> tuple[torch.Tensor, ...]:
        logits = self.net(faces)
        return tuple(torch.softmax(logits[h], dim=1) for h in self.heads)


def resolve_label_set_heads(heads: Sequence[str],
                            chosen: Mapping[str, str] | None = None) -> dict[str, str]:
    """Which head serves each label set: `chosen` entries, else the defaults, else a fallback.

    The fallback (the FER+ head, else the first head) covers models trained on fewer sources.
    """
    chosen = dict(chosen or {})
    for label_set, head in chosen.items():
        if label_set not in LABEL_SETS:
            raise FerkitError(f"unknown label set {label_set!r}; choose one of "
                              f"{', '.join(LABEL_SETS)}")
        if head not in heads:
            raise FerkitError(f"label set {label_set!r}: the model has no head {head!r} "
                              f"(heads: {', '.join(heads)})")
    fallback = "ferplus" if "ferplus" in heads else heads[0]
    out = {}
    for label_set in LABEL_SETS:
        head = chosen.get(label_set) or DEFAULT_LABEL_SET_HEADS.get(label_set, fallback)
        out[label_set] = head if head in heads else fallback
    return out


def parse_head_choices(items: Sequence[str]) -> dict[str, str]:
    """Parse command-line `LABELSET=HEAD` pairs."""
    out = {}
    for item in items:
        label_set, sep, head = item.partition("=")
        if not sep or not label_set or not head:
            raise FerkitError(f"--head {item!r} must look like LABELSET=HEAD, e.g. seed5=ferplus")
        out[label_set.strip()] = head.strip()
    return out


def training_summary(state: Mapping) -> dict:
    """What the metadata records about the run: its resolved config and where it stopped."""
    return {
        "config": state.get("config", {}),
        "epoch": state.get("epoch"),
        "best_epoch": state.get("best_epoch"),
        "best_score": state.get("best_score"),
    }


def build_metadata(architecture: str, heads: Sequence[str], label_set_heads: Mapping[str, str],
                   training: Mapping, input_size: int = DEFAULT_SIZE,
                   color: str = DEFAULT_COLOR) -> dict[str, str]:
    """The ONNX metadata_props: every preprocessing and label fact, each a JSON string.

    Every head starts at temperature 1.0 (`ferkit calibrate` fits them later); readers treat
    a model without the entry as T = 1 everywhere, so older files stay valid.
    """
    facts = {
        "format_version": FORMAT_VERSION,
        "producer": f"ferkit {__version__}",
        "architecture": architecture,
        "emotions": list(EMOTIONS),
        "heads": list(heads),
        "outputs": {h: OUTPUT_PREFIX + h for h in heads},
        "label_set_heads": dict(label_set_heads),
        "input_name": INPUT_NAME,
        "input_size": input_size,
        # The network sees (pixel / 255 - mean) / std, every channel alike, the face resized
        # with INTER_AREA: gray, or BGR in OpenCV's channel order (ferkit.pixels).
        "mean": MEAN,
        "std": STD,
        "color": color,
        "resize": "area",
        "training": dict(training),
        "temperatures": {h: 1.0 for h in heads},
    }
    return {key: json.dumps(value) for key, value in facts.items()}


def export_onnx(model: nn.Module, out: str | Path, *, architecture: str,
                training: Mapping | None = None,
                label_set_heads: Mapping[str, str] | None = None,
                opset: int = DEFAULT_OPSET, input_size: int | None = None,
                color: str | None = None, fp16_weights: bool = False) -> dict:
    """Write `model` (returning dict head -> logits) to `out` as ONNX, atomically.

    `input_size` and `color` are the faces it was trained on; None takes them from the model
    (`ExpressionNet` records its side and channels), else 48 px gray.

    `fp16_weights` stores the weights at half precision (half the file size; ONNX Runtime
    computes in fp32 either way).

    Returns the metadata written and `max_abs_diff`, the largest difference between ONNX
    Runtime's and torch's probabilities on a fixed random batch (an export sanity check).
    """
    import onnx

    heads = list(getattr(model, "heads_order", None) or model.heads.keys())
    if input_size is None:
        input_size = getattr(model, "input_size", DEFAULT_SIZE)
    if color is None:
        color = "bgr" if getattr(model, "in_channels", 1) == 3 else DEFAULT_COLOR
    check_input(input_size, color, "export")
    channels = CHANNELS[color]
    if getattr(model, "in_channels", channels) != channels:
        raise FerkitError(f"the model takes {model.in_channels} input channel(s), not the "
                          f"{channels} that color={color} needs")
    mapping = resolve_label_set_heads(heads, label_set_heads)
    metadata = build_metadata(architecture, heads, mapping, training or {}, input_size, color)
    wrapper = _Probabilities(model, heads).eval()
    out = Path(out)
    with AtomicFile(out) as file:
        tmp = file.tmp
        dummy = torch.zeros(2, channels, input_size, input_size)
        output_names = [OUTPUT_PREFIX + h for h in heads]
        with warnings.catch_warnings():
            # The TorchScript exporter warns that it is deprecated; it still exports this net
            # exactly, and the dynamo exporter is the slower, heavier path for no gain here.
            warnings.simplefilter("ignore", (DeprecationWarning, FutureWarning, UserWarning))
            torch.onnx.export(
                wrapper, (dummy,), str(tmp), dynamo=False, opset_version=opset,
                input_names=[INPUT_NAME], output_names=output_names,
                dynamic_axes={name: {0: "batch"} for name in [INPUT_NAME, *output_names]},
                do_constant_folding=True,
            )
        proto = onnx.load(str(tmp))
        if fp16_weights:
            store_weights_fp16(proto)
        onnx.helper.set_model_props(proto, metadata)
        proto.doc_string = f"ferkit expression classifier ({architecture})"
        onnx.checker.check_model(proto)
        onnx.save(proto, str(tmp))
        diff = _max_abs_diff(wrapper, tmp, (channels, input_size, input_size))
    return {"metadata": metadata, "max_abs_diff": diff, "heads": heads, "path": str(out)}


def _max_abs_diff(wrapper: nn.Module, onnx_path: Path, shape: tuple[int, int, int]) -> float:
    import onnxruntime as ort

    x = np.random.default_rng(0).normal(size=(4, *shape)).astype(np.float32)
    with torch.no_grad():
        expected = [t.numpy() for t in wrapper(torch.from_numpy(x))]
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    session = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])
    got = session.run(None, {INPUT_NAME: x})
    return float(max(np.abs(a - b).max() for a, b in zip(expected, got, strict=True)))


def export_checkpoint(checkpoint: str | Path, out: str | Path, *, opset: int = DEFAULT_OPSET,
                      label_set_heads: Mapping[str, str] | None = None,
                      fp16_weights: bool = False) -> dict:
    """Load a `ferkit train` checkpoint and export it with `export_onnx`."""
    model, state = load_checkpoint(checkpoint)
    size, color = data_input(state["config"])
    return export_onnx(model, out, architecture=state["config"]["model"]["name"],
                       training=training_summary(state), label_set_heads=label_set_heads,
                       opset=opset, input_size=size, color=color, fp16_weights=fp16_weights)
