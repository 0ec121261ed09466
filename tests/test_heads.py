"""Tests for fitting a linear head on frozen features and adding it to an exported model."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from model_helpers import random_head

pytest.importorskip("torch", reason="fitting a head needs torch (train extra)")
pytest.importorskip("onnx", reason="editing ONNX models needs onnx (train extra)")

from ferkit.errors import FerkitError  # noqa: E402
from ferkit.labels import EMOTIONS  # noqa: E402
from ferkit.model import ExpressionModel  # noqa: E402
from ferkit.train.heads import (  # noqa: E402
    ABSENT_LOGIT,
    LinearHead,
    add_head,
    fit_linear_head,
    model_features,
)


def _separable(n=400, dim=16, seed=0):
    """Features of three classes (happy, sad, angry) around distinct centres."""
    rng = np.random.default_rng(seed)
    classes = [EMOTIONS.index(c) for c in ("happy", "sad", "angry")]
    centres = rng.normal(0, 3, (3, dim))
    y = rng.integers(0, 3, n)
    x = (centres[y] + rng.normal(0, 1, (n, dim))).astype(np.float32)
    targets = np.zeros((n, len(EMOTIONS)), np.float32)
    targets[np.arange(n), np.array(classes)[y]] = 1
    return x, targets, np.array(classes)[y]


def test_fit_learns_separable_classes_and_never_predicts_absent_ones():
    x, t, y = _separable()
    head = fit_linear_head(x, t)
    p = head.probabilities(x)
    assert (p.argmax(1) == y).mean() > 0.95
    assert np.allclose(p.sum(1), 1, atol=1e-5)
    absent = [i for i in range(len(EMOTIONS)) if i not in set(y.tolist())]
    assert p[:, absent].max() < 1e-6
    assert np.all(head.bias[absent] < ABSENT_LOGIT / 2)


def test_class_weight_power_one_lifts_a_rare_class():
    # Overlapping classes, one rare: weighing classes alike moves answers towards the rare one.
    rng = np.random.default_rng(0)
    y = np.array([0] * 450 + [1] * 50)
    x = (rng.normal(size=(500, 2)) + np.where(y[:, None] == 1, 1.0, 0.0)).astype(np.float32)
    t = np.zeros((500, len(EMOTIONS)), np.float32)
    t[np.arange(500), y] = 1
    rare = [(fit_linear_head(x, t, class_weight_power=p).probabilities(x).argmax(1) == 1).sum()
            for p in (0.0, 1.0)]
    assert rare[1] > rare[0]


def test_head_command_refuses_a_class_weight_power_out_of_range(tiny_onnx_model, tmp_path,
                                                                capsys):
    from ferkit.cli import main

    code = main(["head", str(tiny_onnx_model), "--data", str(tmp_path), "--name", "x",
                 "--out", str(tmp_path / "x.onnx"), "--class-weight-power", "5"])
    assert code == 1
    assert "class weight power must lie in [0, 2], got 5" in capsys.readouterr().err


def test_training_and_heads_share_one_class_weighting_and_its_range():
    from ferkit.train.config import CLASS_WEIGHT_POWER, load_config
    from ferkit.train.loop import class_weights

    assert load_config(None)["train"]["class_weight_power"] == CLASS_WEIGHT_POWER
    t = np.zeros((5, 3), np.float32)
    t[[0, 1, 2, 3], 0] = 1
    t[4, 1] = 1
    w = class_weights(t, 1.0).numpy()
    # weights ~ 1/frequency, mean 1 over the two classes present; the absent one weighs 0
    assert w == pytest.approx([0.4, 1.6, 0.0])
    with pytest.raises(FerkitError, match="class weight power must lie in"):
        load_config(None, ["train.class_weight_power=3"])
    for bad in (-0.1, 2.5):
        with pytest.raises(FerkitError, match="class weight power must lie in"):
            class_weights(t, bad)
        with pytest.raises(FerkitError, match="class weight power must lie in"):
            fit_linear_head(np.zeros((5, 2), np.float32), t, class_weight_power=bad)


def test_fit_refuses_mismatched_inputs():
    with pytest.raises(FerkitError, match="as many targets"):
        fit_linear_head(np.zeros((3, 4), np.float32), np.zeros((2, 8), np.float32))


def test_added_head_runs_in_onnx_runtime_and_serves_label_sets(tiny_onnx_model, tmp_path):
    rng = np.random.default_rng(1)
    faces = rng.integers(0, 256, (6, 48, 48), dtype=np.uint8)
    feats = model_features(tiny_onnx_model, faces)
    assert feats.shape[0] == 6 and feats.shape[1] > 0
    head = LinearHead(rng.normal(0, 0.1, (len(EMOTIONS), feats.shape[1])).astype(np.float32),
                      np.zeros(len(EMOTIONS), np.float32))
    out = tmp_path / "with-head.onnx"
    add_head(tiny_onnx_model, out, "wild", head, serves=("seed5",))
    model = ExpressionModel(out)
    assert model.heads[-1] == "wild"
    assert model.label_set_heads["seed5"] == "wild"
    assert model.label_set_heads["ferplus"] == "ferplus"  # others keep their heads
    got = model.head_probabilities(list(faces), "wild")
    assert np.allclose(got, head.probabilities(feats), atol=1e-5)
    # The existing heads are untouched.
    before = ExpressionModel(tiny_onnx_model).head_probabilities(list(faces), "fer2013")
    assert np.allclose(model.head_probabilities(list(faces), "fer2013"), before, atol=1e-6)


@pytest.mark.parametrize("name, serves, message", [
    ("fer2013", (), "already has a head 'fer2013'"),
    ("bad name", (), "use letters, digits and _"),
    ("wild", ("emoji",), "unknown label set"),
])
def test_add_head_refuses_bad_requests(tiny_onnx_model, tmp_path, name, serves, message):
    head = LinearHead(np.zeros((len(EMOTIONS), 4), np.float32), np.zeros(len(EMOTIONS)))
    out = tmp_path / "x.onnx"
    with pytest.raises(FerkitError, match=message):
        add_head(tiny_onnx_model, out, name, head, serves=serves)
    assert not out.exists()


def test_replace_refits_a_head_in_place(tiny_onnx_model, tmp_path):
    import onnx

    from ferkit.calibration import write_temperatures

    calibrated = write_temperatures(tiny_onnx_model, tmp_path / "calibrated.onnx",
                                    {"fer2013": 0.5, "ferplus": 2.0})
    before = ExpressionModel(calibrated)
    faces = [np.random.default_rng(i).integers(0, 256, (48, 48), dtype=np.uint8)
             for i in range(4)]
    head = random_head(model_features(calibrated, np.stack(faces)).shape[1], seed=5)
    out = tmp_path / "refitted.onnx"
    add_head(calibrated, out, "fer2013", head, replace=True)
    after = ExpressionModel(out)
    assert after.heads == before.heads  # same place
    assert after.label_set_heads == before.label_set_heads
    assert after.temperatures["fer2013"] == 1.0 and after.temperatures["ferplus"] == 2.0
    np.testing.assert_allclose(after.head_probabilities(faces, "fer2013"),
                               head.probabilities(model_features(out, np.stack(faces))),
                               atol=1e-5)
    np.testing.assert_allclose(after.head_probabilities(faces, "ferplus"),
                               before.head_probabilities(faces, "ferplus"), atol=1e-6)
    graph = onnx.load(str(out)).graph
    assert len(graph.node) == len(onnx.load(str(calibrated)).graph.node)  # old head gone
    assert sum(i.name == "net.heads.fer2013.weight" for i in graph.initializer) == 1
    with pytest.raises(FerkitError, match="no head 'mine' to replace"):
        add_head(calibrated, tmp_path / "x.onnx", "mine", head, replace=True)
    with pytest.raises(FerkitError, match="--replace refits it"):
        add_head(calibrated, tmp_path / "x.onnx", "fer2013", head)


def test_replace_through_the_cli_on_a_model_with_one_head(make, face, tmp_path, capsys):
    """A network whose only head is replaced keeps its backbone (nothing else reads it)."""
    import torch

    from ferkit.cli import main
    from ferkit.train.export import export_onnx
    from ferkit.train.models import create_model

    torch.manual_seed(0)
    one = tmp_path / "one-head.onnx"
    export_onnx(create_model("fernet_xs", heads=("fer2013",)).eval(), one,
                architecture="fernet_xs")
    root = make.own([(label, f"{i}.png", face(i))
                     for i, label in enumerate(["happy", "sad", "angry"] * 3)])
    out = tmp_path / "refitted.onnx"
    argv = ["head", str(one), "--data", str(root), "--name", "fer2013", "--out", str(out)]
    assert main(argv) == 1
    assert "already has a head 'fer2013' (--replace refits it)" in capsys.readouterr().err
    assert main([*argv, "--replace"]) == 0
    model = ExpressionModel(out)
    assert model.heads == ("fer2013",)
    p = model.head_probabilities([face(1)], "fer2013")
    absent = [EMOTIONS.index(e) for e in ("neutral", "surprise", "disgust", "fear", "contempt")]
    assert p[0, absent].max() < 1e-6  # the refitted head, not the untrained one


def test_unreadable_model_is_one_line_error(tmp_path):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not onnx")
    with pytest.raises(FerkitError, match="not a readable ONNX model"):
        model_features(bad, np.zeros((1, 48, 48), np.uint8))


def test_head_command_fits_on_training_faces_and_leaves_val_copies_out(
        tiny_onnx_model, make, face, tmp_path, capsys):
    from ferkit.cli import main

    items = [("train", label, f"Training_{i}.jpg", face(i))
             for i, label in enumerate(["happy", "sad", "angry", "happy", "sad", "angry"] * 3)]
    # A validation face whose exact copy sits in train: that copy must not train the head.
    items += [("test", "happy", "PublicTest_99.jpg", face(0))]
    root = make.fer2013_folders(items)
    out = tmp_path / "with-head.onnx"
    code = main(["head", str(tiny_onnx_model), "--data", str(root), "--name", "wild",
                 "--serve", "seed5", "--out", str(out)])
    assert code == 0
    err = capsys.readouterr()
    assert "17 training faces (1 copies of validation faces left out)" in err.out + err.err
    assert "note: wild never answers neutral, surprise (no training faces of them), which " \
           "label set seed5 asks for" in err.err
    model = ExpressionModel(out)
    assert model.label_set_heads["seed5"] == "wild"
    p = model.head_probabilities([face(1)], "wild")
    # Emotions no training face had get no probability.
    absent = [EMOTIONS.index(e) for e in ("neutral", "surprise", "disgust", "fear", "contempt")]
    assert p[0, absent].max() < 1e-6


def test_head_command_reads_photos_as_their_faces(tiny_onnx_model, make, face, tmp_path,
                                                  capsys, monkeypatch):
    from ferkit.cli import main
    from ferkit.imageio import example_path, load_image
    from ferkit.recognizer import Recognizer

    photo = load_image(example_path("astronaut"))
    root = make.own([("sad", f"{i}.png", face(i)) for i in range(3)])
    (root / "happy").mkdir()
    cv2.imwrite(str(root / "happy" / "astronaut.png"), photo)
    searched = []
    original = Recognizer.face_crops
    monkeypatch.setattr(Recognizer, "face_crops",
                        lambda self, image, **kw: searched.append(image.shape)
                        or original(self, image, **kw))
    out = tmp_path / "with-head.onnx"
    assert main(["head", str(tiny_onnx_model), "--data", str(root), "--name", "mine",
                 "--out", str(out)]) == 0
    captured = capsys.readouterr()
    shown = captured.out
    assert "4 training faces" in shown
    assert "note: mine answers no label set: --serve LABELSET" in captured.err
    assert f"ferkit evaluate --model {out} --data DATASET --head mine" in shown
    assert "1 of the 4 images read were searched for a face, found in 1" in shown
    assert searched == [photo.shape]  # the photo, in colour; the small crops as they are
    assert "mine" in ExpressionModel(out).heads


def test_head_command_refuses_to_overwrite(tiny_onnx_model, tmp_path, capsys):
    from ferkit.cli import main

    out = tmp_path / "exists.onnx"
    out.write_bytes(b"keep me")
    code = main(["head", str(tiny_onnx_model), "--data", str(tmp_path), "--name", "x",
                 "--out", str(out)])
    assert code == 1
    assert "exists.onnx already exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"
    # Nor over its own input, even asked to.
    code = main(["head", str(tiny_onnx_model), "--data", str(tmp_path), "--name", "x",
                 "--out", str(tiny_onnx_model), "--overwrite"])
    assert code == 1
    assert "refusing to overwrite an input file" in capsys.readouterr().err


def test_head_command_keeps_force_as_an_alias_of_overwrite():
    import argparse

    from ferkit.commands import head

    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers()
    head.register(sub)
    base = ["head", "m.onnx", "--data", "d", "--name", "x", "--out", "o.onnx"]
    assert parser.parse_args([*base, "--force"]).overwrite
    assert parser.parse_args([*base, "--overwrite"]).overwrite
    assert not parser.parse_args(base).overwrite
    usage = sub.choices["head"].format_help()
    assert "--overwrite" in usage and "--force" not in usage


def test_export_quantises_an_onnx_model_with_its_added_head(tiny_onnx_model, make, face,
                                                            tmp_path):
    from ferkit.cli import main

    root = make.fer2013_folders([("train", "happy", f"Training_{i}.jpg", face(i))
                                 for i in range(8)])
    feats = model_features(tiny_onnx_model, np.zeros((1, 48, 48), np.uint8))
    head = LinearHead(np.zeros((len(EMOTIONS), feats.shape[1]), np.float32),
                      np.zeros(len(EMOTIONS), np.float32))
    fp32 = tmp_path / "fp32.onnx"
    add_head(tiny_onnx_model, fp32, "wild", head)
    int8 = tmp_path / "int8.onnx"
    assert main(["export", str(fp32), "--out", str(int8), "--int8-calibration", str(root)]) == 0
    model = ExpressionModel(int8)
    assert model.heads[-1] == "wild"
    # The heads stay in float: quantised probabilities would come in steps of 1/255.
    import onnx

    graph = onnx.load(str(int8)).graph
    softmax_out = {n.output[0] for n in graph.node if n.op_type == "Softmax"}
    assert len(softmax_out) == len(model.heads)
    assert not [n for n in graph.node if n.op_type == "QuantizeLinear"
                and n.input[0] in softmax_out]
    assert np.allclose(model.head_probabilities([face(1)], "wild"), 1 / len(EMOTIONS), atol=0.02)
    assert main(["export", str(fp32), "--out", str(tmp_path / "x.onnx")]) == 1
    # Quantised twice, a graph no longer loads: refused, and nothing is written.
    again = tmp_path / "again.onnx"
    assert main(["export", str(int8), "--out", str(again), "--int8-calibration",
                 str(root)]) == 1
    assert not again.exists()


def test_a_head_added_to_an_int8_model_reads_its_int8_features(tiny_onnx_model, make, face,
                                                                tmp_path):
    from ferkit.cli import main

    root = make.fer2013_folders([("train", label, f"Training_{i}.jpg", face(i))
                                 for i, label in enumerate(["happy", "sad", "angry"] * 4)])
    int8 = tmp_path / "int8.onnx"
    assert main(["export", str(tiny_onnx_model), "--out", str(int8),
                 "--int8-calibration", str(root)]) == 0
    faces = np.stack([face(i) for i in range(5)])
    feats = model_features(int8, faces)
    assert not np.allclose(feats, model_features(tiny_onnx_model, faces), atol=1e-4)
    head = random_head(feats.shape[1], seed=3)
    out = tmp_path / "int8-head.onnx"
    add_head(int8, out, "mine", head, serves=("seed5",))
    model = ExpressionModel(out)
    assert model.metadata["quantization"] == "int8-static"
    np.testing.assert_allclose(model.head_probabilities(list(faces), "mine"),
                               head.probabilities(feats), atol=1e-5)


def test_head_command_hands_its_class_weight_power_to_the_fit(tiny_onnx_model, make, face,
                                                             tmp_path, monkeypatch):
    import ferkit.train.heads as heads
    from ferkit.cli import main
    from ferkit.train.config import CLASS_WEIGHT_POWER

    seen = []
    real_fit = heads.fit_linear_head

    def fit(*args, **kwargs):
        seen.append(kwargs["class_weight_power"])
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(heads, "fit_linear_head", fit)
    root = make.fer2013_folders([("train", label, f"Training_{i}.jpg", face(i)) for i, label
                                 in enumerate(["happy", "sad", "angry"] * 3)])
    for power, name in ((None, "a.onnx"), ("1", "b.onnx")):
        argv = ["head", str(tiny_onnx_model), "--data", str(root), "--name", "wild",
                "--out", str(tmp_path / name)]
        assert main(argv + (["--class-weight-power", power] if power else [])) == 0
    assert seen == [CLASS_WEIGHT_POWER, 1.0]
    from ferkit.cli import build_parser

    assert f"default {CLASS_WEIGHT_POWER}," in " ".join(
        build_parser()._subparsers._group_actions[0].choices["head"].format_help().split())


@pytest.mark.parametrize(("extra", "message"), [
    (["--name", ""], "head name '': use letters"),
    (["--name", "fer2013"], "already has a head 'fer2013'"),
    (["--serve", "bogus"], "unknown label set(s) bogus"),
    (["--out", "{data}/train/happy/new.onnx"], "inside the dataset"),
    (["--out", "{data}/x.csv", "--data", "fer2013csv={data}/x.csv", "--overwrite"],
     "inside the dataset"),
])
def test_head_command_refuses_before_reading_any_face(tiny_onnx_model, make, face, tmp_path,
                                                      capsys, monkeypatch, extra, message):
    from ferkit.cli import main
    from ferkit.datasets import combine

    root = make.fer2013_folders([("train", "happy", f"Training_{i}.jpg", face(i))
                                 for i in range(4)])
    (root / "x.csv").write_text("emotion,pixels,Usage\n")
    monkeypatch.setattr(combine, "labelled_training_faces",
                        lambda *a, **k: pytest.fail("faces were read before the checks"))
    argv = ["head", str(tiny_onnx_model), "--data", str(root), "--name", "wild",
            "--out", str(tmp_path / "out.onnx")]
    assert main(argv + [a.format(data=root) for a in extra]) == 1
    assert message in capsys.readouterr().err
    assert (root / "x.csv").read_text() == "emotion,pixels,Usage\n"
    assert not (tmp_path / "out.onnx").exists()
