"""Teacher predictions cached once (`ferkit distill-cache`) and a student distilled from them."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from cli_helpers import run  # noqa: E402

# _one_thread is autouse: one torch thread here too (Trainer sets the count process-wide).
from test_train_distill import _config as tiny_run  # noqa: E402
from test_train_distill import _one_thread  # noqa: E402, F401
from test_train_smoke import CLASSES, write_fer2013_layout  # noqa: E402
from test_train_smoke import _face as striped_face  # noqa: E402

from ferkit.calibration import write_temperatures  # noqa: E402
from ferkit.datasets.combine import HEADS, CombinedDataset, load_configured  # noqa: E402
from ferkit.errors import FerkitError  # noqa: E402
from ferkit.labels import EMOTIONS  # noqa: E402
from ferkit.model import ExpressionModel  # noqa: E402
from ferkit.train import loop  # noqa: E402
from ferkit.train.distill import soften  # noqa: E402
from ferkit.train.export import export_onnx  # noqa: E402
from ferkit.train.loop import Trainer  # noqa: E402
from ferkit.train.models import create_model  # noqa: E402
from ferkit.train.teacher_cache import TeacherCache, build_teacher_cache  # noqa: E402


def _dataset(n: int = 40, seed: int = 0, val: int = 10) -> CombinedDataset:
    """`n` striped or disc faces, the last `val` for validation, labelled for fer2013 only."""
    rng = np.random.default_rng(seed)
    images = np.stack([striped_face(CLASSES[i % len(CLASSES)], rng) for i in range(n)])
    labels = rng.integers(0, len(EMOTIONS), n)
    targets = {h: np.zeros((n, len(EMOTIONS)), np.float32) for h in HEADS}
    targets["fer2013"][np.arange(n), labels] = 1.0
    return CombinedDataset(images, np.array(["train"] * (n - val) + ["val"] * val),
                           np.array(["fer2013"] * n), np.array([""] * n), targets, {})


@pytest.fixture(scope="module")
def second_teacher(tmp_path_factory):
    """Another untrained fernet_xs, with the fer2013 head only (tiny_onnx_model has three)."""
    torch.manual_seed(1)
    net = create_model("fernet_xs", heads=("fer2013",))
    with torch.no_grad():
        net.train()
        net(torch.randn(16, 1, 48, 48))
    net.eval()
    path = tmp_path_factory.mktemp("teacher") / "one-head.onnx"
    export_onnx(net, path, architecture="fernet_xs")
    return path


def _probs(path, images, head, tta=False):
    model = ExpressionModel(path, threads=1)
    return model.head_probabilities(list(images), head, tta=tta, calibrated=False)


# -- building, saving and reading a cache --------------------------------------------------


@pytest.mark.parametrize("mirror", [False, True])
def test_each_head_is_averaged_over_the_teachers_that_have_it(tiny_onnx_model, second_teacher,
                                                               mirror):
    data = _dataset()
    models = [ExpressionModel(p, threads=1) for p in (tiny_onnx_model, second_teacher)]
    cache = build_teacher_cache(models, data, mirror=mirror)
    assert cache.dataset == data.fingerprint() and cache.mirror is mirror
    assert cache.teachers == (str(tiny_onnx_model), str(second_teacher))
    assert set(cache.probs) == {"fer2013", "ferplus", "posed"}
    a = _probs(tiny_onnx_model, data.images, "fer2013", mirror)
    b = _probs(second_teacher, data.images, "fer2013", mirror)
    assert not np.allclose(a, b, atol=1e-3)  # the teachers disagree: the mean is neither
    np.testing.assert_allclose(cache.probs["fer2013"], (a + b) / 2, atol=1e-6)
    # Only the first teacher has a FER+ head: its probabilities alone, not halved.
    np.testing.assert_allclose(cache.probs["ferplus"],
                               _probs(tiny_onnx_model, data.images, "ferplus", mirror), atol=1e-6)
    for probs in cache.probs.values():
        assert probs.shape == (len(data), len(EMOTIONS)) and probs.dtype == np.float32


def test_teachers_calibration_temperatures_are_left_out(tiny_onnx_model, tmp_path):
    hot = write_temperatures(tiny_onnx_model, tmp_path / "hot.onnx", {"fer2013": 3.0})
    assert ExpressionModel(hot).temperatures["fer2013"] == 3.0
    data = _dataset(12, val=2)
    plain = build_teacher_cache([ExpressionModel(tiny_onnx_model)], data)
    calibrated = build_teacher_cache([ExpressionModel(hot)], data)
    np.testing.assert_allclose(calibrated.probs["fer2013"], plain.probs["fer2013"], atol=1e-6)


def test_a_cache_reads_back_as_written(tiny_onnx_model, tmp_path):
    data = _dataset()
    cache = build_teacher_cache([ExpressionModel(tiny_onnx_model)], data, mirror=True)
    cache.save(tmp_path / "cache.npz")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache.npz"]  # no temporary left
    back = TeacherCache.load(tmp_path / "cache.npz", data)
    assert (back.dataset, back.teachers, back.mirror) == (cache.dataset, cache.teachers, True)
    assert set(back.probs) == set(cache.probs)
    for head, probs in cache.probs.items():
        np.testing.assert_array_equal(back.probs[head], probs)


def test_a_cache_for_other_data_is_refused(tiny_onnx_model, tmp_path):
    data = _dataset()
    build_teacher_cache([ExpressionModel(tiny_onnx_model)], data).save(tmp_path / "cache.npz")
    other = [_dataset(seed=1),  # other faces
             CombinedDataset(data.images, data.split[::-1].copy(), data.sources,  # other splits
                             data.subjects, data.targets),
             data.subset(np.arange(len(data) - 1))]  # one face fewer
    for wrong in other:
        with pytest.raises(FerkitError, match="teacher predictions for other data"):
            TeacherCache.load(tmp_path / "cache.npz", wrong)


def test_files_that_are_not_caches_are_refused(tmp_path):
    data = _dataset(8, val=2)
    with pytest.raises(FerkitError, match="no such teacher cache"):
        TeacherCache.load(tmp_path / "missing.npz", data)
    data.save(tmp_path / "packed.npz")  # a combined dataset, not a cache
    (tmp_path / "junk.npz").write_bytes(b"not a zip file")
    for name in ("packed.npz", "junk.npz"):
        with pytest.raises(FerkitError, match=f"{name}: not a teacher cache"):
            TeacherCache.load(tmp_path / name, data)


def test_ensemble_accuracy_counts_the_labelled_faces_of_a_split(tiny_onnx_model):
    data = _dataset(30, val=10)
    cache = build_teacher_cache([ExpressionModel(tiny_onnx_model)], data)
    val = data.split == "val"
    truth = data.targets["fer2013"][val].argmax(1)
    expected = float((cache.probs["fer2013"][val].argmax(1) == truth).mean())
    # Only fer2013 has labels in this data: the other heads are not scored.
    assert cache.accuracy(data) == {"fer2013": expected}


def test_soften_is_the_ensembles_softmax_at_temperature_t():
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 8, generator=gen) * 3
    present = torch.tensor([0, 2, 3, 6])
    for t in (1.0, 2.0, 4.0):
        expected = torch.softmax(logits[:, present] / t, 1)
        got = soften(torch.softmax(logits, 1), present, t)
        assert torch.allclose(got, expected, atol=1e-5), t
    assert torch.isfinite(soften(torch.eye(8)[:2], present, 2.0)).all()  # exact zeros


# -- training from a cache -----------------------------------------------------------------


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    """(source spec, combined-data cache folder) of the smoke test's stripes and discs."""
    tmp = tmp_path_factory.mktemp("cachedata")
    return write_fer2013_layout(tmp / "data"), tmp / "combined"


