"""A real, tiny training run through `ferkit train`: the loss falls and resuming is exact."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")

from ferkit.cli import main  # noqa: E402

EPOCHS = 4
CLASSES = ("happy", "sad", "surprise")


def _face(label: str, rng: np.random.Generator) -> np.ndarray:
    """A 48x48 pattern per class, distinct under the training augmentations (flip, shift)."""
    yy, xx = np.mgrid[0:48, 0:48].astype(np.float32)
    phase, freq = rng.uniform(0, 2 * np.pi), rng.uniform(0.5, 0.8)
    if label == "happy":
        img = 128 + 70 * np.sin(yy * freq + phase)  # horizontal stripes
    elif label == "sad":
        img = 128 + 70 * np.sin(xx * freq + phase)  # vertical stripes
    else:
        r = np.hypot(yy - 24 + rng.uniform(-4, 4), xx - 24 + rng.uniform(-4, 4))
        img = np.where(r < rng.uniform(9, 14), 220.0, 50.0)  # a bright disc
    return np.clip(img + rng.normal(0, 18, img.shape), 0, 255).astype(np.uint8)


def write_fer2013_layout(root, per_class_train: int = 32, per_class_val: int = 8) -> str:
    """A FER2013-style folder (train/<class>/Training_N.png, test/<class>/PublicTest_N.png)."""
    rng = np.random.default_rng(0)
    n = 0
    for part, prefix, count in (("train", "Training", per_class_train),
                                ("test", "PublicTest", per_class_val)):
        for label in CLASSES:
            folder = root / part / label
            folder.mkdir(parents=True)
            for _ in range(count):
                cv2.imwrite(str(folder / f"{prefix}_{n}.png"), _face(label, rng))
                n += 1
    return f"fer2013={root}"


def _train(data: str, cache, out, *extra: str) -> None:
    argv = ["train", "--out", str(out), "--data", data, "--epochs", str(EPOCHS),
            "--set", "model.name=fernet_xs", "--set", f"data.cache_dir={cache}",
            "--set", "train.batch_size=16", "--set", "train.lr=0.02",
            "--set", "train.patience=100", *extra]
    # One thread: results are then bit-for-bit repeatable, and a busy machine cannot stall
    # a thread pool waiting on a starved worker (seen as minute-long steps with two).
    argv += ["--set", "train.threads=1"]
    assert main(argv) == 0


def _weights(path) -> dict:
    return torch.load(path, map_location="cpu", weights_only=True)["model"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """One uninterrupted run, and one stopped after EPOCHS - 1 epochs then resumed."""
    tmp = tmp_path_factory.mktemp("smoke")
    data = write_fer2013_layout(tmp / "data")
    cache = tmp / "cache"
    threads = torch.get_num_threads()  # Trainer sets it process-wide; restore for other tests
    try:
        _train(data, cache, tmp / "full")
        _train(data, cache, tmp / "split", "--set", f"train.stop_after={EPOCHS - 1}")
        stopped = _weights(tmp / "split" / "last.pt")
        _train(data, cache, tmp / "split", "--resume")
    finally:
        torch.set_num_threads(threads)
    return tmp, stopped


def test_loss_falls_and_outputs_are_written(runs):
    tmp, _ = runs
    out = tmp / "full"
    with (out / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == list(range(1, EPOCHS + 1))
    losses = [float(r["loss"]) for r in rows]
    assert losses[-1] < 0.8 * losses[0], losses
    assert "val_fer2013" in rows[0]
    for name in ("best.pt", "last.pt", "config.yaml", "curves.png"):
        assert (out / name).is_file()
    # best.pt is for export, init_from and teachers: weights without the optimiser's moments
    # (last.pt keeps them for --resume), so it is a fraction of last.pt's size.
    best = torch.load(out / "best.pt", weights_only=True)
    assert "optimizer" not in best and {"model", "config", "heads", "epoch"} <= set(best)
    assert (out / "best.pt").stat().st_size < 0.5 * (out / "last.pt").stat().st_size


def test_a_folder_holding_a_run_is_not_trained_over_unless_asked(runs, capsys):
    tmp, _ = runs
    out = tmp / "full"
    before = (out / "last.pt").read_bytes()
    assert main(["train", "--out", str(out), "--epochs", "1"]) == 1
    assert "already holds a training run; pass --resume" in capsys.readouterr().err
    assert (out / "last.pt").read_bytes() == before and (out / "metrics.csv").is_file()
    assert main(["train", "--out", str(out), "--resume", "--overwrite"]) == 1
    assert "give one" in capsys.readouterr().err


def test_overwrite_starts_the_run_again_leaving_nothing_of_the_one_before(tmp_path):
    data = write_fer2013_layout(tmp_path / "data")
    out = tmp_path / "run"
    threads = torch.get_num_threads()
    try:
        _train(data, tmp_path / "cache", out, "--epochs", "2")
        (out / "swa.pt").write_bytes(b"an older run's averaged weights")
        _train(data, tmp_path / "cache", out, "--epochs", "1", "--overwrite")
    finally:
        torch.set_num_threads(threads)
    assert len((out / "metrics.csv").read_text().splitlines()) == 2  # header and epoch 1
    assert torch.load(out / "last.pt", weights_only=True)["epoch"] == 1
    assert not (out / "swa.pt").exists()


def test_resume_reproduces_the_uninterrupted_run(runs):
    tmp, stopped = runs
    full = _weights(tmp / "full" / "last.pt")
    resumed = _weights(tmp / "split" / "last.pt")
    assert full.keys() == resumed.keys()
    # Sanity: the stopped checkpoint really is an earlier state.
    assert any(not torch.equal(stopped[k], full[k]) for k in full)
    for key in full:
        assert torch.equal(full[key], resumed[key]), key
    with (tmp / "split" / "metrics.csv").open() as fh:
        assert [int(r["epoch"]) for r in csv.DictReader(fh)] == list(range(1, EPOCHS + 1))


def test_init_from_starts_a_new_stage_from_another_runs_weights(runs, tmp_path):
    tmp, _ = runs
    start = _weights(tmp / "full" / "best.pt")
    threads = torch.get_num_threads()
    try:
        # A vanishing learning rate: the new stage must begin from (and stay at) those weights.
        _train(f"fer2013={tmp / 'data'}", tmp / "cache", tmp_path / "stage2",
               "--set", f"train.init_from={tmp / 'full' / 'best.pt'}",
               "--set", "train.lr=1e-12", "--epochs", "1")
    finally:
        torch.set_num_threads(threads)
    after = _weights(tmp_path / "stage2" / "last.pt")
    for key, value in start.items():
        if value.is_floating_point() and "running" not in key:
            assert torch.allclose(value, after[key], atol=1e-6), key
    with (tmp_path / "stage2" / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    # Already-trained weights score well from the first epoch of the new stage.
    assert float(rows[0]["val_fer2013"]) > 0.6


def test_init_from_a_missing_checkpoint_is_a_clear_error(runs, tmp_path, capsys):
    tmp, _ = runs
    argv = ["train", "--out", str(tmp_path / "x"), "--data", f"fer2013={tmp / 'data'}",
            "--set", "model.name=fernet_xs", "--set", f"data.cache_dir={tmp / 'cache'}",
            "--set", f"train.init_from={tmp_path / 'nope.pt'}"]
    assert main(argv) != 0
    assert "nope.pt" in capsys.readouterr().err


def test_best_epoch_pools_the_heads_by_their_validation_size():
    from ferkit.train.loop import validation_score

    counts = {"fer2013": 3560, "ferplus": 3199, "posed": 160}
    steady = {"fer2013": 0.70, "ferplus": 0.86, "posed": 0.95}
    # A 6-point swing on 160 CK+ faces no longer outweighs a 1-point gain on 3,560 FER2013 ones.
    lucky_small_fold = {"fer2013": 0.69, "ferplus": 0.86, "posed": 1.00}
    assert validation_score(steady, counts) > validation_score(lucky_small_fold, counts)
    assert validation_score({"fer2013": 0.5}, counts) == 0.5


def test_batch_mean_weighs_every_labelled_item_the_same_whichever_head_it_trains():
    from ferkit.train.loop import masked_mean

    losses = torch.tensor([1.0, 2.0, 3.0, 6.0])
    few = torch.tensor([False, False, False, True])   # a small source: 1 labelled item in 4
    assert masked_mean(losses, few).item() == 6.0     # its one item gets a head's full weight
    assert masked_mean(losses, few, "batch").item() == 1.5   # ... or a quarter of it
    everyone = torch.ones(4, dtype=torch.bool)
    assert masked_mean(losses, everyone, "batch").item() == masked_mean(losses, everyone).item()
    assert masked_mean(losses, torch.zeros(4, dtype=torch.bool)).item() == 0.0


def test_an_unknown_label_loss_mean_is_a_clear_error(runs, tmp_path, capsys):
    tmp, _ = runs
    argv = ["train", "--out", str(tmp_path / "run"), "--data", f"fer2013={tmp / 'data'}",
            "--epochs", "1", "--set", "model.name=fernet_xs",
            "--set", f"data.cache_dir={tmp / 'cache'}", "--set", "train.label_loss_mean=items"]
    assert main(argv) != 0
    assert "label_loss_mean" in capsys.readouterr().err


def test_resume_keeps_the_label_loss_mean_the_run_started_with(runs, tmp_path):
    """Also for runs saved before the option existed: they averaged over labelled items."""
    from ferkit.train.config import load_config
    from ferkit.train.loop import Trainer

    tmp, _ = runs
    config = load_config(None, [f"data.cache_dir={tmp / 'cache'}", "model.name=fernet_xs",
                                "train.epochs=2", "train.stop_after=1", "train.threads=1",
                                "train.batch_size=16"])
    config["data"]["sources"] = [f"fer2013={tmp / 'data'}"]
    threads = torch.get_num_threads()
    try:
        Trainer(config, tmp_path / "run").run()
        last = tmp_path / "run" / "last.pt"
        state = torch.load(last, map_location="cpu", weights_only=True)
        assert state["config"]["train"]["label_loss_mean"] == "batch"  # the new default
        del state["config"]["train"]["label_loss_mean"]  # as an older run saved it
        torch.save(state, last)
        resumed = Trainer(config, tmp_path / "run")
        resumed.resume()
    finally:
        torch.set_num_threads(threads)
    assert resumed.config["train"]["label_loss_mean"] == "labelled"
    assert resumed.state()["config"]["train"]["label_loss_mean"] == "labelled"  # saved on


def test_each_epoch_rewrites_metrics_atomically(tmp_path, monkeypatch):
    from ferkit.errors import FerkitError
    from ferkit.train import loop

    path = tmp_path / "metrics.csv"
    for epoch in (1, 2):
        loop._append_metrics(path, loop.EpochResult(epoch, 0.1, 1.0 / epoch, 0.5,
                                                    {"fer": epoch / 4}, 3.0))
    before = path.read_bytes()

    def no_rename(*_):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("ferkit.outputs.os.replace", no_rename)
    with pytest.raises(FerkitError, match="No space left"):
        loop._append_metrics(path, loop.EpochResult(3, 0.1, 0.3, 0.6, {"fer": 0.7}, 3.0))
    monkeypatch.undo()
    assert path.read_bytes() == before  # a failed update leaves the earlier epochs whole
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.csv"]  # no temporary file left
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["epoch"], r["val_fer"]) for r in rows] == [("1", "0.25"), ("2", "0.5")]


def test_own_photos_are_read_whole_and_training_says_so(tmp_path, capsys):
    """`ferkit train` reads every image whole as one face; users' images over
    PHOTO_MIN_SIDE px are photos, so it says how many it read that way."""
    from ferkit.datasets.base import PHOTO_MIN_SIDE

    rng = np.random.default_rng(1)
    for label in CLASSES:
        folder = tmp_path / "own" / label
        folder.mkdir(parents=True)
        for k in range(6):  # 48 px crops, as the GUI collects; one photo per class
            cv2.imwrite(str(folder / f"crop{k}.png"), _face(label, rng))
        photo = cv2.resize(_face(label, rng), (PHOTO_MIN_SIDE + 40,) * 2)
        cv2.imwrite(str(folder / "photo.png"), photo)
        # At the limit: a crop (the GUI keeps its crops at or under it), not counted.
        cv2.imwrite(str(folder / "big-crop.png"), cv2.resize(photo, (PHOTO_MIN_SIDE,) * 2))
    threads = torch.get_num_threads()
    try:
        _train(str(tmp_path / "own"), tmp_path / "cache", tmp_path / "run", "--epochs", "1")
        err = capsys.readouterr().err
        _train(write_fer2013_layout(tmp_path / "fer"), tmp_path / "cache", tmp_path / "run2",
               "--epochs", "1")
    finally:
        torch.set_num_threads(threads)
    note = f"note: images of your own over {PHOTO_MIN_SIDE} px on their shorter side: 3,"
    assert note in err and "crop the faces first" in err
    assert "images of your own" not in capsys.readouterr().err
    # Cropping the photos in place is seen: the cached faces are read again, with no note.
    for label in CLASSES:
        path = tmp_path / "own" / label / "photo.png"
        cv2.imwrite(str(path), cv2.resize(cv2.imread(str(path)), (48, 48)))
    try:
        _train(str(tmp_path / "own"), tmp_path / "cache", tmp_path / "run3", "--epochs", "1")
    finally:
        torch.set_num_threads(threads)
    assert "images of your own" not in capsys.readouterr().err
