"""ExpressionModel and Recognizer: preprocessing of any crop, label-set columns, errors."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest
from model_helpers import export_tiny_model

import ferkit
from ferkit.errors import FerkitError
from ferkit.faces import Face
from ferkit.labels import EMOTIONS, LABEL_SETS, label_names, project
from ferkit.model import ExpressionModel, model_sha256, shipped_model_path

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny.onnx"
    net = export_tiny_model(path)
    return ExpressionModel(path, threads=1), net


@pytest.fixture(scope="module")
def model(tiny):
    return tiny[0]


def face(h=48, w=48, seed=0):
    """A grayscale uint8 crop with structure (so mirroring and resizing matter)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = 128 + 60 * np.sin(xx / max(w, 1) * 7 + seed) + 30 * (yy / max(h, 1)) * (xx > w // 3)
    return np.clip(img + rng.normal(0, 10, (h, w)), 0, 255).astype(np.uint8)


def test_matches_torch_with_training_normalisation(tiny):
    model, net = tiny
    from ferkit.train.loop import to_input

    crops = [face(seed=i) for i in range(4)]
    with torch.no_grad():
        logits = net(to_input(np.stack(crops)))
    for label_set in LABEL_SETS:
        head = model.head_for(label_set)
        expected = project(torch.softmax(logits[head], 1).numpy(), EMOTIONS, label_set)
        np.testing.assert_allclose(model.probabilities(crops, label_set), expected, atol=1e-4)


@pytest.mark.parametrize("crop", [
    face(48, 48), face(100, 80), face(20, 31), face(1, 1),
    face(30, 30)[:, :, None],
    np.dstack([face(64, 64, 1)] * 3),
    np.dstack([face(50, 60, 2)] * 3 + [np.full((50, 60), 7, np.uint8)]),
    face(48, 48).astype(np.uint16) * 257,
    np.dstack([face(40, 40)] * 3).astype(np.uint16) * 257,
    face(96, 96)[::2, ::2],  # a non-contiguous view
], ids=["gray48", "gray100x80", "gray20x31", "gray1x1", "gray_hw1", "bgr", "bgra",
        "gray_u16", "bgr_u16", "strided"])
def test_any_crop_gives_a_distribution(model, crop):
    for label_set, names in LABEL_SETS.items():
        probs = model.probabilities([crop, crop], label_set)
        assert probs.shape == (2, len(names)) and probs.dtype == np.float32
        np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
        assert (probs >= 0).all()


def test_channels_and_depths_preprocess_like_gray(model):
    gray = face(60, 50, 3)
    bgr = np.dstack([gray] * 3)
    bgra = np.dstack([gray] * 3 + [np.zeros_like(gray)])  # alpha is ignored
    u16 = gray.astype(np.uint16) * 256 + 255  # low byte dropped, as the dataset readers do
    expected = model.preprocess([gray])
    for crop in (bgr, bgra, u16, gray[:, :, None]):
        np.testing.assert_array_equal(model.preprocess([crop]), expected)
    resized = cv2.resize(gray, (48, 48), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(expected[0, 0], (resized / 255.0 - 0.5) / 0.25, atol=1e-6)


def test_columns_follow_the_label_set(model):
    crops = [face(seed=i) for i in range(3)]
    for label_set in LABEL_SETS:
        head = model.head_for(label_set)
        raw = model.head_probabilities(crops, head)
        got = model.probabilities(crops, label_set)
        for j, name in enumerate(label_names(label_set)):
            col = raw[:, EMOTIONS.index(name)]
            kept = raw[:, [EMOTIONS.index(n) for n in label_names(label_set)]].sum(axis=1)
            np.testing.assert_allclose(got[:, j], col / kept, rtol=1e-5)


def test_label_set_uses_the_head_the_metadata_names(tmp_path):
    path = tmp_path / "m.onnx"
    export_tiny_model(path, label_set_heads={"seed5": "posed"})
    m = ExpressionModel(path)
    assert m.head_for("seed5") == "posed" and m.head_for("ferplus") == "ferplus"
    crops = [face()]
    np.testing.assert_allclose(
        m.probabilities(crops, "seed5"),
        project(m.head_probabilities(crops, "posed"), EMOTIONS, "seed5"), rtol=1e-6)


def test_flip_tta_averages_with_the_mirror(model):
    crop = face(50, 70, 5)
    plain = model.head_probabilities([crop], "fer2013")
    mirror = model.head_probabilities([crop[:, ::-1]], "fer2013")
    expected = project((plain + mirror) / 2, EMOTIONS, "seed5")
    np.testing.assert_allclose(model.probabilities([crop], tta=True), expected, atol=1e-6)
    symmetric = np.hstack([crop, crop[:, ::-1]])
    np.testing.assert_allclose(model.probabilities([symmetric], tta=True),
                               model.probabilities([symmetric]), atol=1e-6)


def test_every_head_in_one_pass_matches_each_head_alone(model):
    crops = [face(48, 48, s) for s in range(300)]  # more than one ONNX Runtime chunk
    for tta in (False, True):
        every = model.every_head_probabilities(crops, tta=tta, calibrated=False)
        assert list(every) == list(model.heads)
        for head, probs in every.items():
            assert probs.shape == (300, len(EMOTIONS))
            np.testing.assert_allclose(
                probs, model.head_probabilities(crops, head, tta=tta, calibrated=False),
                atol=1e-6)
    assert {h: p.shape for h, p in model.every_head_probabilities([]).items()} == {
        h: (0, len(EMOTIONS)) for h in model.heads}


def test_empty_input(model):
    for label_set, names in LABEL_SETS.items():
        assert model.probabilities([], label_set).shape == (0, len(names))
        assert model.probabilities([], label_set, tta=True).shape == (0, len(names))
    assert model.preprocess(()).shape == (0, 1, 48, 48)


@pytest.mark.parametrize(("crops", "message"), [
    ([face().astype(np.float32)], "uint8 or uint16"),
    ([face() > 0], "uint8 or uint16"),
    ([np.zeros((48, 48, 2), np.uint8)], "shape"),
    ([np.zeros((4, 48, 48, 3), np.uint8)], "shape"),
    ([np.zeros((0, 10), np.uint8)], "empty"),
    ([face().tolist()], "numpy array"),
    (np.stack([face(), face()]), "list of images"),
])
def test_bad_crops(model, crops, message):
    with pytest.raises(FerkitError, match=message):
        model.probabilities(crops)


def test_bad_label_set_and_head(model):
    with pytest.raises(FerkitError, match="unknown label set"):
        model.probabilities([face()], "seed7")
    with pytest.raises(FerkitError, match="no head"):
        model.head_probabilities([face()], "nohead")


def test_bad_model_files(tmp_path):
    with pytest.raises(FerkitError, match="no such model file"):
        ExpressionModel(tmp_path / "missing.onnx")
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"not an onnx model")
    with pytest.raises(FerkitError, match="not a loadable ONNX model"):
        ExpressionModel(garbage)
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["faces"], ["out"])], "plain",
        [helper.make_tensor_value_info("faces", TensorProto.FLOAT, [1, 1, 48, 48])],
        [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 1, 48, 48])])
    plain = tmp_path / "plain.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(plain))
    with pytest.raises(FerkitError, match="not a ferkit model"):
        ExpressionModel(plain)