def _config(data: str, combined, *overrides: str) -> dict:
    """test_train_distill's tiny CPU run (48 faces, batches of 16), for one epoch."""
    return tiny_run(data, combined, "train.epochs=1", "train.distill_weight=0.7", *overrides)


@pytest.fixture(scope="module")
def teacher_cache(faces, tiny_onnx_model, second_teacher, tmp_path_factory):
    """The cache `ferkit distill-cache` writes for the faces, from both teachers."""
    path = tmp_path_factory.mktemp("cache") / "teachers.npz"
    data, combined = faces
    code = _cli(tiny_onnx_model, second_teacher, "--data", data, "--out", path,
                "--set", f"data.cache_dir={combined}", "--threads", "1")
    assert code == 0 and path.is_file()
    return path


def _cli(*argv) -> int:
    from ferkit.cli import main

    return main([str(a) for a in ["distill-cache", *argv]])


def test_distill_cache_command_reports_each_teacher_and_the_ensemble(
        faces, tiny_onnx_model, second_teacher, tmp_path, capsys):
    data, combined = faces
    out = tmp_path / "c.npz"
    code, stdout, err = run(capsys, "distill-cache", tiny_onnx_model, second_teacher,
                            "--data", data, "--set", f"data.cache_dir={combined}", "--out", out,
                            "--mirror")
    assert code == 0, err
    combined_data = load_configured(_config(data, combined)["data"])
    cache = TeacherCache.load(out, combined_data)
    assert cache.mirror
    lines = stdout.splitlines()
    assert lines[0] == (f"wrote {out}: 2 teachers over {len(combined_data)} faces, each with "
                        "its mirror; heads fer2013, ferplus, posed")
    n_val = int((combined_data.split == "val").sum())
    assert lines[1] == f"validation accuracy ({n_val} faces)"
    assert lines[2].split() == ["model", "fer2013"]
    ensemble = lines[-1].split()
    assert ensemble[0] == "ensemble"
    assert float(ensemble[1]) == pytest.approx(cache.accuracy(combined_data)["fer2013"],
                                               abs=1e-4)
    assert [line.split()[0] for line in lines[3:5]] == [str(tiny_onnx_model),
                                                       str(second_teacher)]


