"""Corruptions: deterministic under a seed, shape- and dtype-preserving, inputs left untouched."""

from __future__ import annotations

import numpy as np
import pytest

from ferkit.corruptions import CORRUPTION_NAMES, corrupt, corrupt_all, get_corruption
from ferkit.errors import FerkitError

#: Corruptions that draw from the generator (the rest are fixed functions of the image).
RANDOM = {"noise", "low_res", "hand", "object", "rotate30"}


def faces(make_face) -> list[np.ndarray]:
    gray48 = make_face(1, 48)
    gray100 = make_face(2, 100)
    bgr = np.dstack([make_face(3, 64), make_face(4, 64), make_face(5, 64)])
    wide = make_face(6, 80)[:60]  # not square
    return [gray48, gray100, bgr, wide]


@pytest.mark.parametrize("name", CORRUPTION_NAMES)
def test_shape_dtype_kept_and_input_untouched(face, name):
    images = faces(face)
    copies = [img.copy() for img in images]
    out = corrupt_all(images, name, seed=0)
    for before, img, after in zip(copies, images, out, strict=True):
        np.testing.assert_array_equal(img, before)
        assert after.shape == img.shape and after.dtype == np.uint8
        assert not np.array_equal(after, img), f"{name} left the face as it was"


@pytest.mark.parametrize("name", CORRUPTION_NAMES)
def test_deterministic_under_a_seed(face, name):
    images = faces(face)
    first = corrupt_all(images, name, seed=3)
    for a, b in zip(first, corrupt_all(images, name, seed=3), strict=True):
        np.testing.assert_array_equal(a, b)
    # Face i's corruption does not depend on the faces before it.
    np.testing.assert_array_equal(corrupt_all(images[:2], name, seed=3)[1], first[1])
    other = corrupt_all(images, name, seed=4)
    differs = any(not np.array_equal(a, b) for a, b in zip(first, other, strict=True))
    assert differs == (name in RANDOM)


def test_what_each_corruption_does(face):
    img = face(7, 100)
    rng = np.random.default_rng(0)
    assert corrupt(img, "low_light", rng).mean() < 0.5 * img.mean()
    assert np.abs(np.diff(corrupt(img, "blur", rng).astype(float), axis=1)).mean() < \
        np.abs(np.diff(img.astype(float), axis=1)).mean()
    glasses = corrupt(img, "sunglasses", rng)
    assert glasses[35:45, 20:30].max() <= 30 and (glasses[80:] == img[80:]).all()
    masked = corrupt(img, "mask", rng)
    assert (masked[80:95, 40:60] >= 200).all() and (masked[:50] == img[:50]).all()
    covered = [(corrupt(img, "object", np.random.default_rng(k)) != img) for k in range(6)]
    # a textured patch over a fifth or so of the face, never above the eyes
    assert all(0.08 < c.mean() < 0.30 and not c[:34].any() for c in covered)
    assert all(np.std(corrupt(img, "object", np.random.default_rng(k))[c].astype(float)) > 5
               for k, c in enumerate(covered))
    rotated = corrupt(np.pad(np.full((20, 60), 255, np.uint8), 20), "rotate30", rng)
    assert rotated[0:20].max() > 0  # a horizontal bar, tilted, reaches above its rows


@pytest.mark.parametrize(("image", "message"), [
    (np.zeros((48, 48), np.float32), "uint8"),
    (np.zeros((48, 48, 4), np.uint8), "uint8"),
    ([[0, 1]], "uint8"),
])
def test_bad_input(image, message):
    with pytest.raises(FerkitError, match=message):
        corrupt(image, "blur", np.random.default_rng(0))


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(FerkitError, match="choose one of blur, noise"):
        get_corruption("fog")


def test_robustness_benchmark_on_a_small_set(tiny_onnx_model, make, face, tmp_path, capsys):
    import importlib.util
    import json
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "robustness.py"
    spec = importlib.util.spec_from_file_location("robustness", script)
    robustness = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(robustness)
    make.fer2013_folders([("test", label, f"PublicTest_{i}.jpg", face(i))
                          for i, label in enumerate(["angry", "happy", "sad"] * 4)],
                         name="datasets/fer2013")
    out = tmp_path / "report"
    argv = [str(tmp_path / "datasets"), "--model", str(tiny_onnx_model), "--only", "blur",
            "--only", "mask", "--out", str(out)]
    assert robustness.main(argv) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "| corruption | FER2013 val acc | FER2013 val macro recall |"
    assert [row.split(":")[0] for row in table[2:5]] == ["| clean", "| blur", "| mask"]
    report = json.loads((out / "robustness.json").read_text())
    assert list(report["datasets"]) == ["fer2013"]  # the other sets are absent: skipped
    scores = report["datasets"]["fer2013"]["scores"]
    assert report["datasets"]["fer2013"]["faces"] == 12 and set(scores) == {
        "clean", "blur", "mask"}
    assert (out / "robustness.md").read_text().count("\n| ") == 4
