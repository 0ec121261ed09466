"""data.input_size and data.color end to end: faces at 64 px in colour from the datasets through
training, export and int8 to every front end, and the one preprocessing they share."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from cli_helpers import run

from ferkit.datasets.base import FaceSample
from ferkit.datasets.combine import CombinedDataset, cache_name, combine, load_combined
from ferkit.datasets.sources import read_source
from ferkit.errors import FerkitError
from ferkit.pixels import check_input, face_pixels, network_input

# -- the one preprocessing ---------------------------------------------------------------------


def write_image(path, image: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)


def _colour_face(seed: int, size: int = 100) -> np.ndarray:
    """A face-sized BGR texture whose three channels differ."""
    noise = np.random.default_rng(seed).random((size, size, 3)).astype(np.float32)
    return (30 + cv2.GaussianBlur(noise, (0, 0), 3) * 190).astype(np.uint8)


def test_face_pixels_gives_the_size_and_colour_asked_for(face):
    bgr, gray = _colour_face(1), face(2, 100)
    out = face_pixels(bgr, 64, "bgr")
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    assert np.array_equal(out, cv2.resize(bgr, (64, 64), interpolation=cv2.INTER_AREA))
    # Gray becomes three equal channels; alpha is dropped; 16 bit is scaled to 8.
    rep = face_pixels(gray, 64, "bgr")
    assert rep.shape == (64, 64, 3)
    assert np.array_equal(rep[..., 0], rep[..., 1]) and np.array_equal(rep[..., 1], rep[..., 2])
    assert np.array_equal(rep[..., 0], face_pixels(gray, 64, "gray"))
    bgra = np.dstack([bgr, np.full(bgr.shape[:2], 7, np.uint8)])
    assert np.array_equal(face_pixels(bgra, 64, "bgr"), out)
    assert np.array_equal(face_pixels(bgr.astype(np.uint16) << 8, 64, "bgr"), out)
    # The gray path is what it always was: BGR to gray, then INTER_AREA.
    expected = cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), (48, 48),
                          interpolation=cv2.INTER_AREA)
    assert np.array_equal(face_pixels(bgr, 48, "gray"), expected)


def test_network_input_is_channels_first_with_one_normalisation():
    faces = np.stack([_colour_face(3, 32), _colour_face(4, 32)])
    x = network_input(faces, 0.5, 0.25)
    assert x.shape == (2, 3, 32, 32) and x.dtype == np.float32
    np.testing.assert_allclose(x[1, 2], (faces[1, :, :, 2] / 255 - 0.5) / 0.25, atol=1e-6)
    assert network_input(faces[..., 0], 0.5, 0.25).shape == (2, 1, 32, 32)


@pytest.mark.parametrize("size,color,bad", [(50, "gray", "input_size=50"),
                                            (144, "gray", "input_size=144"),
                                            (16, "gray", "input_size=16"),
                                            ("64", "gray", "input_size='64'"),
                                            (64, "rgb", "color='rgb'")])
def test_bad_input_options_are_one_line_errors(size, color, bad):
    with pytest.raises(FerkitError, match=bad) as err:
        check_input(size, color)
    assert "\n" not in str(err.value)


def test_every_multiple_of_16_from_32_to_128_is_accepted():
    assert [check_input(s, c)[0] for s in (32, 48, 64, 80, 96, 112, 128)
            for c in ("gray", "bgr")] == [s for s in (32, 48, 64, 80, 96, 112, 128)
                                          for _ in (0, 1)]


# -- datasets --------------------------------------------------------------------------------


def _rafdb(root, count: int = 40):
    """RAF-DB's DATASET layout, colour faces; train_00028 and a few others hash to val."""
    codes = (4, 5, 1)  # happy, sad, surprise
    for n in range(1, count + 1):
        code = codes[n % 3]
        write_image(root / "train" / str(code) / f"train_{n:05d}_aligned.jpg",
                    _class_face(code, n))
    return root


def _class_face(code: int, seed: int) -> np.ndarray:
    """A colour face whose class shows in its colour: each class lights its own channel."""
    face = _colour_face(seed) // 3
    face[..., {4: 0, 5: 1, 1: 2}[code]] += 150
    return face


