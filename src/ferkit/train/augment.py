"""Face-appropriate augmentation applied to whole batches of tensors (fast on CPU)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class AugmentConfig:
    """Strengths of each augmentation; zero turns one off."""

    shift: float = 0.1          # fraction of the image size
    rotate_deg: float = 12.0
    scale: float = 0.12         # +- relative zoom
    flip: bool = True
    brightness: float = 0.15    # +- additive, on [0, 1] pixels
    contrast: float = 0.3       # +- relative
    erase_prob: float = 0.4
    erase_max_area: float = 0.2
    # Users' photos, webcam frames and FER2013 itself are JPEGs; trained on lossless copies
    # alone, the stage-2 model lost about 3 points at JPEG quality 75 (benchmarks/bench_jpeg.py).
    jpeg_prob: float = 0.0
    jpeg_quality: tuple[int, int] = (50, 95)


def augment(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Randomly shift, rotate, scale, flip, re-light and partly erase a batch (N, 1, H, W)."""
    n, _, h, w = x.shape

    def uniform(lo: float, hi: float, size: tuple[int, ...] = (n,)) -> torch.Tensor:
        return torch.rand(size, generator=gen) * (hi - lo) + lo

    angle = uniform(-cfg.rotate_deg, cfg.rotate_deg) * math.pi / 180
    zoom = uniform(1 - cfg.scale, 1 + cfg.scale)
    sign = torch.ones(n)
    if cfg.flip:
        sign = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0)
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([
        torch.stack([cos * sign, -sin, uniform(-cfg.shift, cfg.shift) * 2], 1),
        torch.stack([sin * sign, cos, uniform(-cfg.shift, cfg.shift) * 2], 1),
    ], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)

    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    contrast = uniform(1 - cfg.contrast, 1 + cfg.contrast).view(n, 1, 1, 1)
    bright = uniform(-cfg.brightness, cfg.brightness).view(n, 1, 1, 1)
    x = ((x - mean) * contrast + mean + bright).clamp(0, 1)

    if cfg.jpeg_prob > 0:
        x = jpeg_compress(x, cfg.jpeg_prob, tuple(cfg.jpeg_quality), gen)

    if cfg.erase_prob > 0:
        area = uniform(0.02, cfg.erase_max_area)
        aspect = torch.exp(uniform(math.log(0.5), math.log(2.0)))
        eh = (torch.sqrt(area * aspect) * h).clamp(1, h).long()
        ew = (torch.sqrt(area / aspect) * w).clamp(1, w).long()
        top = (torch.rand(n, generator=gen) * (h - eh + 1)).long()
        left = (torch.rand(n, generator=gen) * (w - ew + 1)).long()
        rows = torch.arange(h).view(1, h, 1)
        cols = torch.arange(w).view(1, 1, w)
        box = ((rows >= top.view(n, 1, 1)) & (rows < (top + eh).view(n, 1, 1))
               & (cols >= left.view(n, 1, 1)) & (cols < (left + ew).view(n, 1, 1)))
        apply = (torch.rand(n, generator=gen) < cfg.erase_prob).view(n, 1, 1)
        noise = torch.rand(x.shape, generator=gen)
        x = torch.where((box & apply).unsqueeze(1), noise, x)
    return x


def jpeg_compress(x: torch.Tensor, prob: float, quality: tuple[int, int],
                  gen: torch.Generator) -> torch.Tensor:
    """Round-trip a random share `prob` of the batch through JPEG at a random quality."""
    n = x.shape[0]
    apply = torch.rand(n, generator=gen) < prob
    qualities = torch.randint(quality[0], quality[1] + 1, (n,), generator=gen)
    pixels = (x[:, 0] * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    out = x.clone()
    for i in torch.nonzero(apply).flatten().tolist():
        _, buf = cv2.imencode(".jpg", pixels[i], [cv2.IMWRITE_JPEG_QUALITY, int(qualities[i])])
        out[i, 0] = torch.from_numpy(cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)).float() / 255
    return out
