"""Calibration: ECE by hand, fitting temperatures, temperatures in the model, `ferkit calibrate`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ferkit.calibration import (
    T_RANGE,
    apply_temperature,
    calibration_half,
    fit_on_halves,
    fit_temperature,
    reliability,
    write_temperatures,
)
from ferkit.cli import main
from ferkit.errors import FerkitError
from ferkit.labels import EMOTIONS, project
from ferkit.model import ExpressionModel


def ece(probs: np.ndarray, labels: np.ndarray) -> float:
    return reliability(probs, labels)["ece"]


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


# -- ECE ---------------------------------------------------------------------------------------


def test_ece_by_hand():
    # Confidences 0.9, 0.75, 0.62, 0.7 fall in bins 13, 11, 9, 10 (of 15), one face each.
    probs = np.array([[0.9, 0.1], [0.25, 0.75], [0.62, 0.38], [0.3, 0.7]])
    labels = np.array([0, 0, 0, 1])  # right, wrong, right, right
    expected = (abs(1 - 0.9) + abs(0 - 0.75) + abs(1 - 0.62) + abs(1 - 0.7)) / 4
    assert ece(probs, labels) == pytest.approx(expected)
    bins = reliability(probs, labels)["bins"]
    assert [i for i, b in enumerate(bins) if b["count"]] == [9, 10, 11, 13]
    assert bins[11] == pytest.approx({"lower": 11 / 15, "upper": 12 / 15, "count": 1,
                                      "accuracy": 0.0, "confidence": 0.75})


def test_ece_averages_within_a_bin_before_the_gap():
    # Both in bin 13: accuracy 1/2, mean confidence 0.92; the gaps do not add face by face.
    probs = np.array([[0.91, 0.09], [0.07, 0.93]])
    assert ece(probs, np.array([0, 0])) == pytest.approx(0.42)
    assert ece(probs, np.array([0, 1])) == pytest.approx(0.08)


def test_ece_of_calibrated_probabilities_is_small():
    rng = np.random.default_rng(0)
    probs = softmax(rng.normal(0, 2, (40_000, 5)))
    labels = np.array([rng.choice(5, p=p) for p in probs])
    assert ece(probs, labels) < 0.01
    overconfident = apply_temperature(probs, 0.5)
    assert ece(overconfident, labels) > 0.05


# -- temperature -------------------------------------------------------------------------------


def test_apply_temperature_equals_scaling_logits():
    z = np.random.default_rng(1).normal(0, 3, (50, 8))
    for t in (0.4, 1.0, 2.5):
        np.testing.assert_allclose(apply_temperature(softmax(z), t), softmax(z / t),
                                   rtol=1e-5, atol=1e-7)
    probs = softmax(z)
    assert apply_temperature(probs, 1.0) is probs
    # One temperature serves every label set: scaling commutes with projecting.
    np.testing.assert_allclose(project(apply_temperature(probs, 2.0), EMOTIONS, "seed5"),
                               apply_temperature(project(probs, EMOTIONS, "seed5"), 2.0),
                               rtol=1e-5, atol=1e-7)
    with pytest.raises(FerkitError, match="positive"):
        apply_temperature(probs, 0.0)


@pytest.mark.parametrize("true_t", [0.5, 1.0, 2.5])
def test_fit_recovers_a_known_temperature(true_t):
    # Labels drawn from softmax(z / T): the network's softmax(z) is off by exactly T.
    rng = np.random.default_rng(7)
    z = rng.normal(0, 3, (20_000, 7))
    labels = np.array([rng.choice(7, p=p) for p in softmax(z / true_t)])
    assert fit_temperature(softmax(z), labels) == pytest.approx(true_t, rel=0.05)


def test_fit_stops_at_the_search_bounds():
    # Always right with a near-uniform output: sharper is always better.
    probs = np.array([[0.34, 0.33, 0.33]] * 10)
    assert fit_temperature(probs, np.zeros(10, int)) == T_RANGE[0]
    # Always wrong: flatter is always better.
    assert fit_temperature(probs, np.ones(10, int)) == T_RANGE[1]


def test_halves_are_fixed_and_even():
    names = [f"PublicTest_{i}.jpg" for i in range(2000)]
    halves = [calibration_half(n) for n in names]
    assert halves == [calibration_half(n) for n in names] and set(halves) == {0, 1}
    assert 900 < sum(halves) < 1100


def test_fit_on_halves_judges_on_the_other_half():
    rng = np.random.default_rng(3)
    z = rng.normal(0, 3, (4000, 5))
    labels = np.array([rng.choice(5, p=p) for p in softmax(z / 2.0)])
    names = [f"/data/x/face_{i}.png" for i in range(4000)]
    r = fit_on_halves(softmax(z), labels, names)
    held_out = np.array([calibration_half(Path(n).name) for n in names]) == 1
    assert r["faces_held_out"] == held_out.sum() and r["faces_fit"] == 4000 - held_out.sum()
    assert r["temperature"] == pytest.approx(2.0, rel=0.1)
    assert r["ece_after"] < r["ece_before"] and r["nll_after"] < r["nll_before"]
    assert r["ece_before"] == pytest.approx(
        ece(softmax(z)[held_out], labels[held_out]))
    with pytest.raises(FerkitError, match="at least 3000 to fit"):
        fit_on_halves(softmax(z), labels, names, min_faces=3000, what="x")


# -- temperatures in the model file ------------------------------------------------------------


def test_a_model_without_temperatures_has_t_1(tiny_onnx_model):
    onnx = pytest.importorskip("onnx")
    meta = {p.key: json.loads(p.value) for p in onnx.load(str(tiny_onnx_model)).metadata_props}
    assert meta["temperatures"] == {"fer2013": 1.0, "ferplus": 1.0, "posed": 1.0}


@pytest.fixture
def old_model(tiny_onnx_model, tmp_path):
    """The tiny model as exported before temperatures existed: no `temperatures` entry."""
    onnx = pytest.importorskip("onnx")
    proto = onnx.load(str(tiny_onnx_model))
    kept = [(p.key, p.value) for p in proto.metadata_props if p.key != "temperatures"]
    del proto.metadata_props[:]
    onnx.helper.set_model_props(proto, dict(kept))
    path = tmp_path / "old.onnx"
    onnx.save(proto, str(path))
    return path


def test_temperatures_round_trip_and_apply(old_model, tmp_path, face):
    before = ExpressionModel(old_model)
    assert dict(before.temperatures) == {"fer2013": 1.0, "ferplus": 1.0, "posed": 1.0}
    original = old_model.read_bytes()
    out = write_temperatures(old_model, tmp_path / "cal.onnx", {"ferplus": 0.5})
    assert old_model.read_bytes() == original  # the input is never touched
    after = ExpressionModel(out)
    assert dict(after.temperatures) == {"fer2013": 1.0, "ferplus": 0.5, "posed": 1.0}
    crops = [face(seed=i) for i in range(4)]
    raw = before.head_probabilities(crops, "ferplus")
    np.testing.assert_allclose(after.head_probabilities(crops, "ferplus", calibrated=False), raw)
    np.testing.assert_allclose(after.head_probabilities(crops, "ferplus"),
                               apply_temperature(raw, 0.5), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(after.probabilities(crops, "ferplus"),
                               project(apply_temperature(raw, 0.5), EMOTIONS, "ferplus"),
                               rtol=1e-5, atol=1e-7)
    # Heads not named keep what they had; a second write merges.
    again = ExpressionModel(write_temperatures(out, tmp_path / "cal2.onnx", {"posed": 2.0}))
    assert dict(again.temperatures) == {"fer2013": 1.0, "ferplus": 0.5, "posed": 2.0}
    with pytest.raises(FerkitError, match="no head rafdb"):
        write_temperatures(out, tmp_path / "x.onnx", {"rafdb": 2.0})


@pytest.mark.parametrize(("value", "message"), [
    ({"ferplus": 0}, "expected a positive number"),
    ({"ferplus": "2"}, "expected a positive number"),
    ({"nohead": 1.5}, "must map heads"),
    ([1.0, 2.0], "must map heads"),
])
def test_bad_temperatures_in_metadata(old_model, tmp_path, value, message):
    onnx = pytest.importorskip("onnx")
    proto = onnx.load(str(old_model))
    onnx.helper.set_model_props(proto, {**{p.key: p.value for p in proto.metadata_props},
                                        "temperatures": json.dumps(value)})
    path = tmp_path / "bad.onnx"
    onnx.save(proto, str(path))
    with pytest.raises(FerkitError, match=message):
        ExpressionModel(path)


# -- ferkit calibrate --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fer2013_val(tmp_path_factory):
    """A FER2013 folder layout with 60 validation faces over three classes."""
    import cv2

    root = tmp_path_factory.mktemp("fer2013")
    for i in range(60):
        label = ("angry", "happy", "neutral")[i % 3]
        path = root / "test" / label / f"PublicTest_{i}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(path), np.random.default_rng(i).integers(0, 256, (48, 48), np.uint8))
    (root / "train").mkdir()
    return root


def test_calibrate_writes_a_new_model(tiny_onnx_model, fer2013_val, tmp_path, capsys):
    out, report = tmp_path / "cal.onnx", tmp_path / "cal.json"
    original = tiny_onnx_model.read_bytes()
    argv = ["calibrate", str(tiny_onnx_model), "--data", f"{fer2013_val}=fer2013",
            "--out", str(out), "--min-faces", "10", "--report", str(report)]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert f"wrote {out}" in text and "ferplus=1, posed=1" in text
    assert tiny_onnx_model.read_bytes() == original
    r = json.loads(report.read_text())
    h = r["heads"]["fer2013"]
    assert h["faces_fit"] + h["faces_held_out"] == 60 and h["label_set"] == "fer2013"
    assert ExpressionModel(out).temperatures["fer2013"] == pytest.approx(h["temperature"])
    assert r["temperatures"] == {"fer2013": h["temperature"], "ferplus": 1.0, "posed": 1.0}
    for when in ("before", "after"):
        figure = tmp_path / f"cal-fer2013-{when}.png"
        assert h[f"reliability_figure_{when}"] == str(figure) and figure.stat().st_size > 0
    # Asked to, it replaces its output; without --overwrite it refuses (tested below).
    assert main([*argv, "--overwrite"]) == 0


def test_calibrate_leaves_out_faces_of_emotions_a_head_never_answers(
        tiny_onnx_model, fer2013_val, tmp_path, capsys):
    """A head fitted on happy and neutral alone: angry's faces would drive its temperature
    up and flatten every answer, so they are left out, and the user is told."""
    pytest.importorskip("torch", reason="fitting a head needs torch (train extra)")
    from ferkit.labels import EMOTIONS
    from ferkit.train.heads import add_head, fit_linear_head, model_features

    faces = np.stack([np.random.default_rng(i).integers(0, 256, (48, 48), np.uint8)
                      for i in range(20)])
    targets = np.zeros((20, len(EMOTIONS)), np.float32)
    targets[np.arange(20), [EMOTIONS.index(("happy", "neutral")[i % 2]) for i in range(20)]] = 1
    head = fit_linear_head(model_features(tiny_onnx_model, faces), targets)
    two = tmp_path / "two.onnx"
    add_head(tiny_onnx_model, two, "mine", head)
    report = tmp_path / "cal.json"
    assert main(["calibrate", str(two), "--data", f"{fer2013_val}=mine", "--out",
                 str(tmp_path / "cal.onnx"), "--min-faces", "10", "--report", str(report)]) == 0
    err = capsys.readouterr().err
    assert "note: head mine never answers angry; their 20 validation faces are left out" in err
    h = json.loads(report.read_text())["heads"]["mine"]
    assert h["faces_fit"] + h["faces_held_out"] == 40  # 60 less angry's 20
    assert set(h["classes_never_answered"]) == {"angry", "disgust", "fear", "sad", "surprise"}
    # Fitted on every face, angry's pull the temperature up: what leaving them out avoids.
    from ferkit.calibration import fit_temperature
    from ferkit.datasets.sources import read_source
    from ferkit.evaluation import select
    from ferkit.labels import project

    model = ExpressionModel(two)
    sel = select(read_source(str(fer2013_val), splits=("val",)), "val", "fer2013", 0)
    raw = project(model.head_probabilities(sel.images, "mine", calibrated=False),
                  model.emotions, "fer2013")
    assert fit_temperature(raw, np.asarray(sel.labels)) > h["temperature"]
    # A head made some other way (no record of what it learnt): the probability rule.
    meta = dict(model.metadata)
    del meta["added_heads"]["mine"]["emotions"]
    import onnx

    proto = onnx.load(str(two))
    onnx.helper.set_model_props(proto, {k: json.dumps(v) for k, v in meta.items()})
    onnx.save(proto, str(tmp_path / "unrecorded.onnx"))
    assert main(["calibrate", str(tmp_path / "unrecorded.onnx"), "--data",
                 f"{fer2013_val}=mine", "--out", str(tmp_path / "cal2.onnx"),
                 "--min-faces", "10"]) == 0
    assert "never answers angry; their 20" in capsys.readouterr().err


@pytest.mark.parametrize(("args", "message"), [
    (["{missing}", "--data", "{fer}"], "no such model file"),
    (["{model}", "--data", "/nonexistent/ds"], "no such dataset"),
    (["{model}", "--data", "{fer}=nohead"], "no head 'nohead' (heads: "),
    (["{model}", "--data", "bogus={fer}"], "unknown dataset kind 'bogus'"),
    (["{model}", "--data", "{fer}", "--report", "{fer}/r.json"], "inside the dataset"),
    (["{model}", "--data", "{own}"], "say which head"),
    (["{model}", "--data", "{own}=fer2013"], "your own folders have no validation split"),
    (["{model}", "--data", "rafdb={fer}"], "no head 'rafdb'"),
    (["{model}", "--data", "{fer}", "--data", "fer2013={fer}"], "one source per head"),
    (["{model}", "--data", "{fer}"], "at least 200 to fit"),
    (["{model}", "--data", "{fer}", "--min-faces", "0"], "--min-faces"),
    (["{model}", "--data", "{fer}", "--out", "{model}"], "exists; pass --overwrite"),
    (["{model}", "--data", "{fer}", "--out", "{existing}"], "exists; pass --overwrite"),
    (["{model}", "--data", "{fer}", "--report", "{existing}"], "exists; pass --overwrite"),
    (["{model}", "--data", "{fer}", "--report", "{report}"], "before.png already exists"),
    (["{model}", "--data", "{fer}", "--report", "{model}", "--overwrite"],
     "refusing to overwrite an input file"),
])
def test_calibrate_bad_inputs(tiny_onnx_model, fer2013_val, tmp_path, capsys, args, message):
    own = tmp_path / "own" / "happy"
    own.mkdir(parents=True)
    existing = tmp_path / "earlier.onnx"
    existing.write_bytes(b"an earlier output")
    figure = tmp_path / "rep-fer2013-before.png"  # an earlier report's figure
    figure.write_bytes(b"an earlier figure")
    values = {"model": tiny_onnx_model, "missing": tmp_path / "missing.onnx",
              "fer": fer2013_val, "own": own.parent, "existing": existing,
              "report": tmp_path / "rep.json"}
    argv = ["calibrate", *(a.format(**values) for a in args)]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "new.onnx")]
    before = tiny_onnx_model.read_bytes()
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("ferkit: error:") and message in err and err.count("\n") == 1
    assert not (tmp_path / "new.onnx").exists()
    assert existing.read_bytes() == b"an earlier output"
    assert figure.read_bytes() == b"an earlier figure"
    assert tiny_onnx_model.read_bytes() == before
