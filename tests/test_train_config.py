"""Training config: YAML defaults, dotted overrides and their value parsing."""

from __future__ import annotations

import pytest

pytest.importorskip("yaml")

from ferkit.errors import FerkitError  # noqa: E402
from ferkit.train.config import load_config  # noqa: E402


def test_overrides_parse_numbers_including_exponents_without_a_dot():
    config = load_config(None, ["train.lr=1e-4", "train.epochs=3", "model.name=fernet_xs",
                                "train.init_from=runs/a/best.pt"])
    assert config["train"]["lr"] == pytest.approx(1e-4)
    assert config["train"]["epochs"] == 3
    assert config["model"]["name"] == "fernet_xs"
    assert config["train"]["init_from"] == "runs/a/best.pt"


def test_file_values_override_defaults_and_keep_the_rest(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochs: 2\naugment:\n  erase_prob: 0.1\n")
    config = load_config(path)
    assert config["train"]["epochs"] == 2
    assert config["train"]["batch_size"] == 64
    assert config["augment"] == {"erase_prob": 0.1}


def test_a_malformed_override_is_a_clear_error():
    with pytest.raises(FerkitError, match="section.key=value"):
        load_config(None, ["train.lr"])
