"""The stage configs of the shipped model's history resolve to the configs their runs saved."""

from __future__ import annotations

from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")

from ferkit.train.config import load_config  # noqa: E402


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
    root = Path(__file__).resolve().parents[2]
    saved = root / "lab/eval" / saved_as
    assert "base" not in yaml.safe_load(saved.read_text())
    # Loaded as a config, the saved copy gains options added since at their defaults, except
    # the one whose default changed after these runs.
    as_run = load_config(saved, ["train.label_loss_mean=labelled"])
    assert load_config(root / "lab/configs" / f"{stage}.yaml") == as_run


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
    line (lab/tools/train_stage4.sh); every other value must be the committed config's."""
    root = Path(__file__).resolve().parents[2]
    as_run = load_config(root / "lab/eval" / saved_as, ["train.label_loss_mean=labelled"])
    assert load_config(root / "lab/configs" / f"{stage}.yaml", given) == as_run


def test_the_distillation_config_is_the_default_recipe_taught_by_a_teacher_cache():
    """lab/configs/distill.yaml: configs/default.yaml's data and recipe, plus the cache."""
    root = Path(__file__).resolve().parents[2]
    assert load_config(root / "lab/configs/distill.yaml") == load_config(
        root / "configs/default.yaml",
        ["train.teacher_cache=runs/teachers.npz", "train.distill_weight=0.5",
         "train.distill_temperature=2.0", "train.seed=31"])


def test_stage5_config_resolves_to_the_config_its_run_saved():
    root = Path(__file__).resolve().parents[2]
    saved = load_config(root / "lab/eval/stage5/config.yaml", [])
    assert load_config(root / "lab/configs/stage5.yaml", []) == saved
    assert saved["train"]["init_from"] == "runs/stage4f-import/best.pt"


def test_each_ab_arm_differs_from_its_control_in_one_thing_only():
    """Size A/B: 64 px is the 48 px arm with another input size. Distillation A/B: the
    student is the 48 px arm plus the teachers' cache."""
    root = Path(__file__).resolve().parents[2]
    assert load_config(root / "lab/configs/size-ab-64.yaml") == load_config(
        root / "lab/configs/size-ab-48.yaml", ["data.input_size=64"])
    assert load_config(root / "lab/configs/distill-ab-48.yaml") == load_config(
        root / "lab/configs/size-ab-48.yaml",
        ["train.teacher_cache=runs/teachers-ab-48.npz", "train.distill_weight=0.5",
         "train.distill_temperature=2.0"])
