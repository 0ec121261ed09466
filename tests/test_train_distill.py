"""Mixup, distillation from averaged teachers, train.time_budget and train.device."""

from __future__ import annotations

import copy
import csv
import math

import pytest
import yaml

torch = pytest.importorskip("torch")

from test_train_smoke import write_fer2013_layout  # noqa: E402

from ferkit.errors import FerkitError  # noqa: E402
from ferkit.train import loop  # noqa: E402
from ferkit.train.augment import mixup  # noqa: E402
from ferkit.train.config import load_config  # noqa: E402
from ferkit.train.distill import Teachers, distill_loss  # noqa: E402
from ferkit.train.loop import Trainer, pick_device  # noqa: E402

CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _one_thread():
    """One thread, as the runs use (a busy machine cannot stall a starved pool); Trainer sets
    the count process-wide, so put it back for the other tests."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _config(data: str, cache, *overrides: str) -> dict:
    """A tiny, repeatable CPU run: fernet_xs, 48 training faces, batches of 16."""
    config = load_config(None, [
        "model.name=fernet_xs", f"data.cache_dir={cache}", "data.limit=48",
        "train.batch_size=16", "train.lr=0.02", "train.patience=100", "train.threads=1",
        "train.device=cpu", "train.epochs=3", *overrides])
    config["data"]["sources"] = [data]
    return config


def _losses(out) -> list[float]:
    with (out / "metrics.csv").open() as fh:
        return [float(r["loss"]) for r in csv.DictReader(fh)]


def _weights(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    """(source spec, cache folder) of the smoke test's FER2013-layout stripes and discs."""
    tmp = tmp_path_factory.mktemp("distill")
    return write_fer2013_layout(tmp / "data"), tmp / "cache"


@pytest.fixture(scope="module")
def baseline(dataset, tmp_path_factory):
    """A plain 3-epoch run (no teachers, no mixup); its best.pt also serves as a teacher."""
    out = tmp_path_factory.mktemp("baseline")
    threads = torch.get_num_threads()
    try:
        Trainer(_config(*dataset), out).run()
    finally:
        torch.set_num_threads(threads)
    return out


@pytest.fixture(scope="module")
def two_teachers(baseline, tmp_path_factory):
    """The baseline's checkpoint and a copy whose head weights are perturbed: two teachers."""
    first = baseline / "best.pt"
    state = torch.load(first, map_location="cpu", weights_only=True)
    gen = torch.Generator().manual_seed(1)
    for key, value in state["model"].items():
        if key.startswith("heads.") and value.is_floating_point():
            state["model"][key] = value + torch.randn(value.shape, generator=gen)
    second = tmp_path_factory.mktemp("teacher2") / "other.pt"
    torch.save(state, second)
    return first, second


def _batch(n: int = 6) -> torch.Tensor:
    return torch.randn(n, 1, 48, 48, generator=torch.Generator().manual_seed(0))


# -- mixup ---------------------------------------------------------------------------------


def test_mixup_blends_pixels_and_targets_by_lam():
    x = torch.arange(4, dtype=torch.float32).view(4, 1, 1, 1).expand(4, 1, 2, 2)
    one_hot = torch.eye(8)[[0, 1, 2, 3]]
    votes = torch.tensor([[0.5, 0.5, 0, 0, 0, 0, 0, 0]]).repeat(4, 1)
    perm = torch.tensor([1, 0, 3, 2])
    mixed_x, mixed = mixup(x, {"fer2013": one_hot, "ferplus": votes}, 0.7, perm)
    assert torch.allclose(mixed_x, 0.7 * x + 0.3 * x[perm])
    assert torch.allclose(mixed_x[0], torch.full((1, 2, 2), 0.3))
    assert torch.allclose(mixed["fer2013"][0], 0.7 * torch.eye(8)[0] + 0.3 * torch.eye(8)[1])
    assert torch.allclose(mixed["fer2013"].sum(1), torch.ones(4))  # still distributions
    assert torch.allclose(mixed["ferplus"], votes)  # identical targets stay as they were


