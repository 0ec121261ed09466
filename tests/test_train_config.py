"""Training config: YAML defaults, dotted overrides and their value parsing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
pytest.importorskip("torch", reason="the augmentation keys are checked against torch code")

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
    with pytest.raises(FerkitError, match="'train.lr=\\[': not a YAML value") as info:
        load_config(None, ["train.lr=["])
    assert "\n" not in str(info.value)


def test_a_file_extends_the_base_it_names_relative_to_itself(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "parent.yaml").write_text(
        "model:\n  name: fernet_xs\ntrain:\n  epochs: 5\n  teachers: [a.pt, b.pt]\n")
    child = tmp_path / "sub" / "child.yaml"
    child.write_text("base: ../parent.yaml\ntrain:\n  epochs: 7\n  teachers: [c.pt]\n")
    config = load_config(child, ["train.seed=3"])
    assert config["model"]["name"] == "fernet_xs"      # inherited
    assert config["train"]["epochs"] == 7               # the child wins
    assert config["train"]["teachers"] == ["c.pt"]      # lists are replaced, not extended
    assert config["train"]["seed"] == 3                 # overrides still come last
    assert "base" not in config


def test_config_files_that_name_each_other_as_base_are_a_clear_error(tmp_path):
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(FerkitError, match="name each other as base"):
        load_config(tmp_path / "a.yaml")


def test_the_default_config_stands_alone():
    """configs/default.yaml names no base: it is what a user trains with, on its own."""
    path = Path(__file__).resolve().parents[1] / "configs" / "default.yaml"
    assert "base" not in yaml.safe_load(path.read_text())
    config = load_config(path)
    assert config["model"]["name"] == "fernet_s" and config["data"]["sources"]


@pytest.mark.parametrize(("overrides", "message"), [
    (["train.lrr=0.5"], "unknown key train.lrr; did you mean train.lr?"),
    (["trian.lr=0.5"], "unknown section 'trian'; did you mean train?"),
    (["augment.occlude_prb=0.3"], "unknown key augment.occlude_prb; did you mean "
                                  "augment.occlude_prob?"),
])
def test_a_misspelt_key_is_refused_not_ignored(overrides, message):
    with pytest.raises(FerkitError, match=re.escape(message)):
        load_config(None, overrides)


def test_a_misspelt_key_in_a_file_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epoch: 3\n")
    with pytest.raises(FerkitError, match=r"unknown key train\.epoch; did you mean train\.epochs"):
        load_config(path)


def test_every_config_in_the_repository_loads():
    root = Path(__file__).resolve().parents[1]
    paths = [*root.glob("configs/*.yaml"), *root.glob("lab/configs/*.yaml")]
    assert len(paths) > 5
    for path in paths:
        load_config(path)  # no unknown key, no missing base
