"""Half-precision weight storage, int8 quantisation, and the model shipped in the package."""

from __future__ import annotations

import numpy as np
import pytest

from ferkit.errors import FerkitError
from ferkit.imageio import example_path
from ferkit.labels import label_names
from ferkit.model import ExpressionModel, shipped_model_path

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from test_export import metadata, tiny_model  # noqa: E402

from ferkit.datasets.base import FaceSample  # noqa: E402
from ferkit.train.export import export_onnx  # noqa: E402
from ferkit.train.quantize import calibration_faces, quantize_int8  # noqa: E402


def _faces(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, 48, 48), dtype=np.uint8)


def test_fp16_weights_halve_the_file_and_keep_the_outputs(tmp_path):
    model = tiny_model()
    full, half = tmp_path / "full.onnx", tmp_path / "half.onnx"
    export_onnx(model, full, architecture="fernet_xs")
    result = export_onnx(model, half, architecture="fernet_xs", fp16_weights=True)
    assert half.stat().st_size < 0.6 * full.stat().st_size
    assert result["max_abs_diff"] < 1e-2
    a = ExpressionModel(full).probabilities(list(_faces(8)), "ferplus")
    b = ExpressionModel(half).probabilities(list(_faces(8)), "ferplus")
    assert np.abs(a - b).max() < 1e-2


def test_int8_model_keeps_metadata_and_gives_distributions(tmp_path):
    src, out = tmp_path / "m.onnx", tmp_path / "m8.onnx"
    export_onnx(tiny_model(), src, architecture="fernet_xs")
    quantize_int8(src, out, _faces(64))
    meta = metadata(out)
    assert meta["quantization"] == "int8-static"
    assert meta["emotions"] == metadata(src)["emotions"]
    probs = ExpressionModel(out).probabilities(list(_faces(5, seed=1)), "seed5")
    assert probs.shape == (5, 5)
    np.testing.assert_allclose(probs.sum(axis=1), 1, atol=1e-5)


def test_calibration_uses_training_faces_only():
    def sample(split, value):
        return FaceSample(np.full((48, 48), value, np.uint8), "happy", "x", split)

    faces = calibration_faces([sample("val", 9), sample("train", 1), sample("train", 2)],
                              count=10)
    assert sorted(faces[:, 0, 0].tolist()) == [1, 2]
    with pytest.raises(FerkitError, match="training-split"):
        calibration_faces([sample("val", 1)])


needs_shipped = pytest.mark.skipif(not shipped_model_path().is_file(),
                                   reason="no shipped model in this checkout")


@needs_shipped
def test_shipped_model_is_small_and_self_describing():
    assert shipped_model_path().stat().st_size <= 10_000_000
    model = ExpressionModel.shipped()
    assert model.input_size == 48
    assert set(model.heads) == {"fer2013", "ferplus", "posed", "rafdb", "wild", "ferplus_ck"}
    # Every label set is served by a head fitted on posed CK+ faces too (docs/MODEL.md):
    # 7 classes by RAF-DB + FER2013 + CK+, FER+'s 8 by FER+ + CK+.
    assert model.head_for("seed5") == model.head_for("fer2013") == "wild"
    assert model.head_for("ferplus") == "ferplus_ck"
    assert all(0.1 < t < 2 for t in model.temperatures.values())


@needs_shipped
@pytest.mark.parametrize("label_set", ["seed5", "fer2013", "ferplus"])
def test_shipped_model_finds_the_smile_in_the_example_photo(label_set):
    from ferkit.recognizer import Recognizer

    faces = Recognizer().analyze(example_path("astronaut"), label_set)
    assert len(faces) == 1
    assert list(faces[0].scores) == list(label_names(label_set))
    assert faces[0].label == "happy"
    assert abs(sum(faces[0].scores.values()) - 1) < 1e-5