def test_model_sha256_hashes_each_version_of_a_file_once(tmp_path, monkeypatch):
    import hashlib
    import os

    path = tmp_path / "m.onnx"
    path.write_bytes(b"first version")
    assert model_sha256(path) == hashlib.sha256(b"first version").hexdigest()
    opened = []
    real_open = Path.open
    monkeypatch.setattr(Path, "open", lambda self, *a, **k: opened.append(self)
                        or real_open(self, *a, **k))
    assert model_sha256(path) == hashlib.sha256(b"first version").hexdigest()
    assert opened == []  # the same file again: from the cache
    path.write_bytes(b"second, longer version")
    os.utime(path, ns=(1, 1))
    opened.clear()  # write_bytes opened it too
    assert model_sha256(path) == hashlib.sha256(b"second, longer version").hexdigest()
    assert opened == [path.resolve()]
    with pytest.raises(FerkitError, match="cannot read model .*missing.onnx"):
        model_sha256(tmp_path / "missing.onnx")


def test_immutable_and_described(model):
    with pytest.raises(AttributeError):
        model.threads = 4
    with pytest.raises(TypeError):
        model.metadata["mean"] = 0
    assert model.emotions == EMOTIONS and model.input_size == 48
    assert model.architecture == "fernet_xs" and "fernet_xs" in repr(model)