def test_mixup_drops_a_heads_target_when_either_item_lacks_it():
    x = torch.rand(4, 1, 3, 3)
    target = torch.eye(8)[[0, 1, 2, 3]]
    target[2] = 0  # item 2 has no label for this head
    perm = torch.tensor([2, 3, 0, 1])  # 0 <-> 2 (one unlabelled), 1 <-> 3 (both labelled)
    _, mixed = mixup(x, {"posed": target}, 0.6, perm)
    assert torch.equal(mixed["posed"][0], torch.zeros(8))
    assert torch.equal(mixed["posed"][2], torch.zeros(8))
    assert torch.allclose(mixed["posed"][1], 0.6 * torch.eye(8)[1] + 0.4 * torch.eye(8)[3])
    assert torch.allclose(mixed["posed"][3], 0.6 * torch.eye(8)[3] + 0.4 * torch.eye(8)[1])


# -- distill_loss --------------------------------------------------------------------------


def test_distill_loss_is_zero_at_the_teachers_distribution_and_positive_elsewhere():
    present = torch.tensor([0, 2, 3, 5])
    gen = torch.Generator().manual_seed(0)
    teacher = torch.softmax(torch.randn(5, 4, generator=gen), 1)
    temperature = 2.0
    logits = torch.randn(5, 8, generator=gen) * 10  # absent classes: anything at all
    # softmax(logits[:, present] / T) == teacher, up to a per-row constant in the logits.
    logits[:, present] = temperature * teacher.log() + torch.randn(5, 1, generator=gen)
    assert abs(float(distill_loss(logits, teacher, present, temperature))) < 1e-5

    off = logits.clone()
    off[:, present[0]] += 3.0
    assert float(distill_loss(off, teacher, present, temperature)) > 0.01
    assert float(distill_loss(torch.zeros(5, 8), teacher, present, temperature)) > 0.01


def test_distill_loss_ignores_classes_outside_present():
    present = torch.tensor([1, 4, 6])
    gen = torch.Generator().manual_seed(3)
    teacher = torch.softmax(torch.randn(4, 3, generator=gen), 1)
    logits = torch.randn(4, 8, generator=gen)
    other = logits.clone()
    absent = [c for c in range(8) if c not in present.tolist()]
    other[:, absent] = torch.randn(4, len(absent), generator=gen) * 50
    a = distill_loss(logits, teacher, present, 2.0)
    b = distill_loss(other, teacher, present, 2.0)
    assert float(a) > 0 and torch.allclose(a, b)


# -- Teachers ------------------------------------------------------------------------------


def test_teachers_give_log_probabilities_per_head(two_teachers):
    teachers = Teachers([two_teachers[0]], CPU)
    saved = torch.load(two_teachers[0], map_location="cpu", weights_only=True)
    out = teachers(_batch())
    assert set(out) == set(saved["heads"])
    for head, logp in out.items():
        assert logp.shape == (6, 8)
        assert (logp <= 0).all()
        assert torch.allclose(logp.exp().sum(1), torch.ones(6), atol=1e-5), head
    # The checkpoint's own weights are loaded, not a fresh network's.
    member = teachers.members[0].state_dict()
    for key, value in saved["model"].items():
        assert torch.equal(member[key], value), key


def test_teachers_ensemble_averages_probabilities(two_teachers):
    x = _batch()
    a = Teachers([two_teachers[0]], CPU)(x)
    b = Teachers([two_teachers[1]], CPU)(x)
    both = Teachers(list(two_teachers), CPU)(x)
    changed = False
    for head in both:
        mean = (a[head].exp() + b[head].exp()) / 2
        assert torch.allclose(both[head].exp(), mean, atol=1e-5), head
        changed |= not torch.allclose(a[head], b[head], atol=1e-3)
    assert changed  # the two teachers really disagree, so the mean is not trivially either


