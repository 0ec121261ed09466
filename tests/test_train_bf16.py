"""bf16 autocast is used where the hardware does bf16 natively, unless the config says."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch", reason="training needs torch (train extra)")

from ferkit.train.loop import use_bf16  # noqa: E402


def test_explicit_settings_win():
    assert use_bf16(True, torch.device("cpu")) is True
    assert use_bf16(False, torch.device("cpu")) is False


def test_auto_follows_the_cpu():
    native = torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported()
    assert use_bf16("auto", torch.device("cpu")) is bool(native)
