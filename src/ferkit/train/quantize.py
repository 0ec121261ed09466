"""Static int8 quantisation of an exported model, calibrated on training faces only."""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ferkit.datasets.base import FaceSample
from ferkit.errors import FerkitError
from ferkit.outputs import AtomicFile
from ferkit.pixels import DEFAULT_COLOR, face_pixels, network_input


def calibration_faces(samples: Iterable[FaceSample], count: int = 512, seed: int = 0,
                      size: int = 48, color: str = DEFAULT_COLOR) -> np.ndarray:
    """`count` random training-split faces, uint8 (N, size, size) gray or (N, size, size, 3)
    BGR as the model takes them; validation is never used."""
    faces = [s.image for s in samples if s.split == "train"]
    if not faces:
        raise FerkitError("no training-split faces to calibrate int8 quantisation on")
    pick = np.random.default_rng(seed).choice(len(faces), min(count, len(faces)), replace=False)
    return np.stack([face_pixels(faces[i], size, color) for i in pick])


def refuse_int8(src: Path, metadata: Iterable[str]) -> None:
    """FerkitError where the model at `src`, whose metadata keys are `metadata`, is int8
    already: quantised twice, its graph no longer loads in ONNX Runtime."""
    if "quantization" in metadata:
        raise FerkitError(f"{src}: already int8; quantise the fp32 model it came from")


def quantize_int8(src: Path, out: Path, faces: np.ndarray, batch: int = 32) -> None:
    """Write `src` quantised to int8 (QDQ, per-channel 7-bit weights) to `out`, keeping metadata.

    Weights use 7 of their 8 bits (`reduce_range`): x86 CPUs without VNNI (AVX2 laptops,
    AMD before Zen 4) multiply uint8 activations by int8 weights with an instruction that
    saturates its 16-bit sums, which cost the shipped 8-bit model 2.4 points on FER2013
    there (68.2 % against 70.5 % in fp32) while VNNI machines were unaffected.
    """
    import json

    import onnx
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source = onnx.load(str(src))
    meta = {p.key: p.value for p in source.metadata_props}
    refuse_int8(src, meta)
    size, color = json.loads(meta["input_size"]), json.loads(meta.get("color", '"gray"'))
    if faces.shape[1:3] != (size, size) or (faces.ndim == 4) != (color == "bgr"):
        raise FerkitError(f"calibration faces {faces.shape[1:]} do not fit {src}, which takes "
                          f"{size} px {color} faces")
    x = network_input(faces, json.loads(meta["mean"]), json.loads(meta["std"]))
    name = json.loads(meta["input_name"])

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.start = 0

        def get_next(self) -> dict | None:
            if self.start >= len(x):
                return None
            self.start += batch
            return {name: x[self.start - batch : self.start]}

    with tempfile.TemporaryDirectory() as tmp:
        pre, q = Path(tmp) / "pre.onnx", Path(tmp) / "q.onnx"
        quant_pre_process(str(src), str(pre))
        quantize_static(str(pre), str(q), Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        per_channel=True, reduce_range=True,
                        nodes_to_exclude=_head_nodes(onnx.load(str(pre))))
        model = onnx.load(str(q))
        onnx.helper.set_model_props(model, {**meta, "quantization": json.dumps("int8-static")})
        model.doc_string = source.doc_string + " [int8]"
        with AtomicFile(out) as file:
            onnx.save(model, str(file.tmp))


def _head_nodes(model) -> list[str]:
    """The heads' Gemm and Softmax nodes, which stay in float: quantised, the probabilities
    came out in steps of 1/255, so every small one was rounded and unrelated emotions tied."""
    softmax = [n for n in model.graph.node if n.op_type == "Softmax"]
    inputs = {n.input[0] for n in softmax}
    gemms = [n for n in model.graph.node if n.op_type == "Gemm" and n.output[0] in inputs]
    return [n.name for n in softmax + gemms]
