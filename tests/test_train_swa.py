"""train.schedule=constant and stochastic weight averaging (train.swa_start, swa.pt)."""

from __future__ import annotations

import csv
import shutil

import pytest

torch = pytest.importorskip("torch")

from test_train_distill import _config, install_fake_clock  # noqa: E402
from test_train_smoke import write_fer2013_layout  # noqa: E402

from ferkit.errors import FerkitError  # noqa: E402
from ferkit.train.checkpoint import load_checkpoint  # noqa: E402
from ferkit.train.loop import Trainer  # noqa: E402


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("swa")
    return write_fer2013_layout(tmp / "data"), tmp / "cache"


def _rows(out) -> list[dict]:
    with (out / "metrics.csv").open() as fh:
        return list(csv.DictReader(fh))


def _state(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)


def test_constant_schedule_warms_up_then_holds_the_learning_rate(dataset, tmp_path):
    # 48 faces in batches of 16: 3 steps an epoch; warm-up is half of 2 epochs, 3 steps.
    config = _config(*dataset, "train.schedule=constant", "train.warmup=0.5",
                     "train.epochs=2", "train.lr=0.01")
    trainer = Trainer(config, tmp_path / "run")
    trainer._make_scheduler()
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.01 / 3)
    trainer.run()
    assert [float(r["lr"]) for r in _rows(tmp_path / "run")] == pytest.approx([0.01, 0.01])


def test_an_unknown_schedule_is_a_clear_error(dataset, tmp_path):
    trainer = Trainer(_config(*dataset, "train.schedule=cosine"), tmp_path / "run")
    with pytest.raises(FerkitError, match="train.schedule='cosine'"):
        trainer.run()


def test_swa_averages_the_epochs_from_swa_start_and_survives_resume(dataset, tmp_path):
    overrides = ("train.schedule=constant", "train.swa_start=2", "train.epochs=3")
    whole = tmp_path / "whole"
    Trainer(_config(*dataset, *overrides), whole).run()

    parts = tmp_path / "parts"
    Trainer(_config(*dataset, *overrides, "train.stop_after=2"), parts).run()
    assert _state(parts / "swa.pt")["swa_epochs"] == 1
    shutil.copy(parts / "last.pt", tmp_path / "epoch2.pt")
    Trainer(_config(*dataset, *overrides), parts).run(resume=True)

    # swa.pt holds the mean of epochs 2 and 3: weights and batch-norm statistics alike.
    swa = _state(whole / "swa.pt")
    assert swa["swa_epochs"] == 2 and swa["epoch"] == 3
    second, third = _state(tmp_path / "epoch2.pt")["model"], _state(whole / "last.pt")["model"]
    floats = [k for k, v in third.items() if v.is_floating_point()]
    assert any("running_var" in k for k in floats)
    for key in floats:
        torch.testing.assert_close(swa["model"][key], (second[key] + third[key]) / 2)
    assert any(not torch.equal(swa["model"][k], third[k]) for k in floats)
    # An interrupted run averages the same epochs as the uninterrupted one, to the bit.
    resumed = _state(parts / "swa.pt")["model"]
    assert all(torch.equal(resumed[k], swa["model"][k]) for k in swa["model"])

    # Its validation is logged from swa_start on, and it exports like best.pt.
    rows = _rows(whole)
    assert [r["swa_fer2013"] != "" for r in rows] == [False, True, True]
    assert (whole / "curves.png").stat().st_size > 0
    model, state = load_checkpoint(whole / "swa.pt")
    assert state["heads"] == swa["heads"] and not model.training


def test_without_swa_start_there_is_no_average(dataset, tmp_path):
    Trainer(_config(*dataset, "train.epochs=1"), tmp_path / "run").run()
    assert not (tmp_path / "run" / "swa.pt").exists()
    assert not any(k.startswith("swa_") for k in _rows(tmp_path / "run")[0])


def test_time_budget_counts_the_averages_validation_too(dataset, tmp_path, monkeypatch):
    install_fake_clock(monkeypatch)
    # An epoch: 3 steps (3 s) and validation (3 s), plus the average's validation (3 s).
    plain = Trainer(_config(*dataset), tmp_path / "plain")
    averaged = Trainer(_config(*dataset, "train.swa_start=1"), tmp_path / "swa")
    assert plain.epochs_for_budget(18, warmup_steps=1, timed_steps=2) == 3
    assert averaged.epochs_for_budget(18, warmup_steps=1, timed_steps=2) == 2