def test_rafdb_is_read_in_colour_only_when_asked(tmp_path):
    root = _rafdb(tmp_path / "raf", 6)
    gray = list(read_source(f"rafdb={root}"))
    bgr = list(read_source(f"rafdb={root}", color="bgr"))
    assert gray[0].image.shape == (100, 100) and bgr[0].image.shape == (100, 100, 3)
    assert np.array_equal(cv2.cvtColor(bgr[0].image, cv2.COLOR_BGR2GRAY), gray[0].image)


def test_combine_at_64_colour_replicates_gray_sources_and_keeps_duplicates_found(face):
    gray, colour = face(1, 48), _colour_face(2)
    samples = [FaceSample(gray, "happy", "fer2013", "train", path="a.png"),
               FaceSample(gray.copy(), "happy", "fer2013", "train", path="b.png"),  # a copy
               FaceSample(colour, "sad", "rafdb", "train", path="c.jpg"),
               FaceSample(face(3, 48), "sad", "fer2013", "val", path="d.png")]
    data = combine(samples, input_size=64, color="bgr")
    assert data.images.shape == (3, 64, 64, 3)
    assert (data.input_size, data.color) == (64, "bgr")
    assert data.report["duplicate_groups_within_source"] == {"fer2013": 1}
    by_source = dict(zip(data.sources.tolist(), data.images, strict=True))
    fer = by_source["fer2013"]
    assert np.array_equal(fer[..., 0], fer[..., 2])
    assert np.array_equal(by_source["rafdb"], face_pixels(colour, 64, "bgr"))


def test_caches_of_each_size_and_colour_never_mix(tmp_path):
    root = _rafdb(tmp_path / "raf", 12)
    specs, cache = [f"rafdb={root}"], tmp_path / "cache"
    gray = load_combined(specs, "fer2013", cache)
    colour = load_combined(specs, "fer2013", cache, input_size=64, color="bgr")
    assert gray.images.shape[1:] == (48, 48) and colour.images.shape[1:] == (64, 64, 3)
    names = sorted(p.name for p in cache.iterdir())
    assert names == sorted([cache_name(specs, "fer2013"),
                            cache_name(specs, "fer2013", input_size=64, color="bgr")])
    assert any(n.startswith("combined-64-bgr-") for n in names)
    again = load_combined(specs, "fer2013", cache, input_size=64, color="bgr")  # from cache
    assert np.array_equal(again.images, colour.images)
    # The compact (WebP) form keeps colour too.
    colour.save(tmp_path / "packed.npz", compact=True)
    packed = CombinedDataset.load(tmp_path / "packed.npz")
    assert np.array_equal(packed.images, colour.images)


# -- augmentation --------------------------------------------------------------------------------


def test_augmentations_move_and_relight_every_channel_together(face):
    torch = pytest.importorskip("torch")
    from ferkit.train.augment import AugmentConfig, augment

    cfg = AugmentConfig(erase_prob=0.0, lowres_prob=0.5, blur_prob=0.5, dark_prob=0.5)
    gray = torch.from_numpy(np.stack([face(i) for i in range(8)])).float().div(255)
    one = augment(gray[:, None], cfg, torch.Generator().manual_seed(3))
    three = augment(gray[:, None].expand(-1, 3, -1, -1).contiguous(), cfg,
                    torch.Generator().manual_seed(3))
    assert three.shape == (8, 3, 48, 48)
    for c in range(3):  # the same random draws whatever the channels: gray stays gray
        torch.testing.assert_close(three[:, c], one[:, 0], atol=1e-5, rtol=0)


