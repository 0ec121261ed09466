"""Training config: YAML defaults, dotted overrides and their value parsing."""

from __future__ import annotations

from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

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


@pytest.mark.parametrize("stage, saved_as", [
    ("stage1", "training-config.yaml"),
    ("stage2", "training-config-stage2.yaml"),
    ("stage3", "training-config-stage3.yaml"),
    ("stage4c", "training-config-stage4c.yaml"),
    ("stage4d", "training-config-stage4d.yaml"),
    ("stage4e", "training-config-stage4e.yaml"),
    ("stage4f", "training-config-stage4f.yaml"),
])
def test_shipped_stage_configs_resolve_to_the_configs_their_runs_saved(stage, saved_as):
    """Stage configs that extend another (2, 3, 4c, 4e, 4f) or moved (1) change no value."""
    root = Path(__file__).resolve().parents[1]
    saved = root / "docs/eval" / saved_as
    assert "base" not in yaml.safe_load(saved.read_text())
    # Loaded as a config, the saved copy gains options added since at their defaults, except
    # the one whose default changed after these runs.
    as_run = load_config(saved, ["train.label_loss_mean=labelled"])
    assert load_config(root / "configs" / f"{stage}.yaml") == as_run


@pytest.mark.parametrize("stage, saved_as, given", [
    ("teacher", "training-config-teacher-1.yaml",
     ["train.epochs=37", "data.prepared=.pack/combined.npz"]),
    ("stage4", "training-config-stage4.yaml",
     ["train.epochs=26", "train.time_budget=190", "data.prepared=.pack/combined.npz",
      "train.teachers=[runs4/teacher-1/best.pt,runs4/teacher-2/best.pt,runs4/teacher-3/best.pt]"]),
    ("stage4b", "training-config-stage4b.yaml",
     ["train.epochs=65", "train.time_budget=300", "data.prepared=.pack2/train-only.npz",
      "train.teachers=[.pack2/teacher.pt]"]),
])
def test_gpu_stage_configs_are_their_runs_but_for_the_values_given_there(stage, saved_as, given):
    """The GPU runs were given their pack, teachers' paths and sized epochs on the command
    line (tools/train_stage4.sh); every other value must be the committed config's."""
    root = Path(__file__).resolve().parents[1]
    as_run = load_config(root / "docs/eval" / saved_as, ["train.label_loss_mean=labelled"])
    assert load_config(root / "configs" / f"{stage}.yaml", given) == as_run