def test_teacher_probabilities_cover_only_the_present_classes(two_teachers):
    x = _batch()
    teachers = Teachers(list(two_teachers), CPU)
    present = {"fer2013": torch.tensor([0, 3, 4])}
    probs = teachers.probabilities(x, present, temperature=2.0)
    assert set(probs) == {"fer2013"}  # heads the student does not have are left out
    assert probs["fer2013"].shape == (6, 3)
    assert torch.allclose(probs["fer2013"].sum(1), torch.ones(6), atol=1e-5)
    expected = sum(torch.softmax(m(x)["fer2013"].float()[:, [0, 3, 4]] / 2.0, 1)
                   for m in teachers.members) / 2
    assert torch.allclose(probs["fer2013"], expected, atol=1e-5)


def test_teachers_are_frozen_and_stay_in_eval_mode(two_teachers):
    teachers = Teachers(list(two_teachers), CPU)
    params = list(teachers.parameters())
    assert params and not any(p.requires_grad for p in params)
    teachers.train()
    assert not teachers.training
    assert not any(m.training for m in teachers.modules())
    # Eval mode: batch-norm statistics do not move however often the teachers run.
    before = copy.deepcopy(teachers.state_dict())
    teachers(_batch(8) * 5 + 3)
    after = teachers.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_teachers_reject_unusable_checkpoints(tmp_path):
    with pytest.raises(FerkitError, match="missing.pt"):
        Teachers([tmp_path / "missing.pt"], CPU)
    torch.save({"model": {}}, tmp_path / "not_a_run.pt")  # no config or heads
    with pytest.raises(FerkitError, match="not_a_run.pt"):
        Teachers([tmp_path / "not_a_run.pt"], CPU)
    with pytest.raises(FerkitError):
        Teachers([], CPU)
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07not a torch file")
    with pytest.raises(FerkitError, match="model.onnx"):
        Teachers([tmp_path / "model.onnx"], CPU)


def test_a_head_is_averaged_over_the_teachers_that_have_it(two_teachers, tmp_path):
    state = torch.load(two_teachers[1], map_location="cpu", weights_only=True)
    dropped = state["heads"][-1]
    state["heads"] = [h for h in state["heads"] if h != dropped]
    state["model"] = {k: v for k, v in state["model"].items()
                      if not k.startswith(f"heads.{dropped}.")}
    torch.save(state, tmp_path / "fewer_heads.pt")
    both = Teachers([two_teachers[0], tmp_path / "fewer_heads.pt"], CPU)
    alone = Teachers([two_teachers[0]], CPU)
    x = _batch()
    present = {dropped: torch.arange(8)}
    assert torch.allclose(both.probabilities(x, present, 1.0)[dropped],
                          alone.probabilities(x, present, 1.0)[dropped], atol=1e-6)
    assert torch.allclose(both(x)[dropped], alone(x)[dropped], atol=1e-5)


# -- training with teachers and with mixup -------------------------------------------------


def test_training_from_teachers(dataset, baseline, two_teachers, tmp_path):
    config = _config(*dataset, "train.distill_weight=0.7")
    config["train"]["teachers"] = [str(p) for p in two_teachers]
    trainer = Trainer(config, tmp_path / "student")
    assert trainer.run() == tmp_path / "student" / "best.pt"
    assert (tmp_path / "student" / "best.pt").is_file()
    losses = _losses(tmp_path / "student")
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.8 * losses[0], losses
    # The teachers changed what was learned...
    plain, taught = _weights(baseline / "last.pt"), _weights(tmp_path / "student" / "last.pt")
    assert any(not torch.equal(plain[k], taught[k]) for k in plain)
    # ...and did not learn themselves (weights and batch-norm statistics as loaded).
    saved = _weights(two_teachers[0])
    member = trainer.teachers.members[0].state_dict()
    assert all(torch.equal(member[k], saved[k]) for k in saved)


