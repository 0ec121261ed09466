"""lab/tools/head_mix.py: weight 0 scores the served head exactly; other weights mix in the
second."""

import importlib.util
from pathlib import Path

from ferkit.datasets.sources import read_source
from ferkit.labels import label_names
from ferkit.model import ExpressionModel

_spec = importlib.util.spec_from_file_location(
    "head_mix", Path(__file__).parents[1] / "tools" / "head_mix.py")
head_mix = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(head_mix)


def test_weight_zero_is_the_served_answer(make, face, tiny_onnx_model):
    labels = ["happy", "sad", "angry", "neutral", "surprise", "fear"] * 4
    root = make.fer2013_folders(
        [("test", label, f"PublicTest_{i}.jpg", face(i)) for i, label in enumerate(labels)]
        + [("train", "happy", "Training_0.jpg", face(99))])
    model = ExpressionModel(tiny_onnx_model)
    scores = head_mix.mixed_accuracies(model, str(root), ["seed5", "fer2013"], "ferplus")
    assert list(scores) == ["seed5", "fer2013"]
    assert all(list(s) == [f"{w:.1f}" for w in head_mix.WEIGHTS] for s in scores.values())

    names = label_names("seed5")
    kept = [s for s in read_source(str(root), splits=("val",)) if s.label in names]
    assert len(kept) == 20  # the fear faces are left out, as in `ferkit evaluate`
    probs = model.probabilities([s.image for s in kept], "seed5")
    served = float((probs.argmax(1) == [names.index(s.label) for s in kept]).mean())
    assert scores["seed5"]["0.0"] == served
    assert all(0.0 <= v <= 1.0 for s in scores.values() for v in s.values())
