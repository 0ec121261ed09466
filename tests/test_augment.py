"""The training augmentations: shapes, ranges, determinism, and the JPEG round-trip."""

import numpy as np
import torch

from ferkit.train.augment import AugmentConfig, augment, jpeg_compress


def _faces(n: int = 8) -> torch.Tensor:
    rng = np.random.default_rng(0)
    return torch.from_numpy(rng.integers(0, 256, (n, 1, 48, 48)).astype(np.float32) / 255)


def test_augment_keeps_shape_and_range_and_is_seeded():
    x = _faces()
    cfg = AugmentConfig(jpeg_prob=0.5)
    a = augment(x, cfg, torch.Generator().manual_seed(3))
    b = augment(x, cfg, torch.Generator().manual_seed(3))
    assert a.shape == x.shape
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0
    assert torch.equal(a, b)


def test_jpeg_compress_changes_only_the_chosen_faces():
    x = _faces(16)
    out = jpeg_compress(x, 0.5, (50, 60), torch.Generator().manual_seed(0))
    changed = [not torch.equal(out[i], x[i]) for i in range(len(x))]
    assert 0 < sum(changed) < len(x)
    # Noise compresses badly: a changed face differs by many grey levels, as JPEG at 50-60 does.
    i = changed.index(True)
    assert float((out[i] - x[i]).abs().mean()) > 0.02


def test_jpeg_compress_at_high_quality_stays_close_to_the_face():
    # Whole grey levels, so only the JPEG round-trip (not rounding to 8 bits) can change it.
    ramp = torch.linspace(0, 1, 48).repeat(48, 1).view(1, 1, 48, 48).repeat(4, 1, 1, 1)
    ramp = (ramp * 255).round() / 255
    out = jpeg_compress(ramp, 1.0, (95, 95), torch.Generator().manual_seed(0))
    assert not torch.equal(out, ramp)
    assert float((out - ramp).abs().max()) < 0.05


def test_jpeg_compress_with_probability_zero_is_the_identity():
    x = _faces()
    assert torch.equal(jpeg_compress(x, 0.0, (50, 95), torch.Generator()), x)