def test_training_with_mixup(dataset, baseline, tmp_path):
    out = tmp_path / "mixup"
    Trainer(_config(*dataset, "train.mixup_prob=1.0", "train.mixup_alpha=0.4"), out).run()
    assert (out / "best.pt").is_file()
    losses = _losses(out)
    assert len(losses) == 3 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.8 * losses[0], losses
    plain, mixed = _weights(baseline / "last.pt"), _weights(out / "last.pt")
    assert any(not torch.equal(plain[k], mixed[k]) for k in plain)  # mixup was applied


# -- train.time_budget ---------------------------------------------------------------------


class _FakeClock:
    """Stands in for `time` in the training loop: each step takes 1 s, each validation 3 s."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


def install_fake_clock(monkeypatch) -> _FakeClock:
    """Make the training loop's clock a _FakeClock that steps and validations advance."""
    clock = _FakeClock()
    real_step, real_eval = Trainer._step, loop.evaluate_heads

    def step(self, *args, **kwargs):
        clock.now += 1.0
        return real_step(self, *args, **kwargs)

    def evaluate(*args, **kwargs):
        clock.now += 3.0
        return real_eval(*args, **kwargs)

    monkeypatch.setattr(loop, "time", clock)
    monkeypatch.setattr(Trainer, "_step", step)
    monkeypatch.setattr(loop, "evaluate_heads", evaluate)
    return clock


def test_time_budget_sets_epochs_and_resume_keeps_them(dataset, tmp_path, monkeypatch):
    install_fake_clock(monkeypatch)
    out = tmp_path / "budget"
    # 48 faces in batches of 16: an epoch is 3 steps (3 s) plus validation (3 s) = 6 s.
    config = _config(*dataset, "train.epochs=40", "train.time_budget=20",
                     "train.stop_after=1")
    trainer = Trainer(config, out)
    assert trainer.steps_per_epoch == 3
    trainer.run()
    saved = yaml.safe_load((out / "config.yaml").read_text())["train"]
    assert saved["epochs"] == 3
    # The saved config repeats the run without timing again, and says how it was sized.
    assert saved["time_budget"] == 0 and saved["sized_by"] == "time_budget=20s on cpu"
    assert torch.load(out / "last.pt", weights_only=True)["config"]["train"]["epochs"] == 3
    assert len(_losses(out)) == 1  # stopped after one epoch

    def must_not_time(self, seconds, *args, **kwargs):
        raise AssertionError("--resume must keep the epoch count, not time steps again")

    monkeypatch.setattr(Trainer, "epochs_for_budget", must_not_time)
    again = _config(*dataset, "train.epochs=40", "train.time_budget=600")
    Trainer(again, out).run(resume=True)
    saved = yaml.safe_load((out / "config.yaml").read_text())["train"]
    assert saved["epochs"] == 3 and saved["time_budget"] == 0
    with (out / "metrics.csv").open() as fh:
        assert [int(r["epoch"]) for r in csv.DictReader(fh)] == [1, 2, 3]


def test_timing_steps_leave_no_trace(dataset, tmp_path):
    trainer = Trainer(_config(*dataset), tmp_path / "t")
    before = copy.deepcopy(trainer.model.state_dict())
    assert trainer.epochs_for_budget(1e-9, warmup_steps=1, timed_steps=2) == 1  # at least one
    after = trainer.model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # batch-norm buffers too
    assert not trainer.optimizer.state_dict()["state"]  # no Adam moments from the timed steps
    assert trainer.epochs_for_budget(1e9, warmup_steps=1, timed_steps=2) > 1


# -- train.device --------------------------------------------------------------------------


def test_pick_device(monkeypatch):
    assert pick_device("cpu") == CPU
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device("auto") == CPU
    for name in ("cuda", "cuda:0"):
        with pytest.raises(FerkitError, match="no CUDA GPU"):
            pick_device(name)
    with pytest.raises(FerkitError, match="use auto, cpu or cuda"):
        pick_device("gpu-please")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device("auto").type == "cuda"
