"""Face-appropriate augmentation applied to whole batches of tensors, on the batch's device."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
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
    # What real photos have and FER2013's studio-cropped faces lack; each is applied to a
    # random share of the batch: small faces upscaled, defocus, sensor noise, dim light.
    lowres_prob: float = 0.0
    lowres_px: tuple[int, int] = (12, 28)   # side the face is shrunk to before upscaling
    blur_prob: float = 0.0
    blur_sigma: tuple[float, float] = (0.5, 1.5)   # in pixels at 48x48
    noise_prob: float = 0.0
    noise_std: tuple[float, float] = (0.02, 0.08)  # on [0, 1] pixels
    dark_prob: float = 0.0
    dark_gamma: tuple[float, float] = (1.2, 2.2)   # pixel ** gamma darkens the mid-tones
    # Hands, glasses, masks, scarves and microphones: a flat-coloured band or ellipse over
    # part of the face (`occlude`), unlike `erase_prob`'s noise rectangles.
    occlude_prob: float = 0.0


def augment(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Randomly shift, rotate, scale, flip, re-light and partly erase a batch (N, C, H, W) of
    [0, 1] pixels, gray (C = 1) or BGR (C = 3): every channel moves and re-lights together."""
    n, _, h, w = x.shape
    dev = gen.device  # the batch's device: a GPU run draws its randomness there too

    def rand(size: tuple[int, ...] | torch.Size) -> torch.Tensor:
        return torch.rand(size, generator=gen, device=dev)

    def uniform(lo: float, hi: float, size: tuple[int, ...] = (n,)) -> torch.Tensor:
        return rand(size) * (hi - lo) + lo

    angle = uniform(-cfg.rotate_deg, cfg.rotate_deg) * math.pi / 180
    zoom = uniform(1 - cfg.scale, 1 + cfg.scale)
    sign = torch.ones(n, device=dev)
    if cfg.flip:
        sign = torch.where(rand((n,)) < 0.5, -1.0, 1.0)
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

    if cfg.occlude_prob > 0:
        x = occlude(x, cfg.occlude_prob, gen)
    x = degrade(x, cfg, gen)
    if cfg.jpeg_prob > 0:
        x = jpeg_compress(x, cfg.jpeg_prob, tuple(cfg.jpeg_quality), gen)

    if cfg.erase_prob > 0:
        area = uniform(0.02, cfg.erase_max_area)
        aspect = torch.exp(uniform(math.log(0.5), math.log(2.0)))
        eh = (torch.sqrt(area * aspect) * h).clamp(1, h).long()
        ew = (torch.sqrt(area / aspect) * w).clamp(1, w).long()
        top = (rand((n,)) * (h - eh + 1)).long()
        left = (rand((n,)) * (w - ew + 1)).long()
        rows = torch.arange(h, device=dev).view(1, h, 1)
        cols = torch.arange(w, device=dev).view(1, 1, w)
        box = ((rows >= top.view(n, 1, 1)) & (rows < (top + eh).view(n, 1, 1))
               & (cols >= left.view(n, 1, 1)) & (cols < (left + ew).view(n, 1, 1)))
        apply = (rand((n,)) < cfg.erase_prob).view(n, 1, 1)
        noise = rand(x.shape)
        x = torch.where((box & apply).unsqueeze(1), noise, x)
    return x


def occlude(x: torch.Tensor, prob: float, gen: torch.Generator) -> torch.Tensor:
    """Cover part of a random share `prob` of the faces (N, C, H, W) with one flat-coloured
    shape: a horizontal band (glasses, a mask, a scarf: 12-35 % of the height, 40-100 % of
    the width, anywhere from brow to chin) or an ellipse (a hand, a microphone: semi-axes
    12-30 % of the side), in a random colour with a little noise."""
    n, c, h, w = x.shape
    dev = gen.device

    def uniform(lo: float, hi: float, size: tuple[int, ...] = (n, 1, 1)) -> torch.Tensor:
        return torch.rand(size, generator=gen, device=dev) * (hi - lo) + lo

    rows = (torch.arange(h, device=dev, dtype=x.dtype).view(1, h, 1) + 0.5) / h
    cols = (torch.arange(w, device=dev, dtype=x.dtype).view(1, 1, w) + 0.5) / w
    top, height = uniform(0.1, 0.85), uniform(0.12, 0.35)
    left, right = uniform(0.0, 0.3), uniform(0.7, 1.0)
    band = (rows >= top) & (rows < top + height) & (cols >= left) & (cols < right)
    cy, cx, ry, rx = uniform(0.2, 0.9), uniform(0.15, 0.85), uniform(0.12, 0.3), uniform(0.12, 0.3)
    ellipse = ((rows - cy) / ry) ** 2 + ((cols - cx) / rx) ** 2 <= 1
    shape = torch.where(uniform(0, 1) < 0.5, band, ellipse)
    chosen = uniform(0, 1) < prob
    fill = (uniform(0, 1, (n, c, 1, 1))
            + 0.03 * torch.randn(x.shape, generator=gen, device=dev)).clamp(0, 1).to(x.dtype)
    return torch.where((shape & chosen).unsqueeze(1), fill, x)


