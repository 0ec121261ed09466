"""Store an ONNX model's float weights as fp16 (half the file) behind Cast nodes."""

from __future__ import annotations

import numpy as np


def store_weights_fp16(model, *, lossless_only: bool = False, min_size: int = 16) -> int:
    """Replace float32 initializers by fp16 ones plus a Cast back to float32; return how many.

    ONNX Runtime folds the Casts into fp32 constants when a session is built, so inference
    speed is unchanged; only the stored precision drops. `lossless_only` converts only
    tensors that fp16 represents exactly (e.g. weights that were fp16 to begin with).
    """
    from onnx import TensorProto, helper, numpy_helper

    casts = []
    for init in model.graph.initializer:
        if init.data_type != TensorProto.FLOAT:
            continue
        array = numpy_helper.to_array(init)
        half = array.astype(np.float16)
        if array.size < min_size:
            continue
        if lossless_only and not np.array_equal(half.astype(np.float32), array):
            continue
        name = init.name
        init.CopyFrom(numpy_helper.from_array(half, name + "_fp16"))
        casts.append(helper.make_node("Cast", [name + "_fp16"], [name], to=TensorProto.FLOAT))
    nodes = list(model.graph.node)
    del model.graph.node[:]
    model.graph.node.extend(casts + nodes)
    return len(casts)
