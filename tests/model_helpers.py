"""Helpers for tests that need a small real exported model."""

from __future__ import annotations

from pathlib import Path


def export_tiny_model(path: Path, label_set_heads: dict[str, str] | None = None, *,
                      color: str = "gray", seed: int = 0):
    """Export an untrained fernet_xs with settled batch-norm statistics, the way `ferkit
    export` does, reading `color` ("gray" or "bgr") faces and drawn from `seed`; return the
    torch network (needs torch and onnx)."""
    import torch

    from ferkit.train.export import export_onnx
    from ferkit.train.models import create_model

    channels = 3 if color == "bgr" else 1
    torch.manual_seed(seed)
    net = create_model("fernet_xs", heads=("fer2013", "ferplus", "posed"), in_channels=channels)
    with torch.no_grad():  # non-trivial batch-norm statistics, as after training
        net.train()
        net(torch.randn(16, channels, 48, 48))
    net.eval()
    export_onnx(net, path, architecture="fernet_xs", label_set_heads=label_set_heads,
                color=color)
    return net


def random_head(dim: int, seed: int):
    """A `LinearHead` of random weights on `dim` features (needs torch's train extra module)."""
    import numpy as np

    from ferkit.labels import EMOTIONS
    from ferkit.train.heads import LinearHead

    rng = np.random.default_rng(seed)
    return LinearHead(rng.normal(0, 0.2, (len(EMOTIONS), dim)).astype(np.float32),
                      np.zeros(len(EMOTIONS), np.float32))
