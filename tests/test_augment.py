"""The training augmentations: shapes, ranges, determinism, and the JPEG round-trip."""

import numpy as np
import torch

from ferkit.train.augment import AugmentConfig, augment, jpeg_compress, occlude


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


def test_occlude_covers_part_of_the_chosen_faces_with_one_flat_colour():
    x = torch.full((64, 3, 48, 48), 0.5)
    out = occlude(x, 1.0, torch.Generator().manual_seed(0))
    covered = (out != x).any(dim=1).float().mean(dim=(1, 2))
    # a band of 12-35 % by 40-100 %, or an ellipse of semi-axes 12-30 %: 3-40 % of the face
    assert float(covered.min()) > 0.03 and float(covered.max()) < 0.40
    for face in out[:8]:
        inside = (face != 0.5).any(dim=0)
        colour = face[:, inside].mean(dim=1)
        assert float((face[:, inside] - colour[:, None]).abs().mean()) < 0.05
    assert torch.equal(occlude(x, 0.0, torch.Generator().manual_seed(0)), x)
    some = occlude(x, 0.5, torch.Generator().manual_seed(1))
    assert 10 < sum(not torch.equal(some[i], x[i]) for i in range(64)) < 54


def test_occlusion_is_off_by_default_and_leaves_earlier_augmentation_unchanged():
    x = _faces()
    plain = augment(x, AugmentConfig(), torch.Generator().manual_seed(5))
    again = augment(x, AugmentConfig(occlude_prob=0.0), torch.Generator().manual_seed(5))
    assert AugmentConfig().occlude_prob == 0.0 and torch.equal(plain, again)
    occluded = augment(x, AugmentConfig(occlude_prob=1.0), torch.Generator().manual_seed(5))
    assert occluded.shape == x.shape and not torch.equal(occluded, plain)
