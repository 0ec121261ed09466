"""lab/tools/onnx_to_checkpoint.py: the rebuilt network computes what the ONNX file computes,
and its BatchNorms start training at the statistics of the faces they were fitted on."""

import importlib.util
from pathlib import Path

import numpy as np
import torch

_spec = importlib.util.spec_from_file_location(
    "onnx_to_checkpoint", Path(__file__).parents[1] / "tools" / "onnx_to_checkpoint.py")
onnx_to_checkpoint = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(onnx_to_checkpoint)


def test_rebuilt_network_matches_the_onnx_file(tiny_onnx_model):
    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, (64, 48, 48), dtype=np.uint8)
    net, meta = onnx_to_checkpoint.rebuild(tiny_onnx_model, faces, {"rafdb": "fer2013"})
    drift = onnx_to_checkpoint.onnx_drift(net, tiny_onnx_model, meta, faces)
    assert set(drift) == set(meta["heads"])
    assert max(drift.values()) < 1e-4
    assert torch.equal(net.heads["rafdb"].weight, net.heads["fer2013"].weight)

    # In train mode each BatchNorm normalises by the batch's own statistics; on the faces
    # the statistics came from, that is the eval-mode function again.
    x = onnx_to_checkpoint.to_input(faces)
    net.dropout.p = 0.0
    with torch.no_grad():
        evaluated = net.eval()(x)["fer2013"]
        trained = net.train()(x)["fer2013"]
    assert torch.allclose(evaluated, trained, atol=1e-2)


def test_a_colour_copy_reads_faces_as_the_grey_file_reads_their_grey(tiny_onnx_model):
    rng = np.random.default_rng(1)
    faces = rng.integers(0, 256, (32, 48, 48), dtype=np.uint8)
    net, meta = onnx_to_checkpoint.rebuild(tiny_onnx_model, faces)
    colour = onnx_to_checkpoint.inflate_to_bgr(net, meta, {})
    assert colour.in_channels == 3
    grey_as_bgr = np.repeat(faces[..., None], 3, axis=-1)
    drift = onnx_to_checkpoint.onnx_drift(colour, tiny_onnx_model, meta, faces, grey_as_bgr)
    assert max(drift.values()) < 1e-4
    # A colour face meets the first convolution as its grey (cv2's BGR2GRAY weights) would.
    bgr = torch.rand(4, 3, 48, 48)
    grey = (bgr * torch.tensor([0.114, 0.587, 0.299]).view(1, 3, 1, 1)).sum(1, keepdim=True)
    first_grey = onnx_to_checkpoint.conv_pairs(net)[0][0]
    first_colour = onnx_to_checkpoint.conv_pairs(colour)[0][0]
    with torch.no_grad():
        assert torch.allclose(first_colour(bgr), first_grey(grey), atol=1e-5)