def test_training_from_a_teacher_cache(faces, teacher_cache, tiny_onnx_model, second_teacher,
                                       tmp_path, monkeypatch):
    calls = []

    def recording(*args, **kwargs):
        value = real(*args, **kwargs)
        calls.append(float(value.detach()))
        return value

    real = loop.distill_loss
    monkeypatch.setattr(loop, "distill_loss", recording)
    config = _config(*faces, f"train.teacher_cache={teacher_cache}",
                     "train.distill_temperature=3.0")
    trainer = Trainer(config, tmp_path / "student")
    # Each training face is taught its own cached targets: the teachers' mean on that face.
    images = trainer.train_data.images
    mean = (_probs(tiny_onnx_model, images, "fer2013")
            + _probs(second_teacher, images, "fer2013")) / 2
    expected = soften(torch.from_numpy(mean), trainer.present["fer2013"], 3.0)
    assert set(trainer.cached_targets) == {"fer2013"}  # the student's only head
    assert torch.allclose(trainer.cached_targets["fer2013"], expected, atol=1e-5)

    assert trainer.run() == tmp_path / "student" / "best.pt"
    assert len(calls) == trainer.steps_per_epoch == 3  # every step, the fer2013 head
    assert all(math.isfinite(v) and v > 1e-4 for v in calls), calls


def test_training_from_a_cache_with_mixup(faces, teacher_cache, tmp_path, monkeypatch):
    taught = []

    def recording(student_logits, teacher_probs, *args):
        taught.append(teacher_probs)
        return real(student_logits, teacher_probs, *args)

    real = loop.distill_loss
    monkeypatch.setattr(loop, "distill_loss", recording)
    config = _config(*faces, f"train.teacher_cache={teacher_cache}", "train.mixup_prob=1.0")
    trainer = Trainer(config, tmp_path / "mixed")
    trainer.run()
    assert (tmp_path / "mixed" / "best.pt").is_file()
    cached = trainer.cached_targets["fer2013"]
    for targets in taught:  # blends of two faces' targets: distributions, mostly not one face's
        assert torch.allclose(targets.sum(1), torch.ones(len(targets)), atol=1e-5)
        own = (targets[:, None, :] - cached[None]).abs().amax(2).min(1).values < 1e-6
        assert not own.all()