def degrade(x: torch.Tensor, cfg: AugmentConfig, gen: torch.Generator) -> torch.Tensor:
    """Apply low resolution, blur, noise and dim light, each to a random share of the batch."""
    n, c, h, w = x.shape
    dev = gen.device

    def pick(prob: float) -> torch.Tensor:
        return (torch.rand(n, generator=gen, device=dev) < prob).view(n, 1, 1, 1)

    def draw(lo: float, hi: float) -> float:
        return float(torch.rand(1, generator=gen, device=dev)) * (hi - lo) + lo

    if cfg.lowres_prob > 0:
        # One size per batch keeps it to two resizes; the share of faces varies per item.
        side = int(round(draw(*cfg.lowres_px)))
        small = F.interpolate(x, size=(side, side), mode="area")
        x = torch.where(pick(cfg.lowres_prob), F.interpolate(
            small, size=(h, w), mode="bilinear", align_corners=False), x)
    if cfg.blur_prob > 0:
        sigma = draw(*cfg.blur_sigma)
        radius = max(1, int(math.ceil(2 * sigma)))
        t = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
        k = torch.exp(-(t ** 2) / (2 * sigma ** 2))
        k = k / k.sum()
        # Each channel blurred alone: the kernel is one-channel.
        blurred = F.pad(x.reshape(n * c, 1, h, w), (radius, radius, radius, radius),
                        mode="replicate")
        blurred = F.conv2d(blurred, k.view(1, 1, 1, -1))
        blurred = F.conv2d(blurred, k.view(1, 1, -1, 1)).reshape(n, c, h, w)
        x = torch.where(pick(cfg.blur_prob), blurred, x)
    if cfg.noise_prob > 0:
        lo, hi = cfg.noise_std
        std = (torch.rand(n, 1, 1, 1, generator=gen, device=dev) * (hi - lo) + lo)
        noise = torch.randn(x.shape, generator=gen, device=dev) * std
        x = torch.where(pick(cfg.noise_prob), (x + noise).clamp(0, 1), x)
    if cfg.dark_prob > 0:
        lo, hi = cfg.dark_gamma
        gamma = torch.rand(n, 1, 1, 1, generator=gen, device=dev) * (hi - lo) + lo
        x = torch.where(pick(cfg.dark_prob), x.clamp(min=0) ** gamma, x)
    return x


def jpeg_compress(x: torch.Tensor, prob: float, quality: tuple[int, int],
                  gen: torch.Generator) -> torch.Tensor:
    """Round-trip a random share `prob` of the batch (N, C, H, W) through JPEG at a random
    quality: gray (C = 1) as gray JPEGs, BGR (C = 3) as colour ones, chroma subsampled as
    cameras do."""
    n, channels = x.shape[:2]
    apply = torch.rand(n, generator=gen, device=gen.device) < prob
    qualities = torch.randint(quality[0], quality[1] + 1, (n,), generator=gen, device=gen.device)
    # OpenCV codes on the CPU: one copy there and one back, not one per face.
    out = x.cpu().clone()
    pixels = (out.permute(0, 2, 3, 1) * 255).round().clamp(0, 255).to(torch.uint8).numpy()
    flag = cv2.IMREAD_GRAYSCALE if channels == 1 else cv2.IMREAD_COLOR
    for i, q in zip(torch.nonzero(apply).flatten().tolist(),
                    qualities[apply].tolist(), strict=True):
        face = np.ascontiguousarray(pixels[i] if channels == 3 else pixels[i, :, :, 0])
        _, buf = cv2.imencode(".jpg", face, [cv2.IMWRITE_JPEG_QUALITY, int(q)])
        back = torch.from_numpy(cv2.imdecode(buf, flag)).float() / 255
        out[i] = back.unsqueeze(0) if channels == 1 else back.permute(2, 0, 1)
    return out.to(x.device)


def mixup(x: torch.Tensor, targets: dict[str, torch.Tensor], lam: float,
          perm: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Blend each item with item `perm[i]`: pixels and every head's target, by weight `lam`.

    A head's target is kept only where both items had one (all-zero rows mean "no label").
    """
    mixed = {}
    for h, t in targets.items():
        both = (t.sum(1) > 0) & (t[perm].sum(1) > 0)
        mixed[h] = (lam * t + (1 - lam) * t[perm]) * both.unsqueeze(1)
    return lam * x + (1 - lam) * x[perm], mixed
