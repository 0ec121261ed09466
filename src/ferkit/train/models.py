"""A registry of expression CNNs for square gray or BGR faces, one head per label source."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from ferkit.labels import EMOTIONS

_REGISTRY: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Decorator: make `fn` available to `create_model` under its function name."""
    _REGISTRY[fn.__name__] = fn
    return fn


def list_models() -> list[str]:
    """Names accepted by `create_model`."""
    return sorted(_REGISTRY)


def create_model(name: str, heads: Sequence[str] = ("fer2013", "ferplus", "posed"),
                 **kwargs) -> nn.Module:
    """Build the registered architecture `name` with one 8-way head per entry of `heads`."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(list_models())}")
    return _REGISTRY[name](heads=tuple(heads), **kwargs)


def _conv_bn(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions with a shortcut (projected when the shape changes)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.body = nn.Sequential(
            _conv_bn(c_in, c_out, stride),
            nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out),
        )
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class ExpressionNet(nn.Module):
    """Residual CNN: a stem at the input size, stages halving resolution, pooled features,
    one head each. Takes (N, in_channels, input_size, input_size): 1 channel gray, 3 BGR.

    `forward` returns a dict of logits over `ferkit.labels.EMOTIONS`, one entry per head.
    """

    def __init__(self, widths: Sequence[int], blocks: Sequence[int], heads: Sequence[str],
                 dropout: float = 0.3, input_size: int = 48, in_channels: int = 1):
        super().__init__()
        self.heads_order = tuple(heads)
        self.input_size, self.in_channels = input_size, in_channels
        layers: list[nn.Module] = [_conv_bn(in_channels, widths[0]),
                                   _conv_bn(widths[0], widths[0])]
        c_in = widths[0]
        for width, n in zip(widths[1:], blocks, strict=True):
            for j in range(n):
                layers.append(ResidualBlock(c_in, width, stride=2 if j == 0 else 1))
                c_in = width
        self.features = nn.Sequential(*layers)
        final = input_size // 2 ** len(blocks)
        # A fixed AvgPool2d (not adaptive) exports cleanly to ONNX.
        self.pool = nn.AvgPool2d(final)
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.ModuleDict({h: nn.Linear(c_in, len(EMOTIONS)) for h in heads})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.dropout(torch.flatten(self.pool(self.features(x)), 1))
        return {h: self.heads[h](z) for h in self.heads_order}


@register_model
def fernet_s(heads: Sequence[str], **kw) -> ExpressionNet:
    """About 2.8M parameters, ~0.25 GMAC: the shipped default."""
    return ExpressionNet((32, 64, 128, 256), (2, 2, 2), heads, **kw)


@register_model
def fernet_s1(heads: Sequence[str], **kw) -> ExpressionNet:
    """fernet_s with one residual block per stage: about half its MACs, about 1,130 faces/s
    at batch 32 on 2 AVX2 cores in int8 against 580 (lab/eval/speed-variants)."""
    return ExpressionNet((32, 64, 128, 256), (1, 1, 1), heads, **kw)


@register_model
def fernet_xs(heads: Sequence[str], **kw) -> ExpressionNet:
    """About 0.7M parameters: for quick experiments and tests."""
    return ExpressionNet((16, 32, 64, 128), (2, 2, 2), heads, **kw)


@register_model
def fernet_m(heads: Sequence[str], **kw) -> ExpressionNet:
    """About 6.3M parameters: wider, slower, for when a GPU is at hand."""
    return ExpressionNet((48, 96, 192, 384), (2, 2, 2), heads, **kw)


@register_model
def fernet_l(heads: Sequence[str], **kw) -> ExpressionNet:
    """About 11M parameters, ~1 GMAC: a teacher for distillation, trained on a GPU."""
    return ExpressionNet((64, 128, 256, 512), (2, 2, 2), heads, **kw)


def count_macs(model: nn.Module, input_size: int = 48, in_channels: int = 1) -> int:
    """Multiply-accumulates of one forward pass at batch 1 (convolutions and linear layers)."""
    macs = 0

    def hook(module: nn.Module, _inp, out) -> None:
        nonlocal macs
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1] * module.in_channels // module.groups
            macs += out.numel() * k
        elif isinstance(module, nn.Linear):
            macs += module.in_features * module.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, in_channels, input_size, input_size))
    model.train(was_training)
    for h in handles:
        h.remove()
    return macs