def test_teachers_and_a_teacher_cache_are_exclusive(faces, teacher_cache, tmp_path, capsys):
    config = _config(*faces, f"train.teacher_cache={teacher_cache}")
    config["train"]["teachers"] = [str(tmp_path / "teacher.pt")]
    with pytest.raises(FerkitError, match="train.teachers and train.teacher_cache both given"):
        Trainer(config, tmp_path / "both")
    data, combined = faces
    code, out, err = run(capsys, "train", "--out", tmp_path / "both", "--data", data,
                         "--set", f"data.cache_dir={combined}",
                         "--set", f"train.teacher_cache={teacher_cache}",
                         "--set", "train.teachers=[teacher.pt]")
    assert code == 1 and out == ""
    assert err.splitlines() == ["ferkit: error: train.teachers and train.teacher_cache both "
                                "given: teach from checkpoints run online or from a cache, "
                                "not both"]


def test_training_refuses_a_cache_for_other_data(teacher_cache, tmp_path, capsys):
    other = write_fer2013_layout(tmp_path / "other", per_class_train=8, per_class_val=2)
    code, out, err = run(capsys, "train", "--out", tmp_path / "run", "--data", other,
                         "--set", f"data.cache_dir={tmp_path / 'combined'}",
                         "--set", f"train.teacher_cache={teacher_cache}", "--epochs", "1")
    assert code == 1 and out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith(f"ferkit: error: {teacher_cache}: teacher predictions for other data")
    assert not (tmp_path / "run" / "last.pt").exists()


def test_a_cache_from_the_sources_serves_their_packed_copy(faces, teacher_cache, tmp_path):
    data = load_configured(_config(*faces)["data"])
    data.save(tmp_path / "packed.npz", compact=True)  # as `ferkit data pack` writes it
    packed = CombinedDataset.load(tmp_path / "packed.npz")
    cache = TeacherCache.load(teacher_cache, packed)
    assert cache.dataset == data.fingerprint() == packed.fingerprint()


def test_training_refuses_a_cache_without_the_students_heads(faces, tmp_path):
    data = load_configured(_config(*faces)["data"])
    posed_only = np.full((len(data), len(EMOTIONS)), 1 / len(EMOTIONS), np.float32)
    TeacherCache(data.fingerprint(), {"posed": posed_only}, ("x.onnx",), False).save(
        tmp_path / "posed.npz")
    config = _config(*faces, f"train.teacher_cache={tmp_path / 'posed.npz'}")
    with pytest.raises(FerkitError, match="none of the heads this model trains \\(fer2013\\)"):
        Trainer(config, tmp_path / "run")


# -- the command's bad inputs --------------------------------------------------------------


def test_distill_cache_bad_inputs_give_one_line_and_exit_1(faces, tiny_onnx_model, tmp_path,
                                                          capsys):
    data, combined = faces
    exists = tmp_path / "exists.npz"
    exists.write_bytes(b"mine")
    not_onnx = tmp_path / "model.onnx"
    not_onnx.write_bytes(b"not a model")
    common = ["--data", data, "--set", f"data.cache_dir={combined}"]
    cases = [
        ([tmp_path / "missing.onnx", "--out", tmp_path / "a.npz", *common],
         "missing.onnx: no such model file"),
        ([not_onnx, "--out", tmp_path / "a.npz", *common], "model.onnx: not a loadable ONNX"),
        ([tiny_onnx_model, "--out", tmp_path / "a.txt", *common], "must end in .npz"),
        ([tiny_onnx_model, "--out", exists, *common], "already exists"),
        ([tiny_onnx_model, "--out", tmp_path / "a.npz"], "no training data"),
        ([tiny_onnx_model, "--out", tmp_path / "a.npz", "--data", tmp_path / "nowhere"],
         "nowhere"),
        ([tiny_onnx_model, "--out", tmp_path / "a.npz", "--config", tmp_path / "no.yaml"],
         "no.yaml: cannot read config"),
    ]
    for argv, message in cases:
        code, out, err = run(capsys, "distill-cache", *argv)
        assert code == 1, (argv, err)
        assert out == "" and len(err.splitlines()) == 1, err
        assert err.startswith("ferkit: error: ") and message in err, err
    assert exists.read_bytes() == b"mine"  # never overwritten without --overwrite
    assert not (tmp_path / "a.npz").exists() and not (tmp_path / "a.txt").exists()