def test_thread_safe(model):
    crops = [face(40 + i, 48, i) for i in range(6)]
    expected = model.probabilities(crops, "ferplus")
    results, errors = [], []

    def work():
        try:
            for _ in range(5):
                results.append(model.probabilities(crops, "ferplus"))
        except Exception as exc:  # surfaced below: a thread's exception is otherwise lost
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(results) == 20
    for r in results:
        np.testing.assert_array_equal(r, expected)


@pytest.mark.parametrize("photo_tta", [False, True])
def test_recognizer_classify(model, monkeypatch, photo_tta):
    rec = ferkit.Recognizer(model.path)
    crops = [face(64, 64), np.dstack([face(30, 40)] * 3)]
    monkeypatch.setattr("ferkit.recognizer.PHOTO_TTA", photo_tta)

    for label_set in LABEL_SETS:
        # Photos' default (PHOTO_TTA), and each crop averaged with its mirror when asked.
        np.testing.assert_array_equal(rec.classify(crops, label_set),
                                      model.probabilities(crops, label_set, tta=photo_tta))
        np.testing.assert_array_equal(rec.classify(crops, label_set, tta=True),
                                      model.probabilities(crops, label_set, tta=True))
    np.testing.assert_array_equal(ferkit.Recognizer(model).classify(crops, tta=False),
                                  model.probabilities(crops, tta=False))
    assert rec.classify([]).shape == (0, 5)
    with pytest.raises(AttributeError):
        rec.model = None


def test_recognizer_without_shipped_model(monkeypatch, tmp_path):
    monkeypatch.setattr("ferkit.model.shipped_model_path", lambda: tmp_path / "fernet.onnx")
    with pytest.raises(FerkitError, match="shipped model .* does not exist"):
        ferkit.Recognizer()


def test_shipped_model_location():
    path = shipped_model_path()
    assert path.name == "fernet.onnx" and path.parent.name == "models"
    assert path.parent.parent.name == "ferkit"


def test_import_ferkit_is_cheap():
    code = ("import sys, ferkit; ferkit.Recognizer; "
            "print(sorted(m for m in ('torch', 'onnxruntime', 'onnx') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    # Naming the Recognizer class imports only ferkit.model; onnxruntime loads with a model.
    assert out.strip() == "[]"


class WholeImageDetector:
    """Finds one face covering whatever image it is given, landmarks at its corners."""

    def __init__(self):
        self.seen = []

    def detect(self, bgr):
        height, width = bgr.shape[:2]
        self.seen.append((height, width))
        return [Face((0, 0, width, height), 0.9, landmarks=((0, 0), (width, height)))]


def test_recognizer_maps_boxes_from_a_shrunk_image_back_axis_by_axis(model):
    # 4000x3 shrinks to 1920x1: the axes scale by 2.08 and 3, and each box keeps both.
    detector = WholeImageDetector()
    rec = ferkit.Recognizer(model, detector=detector)
    [found] = rec.analyze(np.full((3, 4000, 3), 128, np.uint8))
    assert detector.seen == [(1, 1920)]
    assert found.box_xyxy == pytest.approx((0, 0, 4000, 3))
    assert [p for point in found.landmarks for p in point] == pytest.approx([0, 0, 4000, 3])