def test_colour_batches_take_every_augmentation():
    torch = pytest.importorskip("torch")
    from ferkit.train.augment import AugmentConfig, augment, jpeg_compress

    x = torch.from_numpy(np.stack([_colour_face(i, 64) for i in range(6)])).float().div(255)
    x = x.permute(0, 3, 1, 2).contiguous()
    cfg = AugmentConfig(jpeg_prob=1.0, lowres_prob=1.0, blur_prob=1.0, noise_prob=1.0,
                        dark_prob=1.0, erase_prob=1.0)
    out = augment(x, cfg, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and 0 <= out.min() and out.max() <= 1
    # A colour JPEG round trip at high quality keeps each channel close to its own.
    back = jpeg_compress(x, 1.0, (95, 95), torch.Generator().manual_seed(0))
    assert back.shape == x.shape and (back - x).abs().mean() < 0.03
    before = (x[:, 0] - x[:, 2]).abs().mean()
    assert (back[:, 0] - back[:, 2]).abs().mean() > 0.5 * before > 0  # colour, not gray


# -- a colour 64 px model, trained, exported and used through every front end ------------------


@pytest.fixture(scope="module")
def colour_run(tmp_path_factory):
    """fernet_xs trained one epoch at 64 px BGR on made FER2013 (gray) and RAF-DB (colour)
    faces, exported in fp32 and int8."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx")
    from test_train_smoke import write_fer2013_layout

    from ferkit.cli import main

    tmp = tmp_path_factory.mktemp("colour")
    fer = write_fer2013_layout(tmp / "fer2013", per_class_train=8, per_class_val=2)
    raf = f"rafdb={_rafdb(tmp / 'rafdb')}"
    threads = torch.get_num_threads()
    try:
        argv = ["train", "--out", str(tmp / "run"), "--data", fer, "--data", raf,
                "--epochs", "1", "--set", "model.name=fernet_xs",
                "--set", f"data.cache_dir={tmp / 'cache'}", "--set", "data.input_size=64",
                "--set", "data.color=bgr", "--set", "train.batch_size=16",
                "--set", "train.threads=1"]
        assert main(argv) == 0
    finally:
        torch.set_num_threads(threads)
    assert main(["export", str(tmp / "run" / "best.pt"), "--out", str(tmp / "m.onnx")]) == 0
    assert main(["export", str(tmp / "run" / "best.pt"), "--out", str(tmp / "m8.onnx"),
                 "--int8-calibration", raf]) == 0
    return tmp, raf


def test_the_run_trains_on_64_px_colour_faces(colour_run):
    torch = pytest.importorskip("torch")
    tmp, _ = colour_run
    assert [p.name.startswith("combined-64-bgr-") for p in (tmp / "cache").iterdir()] == [True]
    state = torch.load(tmp / "run" / "best.pt", map_location="cpu", weights_only=True)
    assert state["config"]["data"]["input_size"] == 64
    assert state["config"]["data"]["color"] == "bgr"
    assert state["model"]["features.0.0.weight"].shape[1] == 3  # three input channels


@pytest.mark.parametrize("name", ["m.onnx", "m8.onnx"])
def test_export_writes_size_and_colour_and_a_matching_input(colour_run, name):
    import onnx

    tmp, _ = colour_run
    proto = onnx.load(str(tmp / name))
    meta = {p.key: json.loads(p.value) for p in proto.metadata_props}
    assert meta["input_size"] == 64 and meta["color"] == "bgr"
    dims = proto.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_value for d in dims[1:]] == [3, 64, 64]
    if name == "m8.onnx":
        assert meta["quantization"] == "int8-static"


def test_the_model_sees_what_training_saw(colour_run, face):
    """ExpressionModel's preprocessing and the training loop's give the same network input:
    the exported model's probabilities match the checkpoint's on the same crop."""
    torch = pytest.importorskip("torch")
    from ferkit.model import ExpressionModel
    from ferkit.train.checkpoint import load_checkpoint
    from ferkit.train.loop import to_input

    tmp, _ = colour_run
    model = ExpressionModel(tmp / "m.onnx")
    assert (model.color, model.input_size) == ("bgr", 64)
    crop = _colour_face(9)
    x = model.preprocess([crop, face(9, 80)])
    assert x.shape == (2, 3, 64, 64)
    assert not np.allclose(x[0, 0], x[0, 2]) and np.array_equal(x[1, 0], x[1, 2])
    net, _ = load_checkpoint(tmp / "run" / "best.pt")
    with torch.no_grad():
        logits = net(to_input(face_pixels(crop, 64, "bgr")[None]))
    expected = torch.softmax(logits["fer2013"], 1).numpy()
    got = model.head_probabilities([crop], "fer2013", calibrated=False)
    np.testing.assert_allclose(got, expected, atol=1e-4)


@pytest.mark.parametrize("name", ["m.onnx", "m8.onnx"])
def test_recognizer_classifies_colour_gray_and_bgra_crops(colour_run, name, face):
    from ferkit import Recognizer

    tmp, _ = colour_run
    rec = Recognizer(tmp / name)
    crop = _colour_face(5)
    bgra = np.dstack([crop, np.zeros(crop.shape[:2], np.uint8)])
    probs = rec.classify([crop, face(5, 48), bgra], "seed5")
    assert probs.shape == (3, 5)
    np.testing.assert_allclose(probs.sum(1), 1, atol=1e-5)
    np.testing.assert_allclose(probs[0], probs[2], atol=1e-6)  # alpha is dropped


def test_analyze_hands_the_colour_model_colour_crops(colour_run, astronaut_small):
    from ferkit import Recognizer
    from ferkit.align import crop_face

    tmp, _ = colour_run
    rec = Recognizer(tmp / "m.onnx", detector="blazeface")
    faces = rec.analyze(astronaut_small)
    assert faces
    names = list(faces[0].scores)
    crop = crop_face(astronaut_small, faces[0], size=64, margin=rec._margin, gray=False)
    from ferkit.recognizer import PHOTO_TTA

    # A photo's default, which the tests of Recognizer.classify follow through PHOTO_TTA.
    expected = rec.model.probabilities([crop], "seed5", tta=PHOTO_TTA)[0]
    np.testing.assert_allclose([faces[0].scores[n] for n in names], expected, atol=1e-5)
    gray = crop_face(astronaut_small, faces[0], size=64, margin=rec._margin)
    assert not np.allclose(rec.model.probabilities([gray], "seed5", tta=True)[0], expected,
                           atol=1e-6)


def test_ferkit_evaluate_scores_the_colour_model(colour_run, tmp_path, capsys):
    tmp, raf = colour_run
    code, out, err = run(capsys, "evaluate", "--model", tmp / "m.onnx", "--data", raf,
                         "--label-set", "fer2013", "--out", tmp_path)
    assert code == 0, err
    report = json.loads(next(tmp_path.glob("eval-*.json")).read_text())
    assert report["samples"]["evaluated"] > 0 and 0 <= report["accuracy"] <= 1


def test_ferkit_head_fits_on_colour_features(colour_run, tmp_path, capsys):
    pytest.importorskip("torch")
    from ferkit.model import ExpressionModel

    tmp, raf = colour_run
    code, _, err = run(capsys, "head", tmp / "m.onnx", "--data", raf, "--name", "wild",
                       "--out", tmp_path / "wild.onnx")
    assert code == 0, err
    model = ExpressionModel(tmp_path / "wild.onnx")
    assert "wild" in model.heads and model.color == "bgr"
    assert model.head_probabilities([_colour_face(1)], "wild").shape == (1, 8)


@pytest.mark.parametrize("setting,message", [("data.input_size=50", "data.input_size=50"),
                                             ("data.color=rgb", "data.color='rgb'")])
def test_train_refuses_bad_input_options_in_one_line(tmp_path, capsys, setting, message):
    pytest.importorskip("torch")
    root = _rafdb(tmp_path / "raf", 6)
    code, _, err = run(capsys, "train", "--out", tmp_path / "run", "--data", f"rafdb={root}",
                       "--set", "model.name=fernet_xs",
                       "--set", f"data.cache_dir={tmp_path / 'cache'}", "--set", setting)
    assert code != 0
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "cache").exists()  # refused before any work


def test_teachers_must_see_the_students_faces(colour_run):
    torch = pytest.importorskip("torch")
    from ferkit.train.distill import Teachers

    tmp, _ = colour_run
    best = tmp / "run" / "best.pt"
    assert len(Teachers([best], torch.device("cpu"), (64, 3)).members) == 1
    with pytest.raises(FerkitError, match="takes 64 px faces with 3 channel"):
        Teachers([best], torch.device("cpu"), (48, 1))


def test_a_prepared_file_must_hold_the_faces_the_config_asks_for(colour_run, tmp_path, capsys):
    pytest.importorskip("torch")
    tmp, _ = colour_run
    packed = tmp_path / "gray48.npz"
    code, _, err = run(capsys, "data", "pack", f"rafdb={tmp / 'rafdb'}", "--out", packed)
    assert code == 0, err
    code, _, err = run(capsys, "train", "--out", tmp_path / "run", "--set",
                       f"data.prepared={packed}", "--set", "model.name=fernet_xs",
                       "--set", "data.input_size=64", "--set", "data.color=bgr")
    assert code != 0 and "holds 48 px gray faces" in err
    assert len(err.strip().splitlines()) == 1
    code, _, err = run(capsys, "data", "pack", f"rafdb={tmp / 'rafdb'}", "--out",
                       tmp_path / "c.npz", "--input-size", "64", "--color", "bgr")
    assert code == 0, err
    assert CombinedDataset.load(tmp_path / "c.npz").images.shape[1:] == (64, 64, 3)
