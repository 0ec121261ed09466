"""Helpers for tests that need a small real exported model."""

from __future__ import annotations

from pathlib import Path


def export_tiny_model(path: Path, label_set_heads: dict[str, str] | None = None):
    """Export an untrained fernet_xs with settled batch-norm statistics, the way `ferkit
    export` does; return the torch network (needs torch and onnx)."""
    import torch

    from ferkit.train.export import export_onnx
    from ferkit.train.models import create_model

    torch.manual_seed(0)
    net = create_model("fernet_xs", heads=("fer2013", "ferplus", "posed"))
    with torch.no_grad():  # non-trivial batch-norm statistics, as after training
        net.train()
        net(torch.randn(16, 1, 48, 48))
    net.eval()
    export_onnx(net, path, architecture="fernet_xs", label_set_heads=label_set_heads)
    return net
