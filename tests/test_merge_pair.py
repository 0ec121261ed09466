"""tools/merge_pair.py: the merged file answers the mean of its members' calibrated
probabilities, from one colour input that its grey member reads grey."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
from model_helpers import export_tiny_model, random_head

onnx = pytest.importorskip("onnx", reason="tools/merge_pair.py needs onnx (ferkit[train])")
torch = pytest.importorskip("torch", reason="the tiny member models are built with torch")

from ferkit.calibration import write_temperatures  # noqa: E402
from ferkit.model import ExpressionModel  # noqa: E402
from ferkit.train.export import export_onnx  # noqa: E402
from ferkit.train.models import create_model  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "merge_pair", Path(__file__).parents[1] / "tools" / "merge_pair.py")
merge_pair = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(merge_pair)


def _member(path: Path, color: str, seed: int, temperatures: dict) -> Path:
    export_tiny_model(path, color=color, seed=seed)
    return write_temperatures(path, path, temperatures)


def test_the_merged_file_averages_its_members_calibrated_probabilities(tmp_path):
    grey = _member(tmp_path / "grey.onnx", "gray", 0, {"fer2013": 0.7, "ferplus": 1.3})
    colour = _member(tmp_path / "colour.onnx", "bgr", 1, {"fer2013": 1.2, "posed": 0.8})
    merged_path = tmp_path / "pair.onnx"
    onnx.save(merge_pair.merge(grey, colour), merged_path)
    merged, a, b = (ExpressionModel(p) for p in (merged_path, grey, colour))
    assert merged.color == "bgr" and set(merged.temperatures.values()) == {1.0}
    rng = np.random.default_rng(0)
    # Equal channels: OpenCV's grey of them is exact, so the grey member sees what it would.
    crops = [np.repeat(rng.integers(0, 256, (48, 48, 1), dtype=np.uint8), 3, axis=2)
             for _ in range(8)]
    for head in ("fer2013", "ferplus", "posed"):
        expected = (a.head_probabilities(crops, head) + b.head_probabilities(crops, head)) / 2
        np.testing.assert_allclose(merged.head_probabilities(crops, head), expected, atol=1e-5)


def test_members_must_agree_on_their_heads(tmp_path):
    grey = _member(tmp_path / "grey.onnx", "gray", 0, {})
    torch.manual_seed(2)
    net = create_model("fernet_xs", heads=("fer2013",)).eval()
    export_onnx(net, tmp_path / "other.onnx", architecture="fernet_xs")
    with pytest.raises(SystemExit, match="heads"):
        merge_pair.merge(grey, tmp_path / "other.onnx")


def test_a_head_added_to_the_merged_file_reads_both_members_features(tmp_path, make, face,
                                                                     capsys):
    from ferkit.cli import main
    from ferkit.train.heads import add_head, model_features

    grey = _member(tmp_path / "grey.onnx", "gray", 0, {"fer2013": 0.7})
    colour = _member(tmp_path / "colour.onnx", "bgr", 1, {"fer2013": 1.2})
    pair = tmp_path / "pair.onnx"
    onnx.save(merge_pair.merge(grey, colour), pair)
    crops = np.stack([np.repeat(face(i)[:, :, None], 3, axis=2) for i in range(6)])
    joint = model_features(pair, crops)
    single = model_features(colour, crops)
    assert joint.shape == (6, 2 * single.shape[1])
    np.testing.assert_allclose(joint[:, single.shape[1]:], single, atol=1e-5)
    head = random_head(joint.shape[1], seed=4)
    first = tmp_path / "pair-mine.onnx"
    add_head(pair, first, "mine", head, serves=("seed5",))
    model = ExpressionModel(first)
    np.testing.assert_allclose(model.head_probabilities(list(crops), "mine"),
                               head.probabilities(joint), atol=1e-5)
    before = ExpressionModel(pair).head_probabilities(list(crops), "fer2013")
    np.testing.assert_allclose(model.head_probabilities(list(crops), "fer2013"), before,
                               atol=1e-6)
    # A second head reads the same joined features.
    np.testing.assert_allclose(model_features(first, crops), joint, atol=1e-6)
    # `ferkit head` on the merged file, as a user runs it on the shipped one.
    root = make.own([(label, f"{i}.png", face(i))
                     for i, label in enumerate(["happy", "sad", "angry"] * 3)])
    out = tmp_path / "pair-own.onnx"
    assert main(["head", str(first), "--data", str(root), "--name", "own",
                 "--out", str(out)]) == 0
    assert "9 training faces" in capsys.readouterr().out
    assert ExpressionModel(out).heads[-2:] == ("mine", "own")
    # A head the members each had, refitted on their joint features in place.
    refitted = tmp_path / "pair-refitted.onnx"
    add_head(pair, refitted, "fer2013", head, replace=True)
    model = ExpressionModel(refitted)
    assert model.heads == ExpressionModel(pair).heads
    np.testing.assert_allclose(model.head_probabilities(list(crops), "fer2013"),
                               head.probabilities(joint), atol=1e-5)
    names = {n.name for n in onnx.load(str(refitted)).graph.node}
    assert not any(n.startswith(("a//net/fer2013/", "b//net/fer2013/")) for n in names)
