"""Metric functions on hand-computed cases, the sample-selection protocols, `ferkit evaluate`."""

from __future__ import annotations

import io
import json
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from ferkit.cli import main
from ferkit.datasets.base import FaceSample
from ferkit.datasets.combine import subject_fold
from ferkit.errors import FerkitError
from ferkit.evaluation import (
    FaceFinder,
    accuracy,
    confusion_matrix,
    in_split,
    macro_f1,
    macro_recall,
    per_class,
    select,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"

# -- metrics -----------------------------------------------------------------------------------

Y_TRUE = [0, 0, 1, 2, 2, 2]
Y_PRED = [0, 1, 1, 2, 0, 2]


def test_confusion_matrix_rows_are_truth():
    cm = confusion_matrix(Y_TRUE, Y_PRED, 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 1, 0], [1, 0, 2]])
    assert confusion_matrix([], [], 2).tolist() == [[0, 0], [0, 0]]


def test_scores_by_hand():
    cm = confusion_matrix(Y_TRUE, Y_PRED, 3)
    assert accuracy(cm) == pytest.approx(4 / 6)
    pc = per_class(cm)
    np.testing.assert_allclose(pc["precision"], [1 / 2, 1 / 2, 2 / 2])
    np.testing.assert_allclose(pc["recall"], [1 / 2, 1 / 1, 2 / 3])
    np.testing.assert_allclose(pc["f1"], [1 / 2, 2 / 3, 4 / 5])
    np.testing.assert_array_equal(pc["support"], [2, 1, 3])
    assert macro_f1(cm) == pytest.approx((1 / 2 + 2 / 3 + 4 / 5) / 3)
    assert macro_recall(cm) == pytest.approx((1 / 2 + 1 / 1 + 2 / 3) / 3)


def test_macro_recall_punishes_a_never_predicted_class():
    # 90 % accuracy by never saying class 1, which has 10 % of the faces.
    cm = confusion_matrix([0] * 9 + [1], [0] * 10, 3)
    assert accuracy(cm) == pytest.approx(0.9)
    assert macro_recall(cm) == pytest.approx(0.5)  # class 2 has no faces: left out
    assert macro_recall(np.zeros((3, 3), int)) == 0.0


@pytest.mark.parametrize(("y_true", "y_pred", "expected"), [
    ([0, 0, 1], [0, 0, 1], 1.0),            # class 2 never occurs: left out, not a 0
    ([0, 1], [0, 2], 1 / 3),                # class 2 only predicted: counts with F1 0
    ([0, 0], [1, 1], 0.0),
    ([], [], 0.0),
])
def test_macro_f1_classes_that_occur(y_true, y_pred, expected):
    assert macro_f1(confusion_matrix(y_true, y_pred, 3)) == pytest.approx(expected)


def test_undefined_ratios_are_zero():
    pc = per_class(confusion_matrix([0, 0], [0, 0], 2))
    np.testing.assert_array_equal(pc["precision"], [1, 0])
    np.testing.assert_array_equal(pc["recall"], [1, 0])
    assert accuracy(np.zeros((2, 2), int)) == 0.0


@pytest.mark.parametrize(("y_true", "y_pred"), [([0, 1], [0]), ([0, 3], [0, 1]), ([-1], [0])])
def test_confusion_matrix_rejects_bad_input(y_true, y_pred):
    with pytest.raises(ValueError):
        confusion_matrix(y_true, y_pred, 3)


# -- selection ---------------------------------------------------------------------------------

IMG = np.zeros((48, 48), np.uint8)


def sample(label, split="val", subject=None, source="fer2013"):
    return FaceSample(image=IMG, label=label, source=source, split=split, subject=subject)


def test_select_counts_every_exclusion():
    samples = [sample("happy"), sample("contempt"), sample(None), sample("fear"),
               sample("happy", "train"), sample("sad", "test")]
    sel = select(samples, "val", "fer2013")
    assert sel.labels == [3, 2]  # happy, fear in fer2013 order
    assert sel.counts() == {"read": 6, "evaluated": 2, "other_split": 2,
                            "excluded_no_majority": 1,
                            "excluded_not_in_label_set": {"contempt": 1}}
    seed5 = select(samples, "val", "seed5")
    assert seed5.labels == [0] and seed5.counts()["excluded_not_in_label_set"] == {
        "contempt": 1, "fear": 1}


def test_subject_folds_for_sources_without_splits():
    subjects = [f"S{i:03d}" for i in range(40)]
    samples = [sample("happy", "all", s, "ckplus") for s in subjects]
    held_out = {s for s in subjects if subject_fold(s) == 0}
    assert 0 < len(held_out) < len(subjects)
    val = [s.subject for s in samples if in_split(s, "val")]
    train = [s.subject for s in samples if in_split(s, "train")]
    assert set(val) == held_out and set(train) == set(subjects) - held_out
    assert not any(in_split(s, "test") for s in samples)
    assert all(in_split(s, "all") for s in samples)
    other = {s.subject for s in samples if in_split(s, "val", val_fold=1)}
    assert other == {s for s in subjects if subject_fold(s) == 1}


# -- the command -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    torch = pytest.importorskip("torch")
    from ferkit.train.export import export_onnx
    from ferkit.train.models import create_model

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("eval-model") / "tiny.onnx"
    export_onnx(create_model("fernet_xs").eval(), path, architecture="fernet_xs")
    return path


def _png(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.random.default_rng(seed).integers(0, 256, (48, 48), np.uint8))


@pytest.fixture(scope="module")
def fer2013_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("fer2013")
    n = 0
    for part, prefix, count in (("train", "Training", 2), ("test", "PublicTest", 3)):
        for label in ("angry", "happy", "neutral", "disgust"):
            for _ in range(count):
                _png(root / part / label / f"{prefix}_{n}.jpg", n)
                n += 1
    return root


@pytest.fixture(scope="module")
def ckplus_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("ck") / "CK+48"
    for i in range(12):
        for label in ("anger", "happy", "contempt"):
            _png(root / label / f"S{i:03d}_001_0000001{i % 10}.png", i)
    return root.parent


def test_evaluate_json_and_figure(tiny_model, fer2013_dir, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["evaluate", "--model", str(tiny_model), "--data", str(fer2013_dir),
            "--label-set", "seed5", "--json", "--out", str(out)]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["source"] == "fer2013" and report["head"] == "fer2013"
    assert report["classes"] == ["happy", "angry", "sad", "neutral", "surprise"]
    # Only the validation split is decoded: the 8 training faces are never read.
    assert report["samples"] == {"read": 12, "evaluated": 9, "other_split": 0,
                                 "excluded_no_majority": 0,
                                 "excluded_not_in_label_set": {"disgust": 3}}
    cm = np.array(report["confusion_matrix"])
    assert cm.shape == (5, 5) and cm.sum() == 9
    assert cm.sum(axis=1).tolist() == [3, 3, 0, 3, 0]
    assert report["accuracy"] == report["accuracy_plain"]
    assert 0 <= report["accuracy_flip_tta"] <= 1
    assert sum(c["support"] for c in report["per_class"].values()) == 9
    assert Path(report["figure"]) == out / "confusion-fer2013-seed5.png"
    assert cv2.imread(report["figure"]) is not None
    assert Path(report["reliability_figure"]) == out / "reliability-fer2013-seed5.png"
    assert cv2.imread(report["reliability_figure"]) is not None
    assert json.loads((out / "eval-fer2013-seed5.json").read_text()) == report
    assert report["macro_recall"] == pytest.approx(
        np.mean([report["per_class"][c]["recall"] for c in ("happy", "angry", "neutral")]))
    bins = report["reliability_bins"]
    assert len(bins) == 15 and sum(b["count"] for b in bins) == 9
    assert report["ece"] == pytest.approx(sum(
        b["count"] / 9 * abs(b["accuracy"] - b["confidence"]) for b in bins if b["count"]))
    assert report["temperature"] == 1.0 and report["corruption"] is None
    # A second report into the same folder replaces the first only when asked.
    before = (out / "eval-fer2013-seed5.json").read_bytes()
    assert main(argv) == 1
    assert "already exists (and 2 more); pass --overwrite" in capsys.readouterr().err
    assert (out / "eval-fer2013-seed5.json").read_bytes() == before
    assert main([*argv, "--overwrite"]) == 0


def test_evaluate_needs_matplotlib_only_for_figures_and_never_writes_into_the_data(
        tiny_model, fer2013_dir, tmp_path, capsys, monkeypatch):
    import sys

    base = ["evaluate", "--model", str(tiny_model), "--data", str(fer2013_dir), "--json"]
    assert main([*base, "--out", str(fer2013_dir / "reports")]) == 1
    assert "inside the dataset" in capsys.readouterr().err
    assert not (fer2013_dir / "reports").exists()
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # as if not installed
    assert main(base) == 0  # the tables need no extra
    assert json.loads(capsys.readouterr().out)["samples"]["evaluated"] > 0
    assert main([*base, "--out", str(tmp_path / "out")]) == 1
    assert "--out (its confusion matrix) needs matplotlib" in capsys.readouterr().err


def test_evaluate_corrupted_faces(tiny_model, fer2013_dir, capsys):
    base = ["evaluate", "--model", str(tiny_model), "--data", str(fer2013_dir), "--json"]
    assert main([*base, "--corrupt", "mask"]) == 0
    masked = json.loads(capsys.readouterr().out)
    assert main(base) == 0
    clean = json.loads(capsys.readouterr().out)
    assert masked["corruption"] == "mask" and masked["corruption_seed"] == 0
    assert masked["samples"] == clean["samples"]
    assert masked["reliability_bins"] != clean["reliability_bins"]  # other faces, other output
    assert main([*base, "--corrupt", "fog"]) == 1
    err = capsys.readouterr().err
    assert "unknown corruption 'fog'; choose one of blur" in err and err.count("\n") == 1


def test_evaluate_rafdb_in_fer2013_classes(tiny_model, tmp_path, capsys):
    from ferkit.datasets.rafdb import rafdb_split

    names = [f"train_{i:05d}_aligned.jpg" for i in range(1, 80)]
    val = [n for n in names if rafdb_split(n) == "val"]
    assert val
    for i, name in enumerate(names):
        _png(tmp_path / "rafdb" / "train" / str(1 + i % 7) / name, i)
    argv = ["evaluate", "--model", str(tiny_model), "--data", str(tmp_path / "rafdb"), "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["source"] == "rafdb" and report["label_set"] == "fer2013"
    assert report["samples"]["evaluated"] == len(val)


@pytest.mark.parametrize("photo_tta", [False, True])
def test_evaluate_table_tta_and_head(tiny_model, fer2013_dir, capsys, monkeypatch, photo_tta):
    argv = ["evaluate", "--model", str(tiny_model), "--data", str(fer2013_dir), "--head",
            "posed", "--json"]
    monkeypatch.setattr("ferkit.recognizer.PHOTO_TTA", photo_tta)

    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    # Faces are read as photos are by default; --tta / --no-tta choose, both always reported.
    assert report["tta"] is photo_tta
    assert report["ece"] == report["ece_flip_tta" if photo_tta else "ece_plain"]
    assert report["ece_flip_tta"] != report["ece_plain"]  # so the two views are told apart
    assert main([*argv[:-1], "--tta"]) == 0
    text = capsys.readouterr().out
    assert "head posed" in text and "label set fer2013" in text  # the dataset's own classes
    assert "with mirror" in text and "per class (with mirror)" in text
    assert "12 evaluated" in text
    assert main([*argv, "--no-tta"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["tta"] is False and report["ece"] == report["ece_plain"]


def test_evaluate_ckplus_uses_the_held_out_subjects(tiny_model, ckplus_dir, capsys):
    argv = ["evaluate", "--model", str(tiny_model), "--data", str(ckplus_dir), "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    held_out = sum(subject_fold(f"S{i:03d}") == 0 for i in range(12))
    assert report["label_set"] == "ferplus" and report["subject_fold"] == 0
    assert report["samples"]["evaluated"] == 3 * held_out
    assert report["samples"]["other_split"] == 3 * (12 - held_out)


@pytest.mark.parametrize(("extra", "message"), [
    (["--split", "test"], "no samples in split 'test'"),
    (["--head", "nohead"], "no head 'nohead'"),
    (["--label-set", "seed5", "--data", "/nonexistent/ds"], "no such dataset"),
])
def test_evaluate_errors(tiny_model, ckplus_dir, capsys, extra, message):
    argv = ["evaluate", "--model", str(tiny_model), "--data", str(ckplus_dir), *extra]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("ferkit: error:") and message in err and err.count("\n") == 1


def test_evaluate_a_split_the_layout_lacks(tiny_model, fer2013_dir, capsys):
    argv = ["evaluate", "--model", str(tiny_model), "--data", str(fer2013_dir),
            "--split", "test"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err == f"ferkit: error: {fer2013_dir}: no samples in split 'test'\n"


def test_evaluate_missing_model(tmp_path, ckplus_dir, capsys):
    assert main(["evaluate", "--model", str(tmp_path / "x.onnx"), "--data",
                 str(ckplus_dir)]) == 1
    assert "no such model file" in capsys.readouterr().err


# -- the real validation sets: the protocols' counts -------------------------------------------


@pytest.mark.integration
@pytest.mark.skipif(not (SHARED / "ferplus").is_dir(), reason="needs ../shared/datasets")
def test_real_ferplus_majority_protocol():
    from ferkit.datasets.ferplus import read_ferplus

    sel = select(read_ferplus(SHARED / "ferplus", splits=("val",)), "val", "ferplus")
    c = sel.counts()
    assert c["read"] == 3579 and c["evaluated"] + c["excluded_no_majority"] == 3579
    assert 3000 < c["evaluated"] < 3579


@pytest.mark.integration
@pytest.mark.skipif(not (SHARED / "ckplus").is_dir(), reason="needs ../shared/datasets")
def test_real_ckplus_fold_is_subject_independent():
    from ferkit.datasets import read_source

    samples = list(read_source(str(SHARED / "ckplus")))
    val = {s.subject for s in samples if in_split(s, "val")}
    train = {s.subject for s in samples if in_split(s, "train")}
    assert val and train and not val & train
    assert len(val | train) == 118


def test_evaluate_own_folders_and_a_fer2013_test_folder_without_split(tiny_model, fer2013_dir,
                                                                      tmp_path, capsys):
    # The GUI's collected faces (<emotion>/*.png) have no splits: all of them are scored.
    for k, label in enumerate(("happy", "sad", "happy")):
        _png(tmp_path / "collected" / label / f"{k}.png", k)
    argv = ["evaluate", "--model", str(tiny_model), "--data", str(tmp_path / "collected"),
            "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["split"] == "all" and report["samples"]["evaluated"] == 3
    # FER2013's test/ folder on its own: its PublicTest faces are the validation split.
    argv = ["evaluate", "--model", str(tiny_model), "--data", str(fer2013_dir / "test"),
            "--json", "--label-set", "fer2013"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["source"] == "fer2013" and report["samples"]["evaluated"] == 12
    assert (report["faces"], report["faces_searched"]) == ("auto", 0)  # crops, read as given


@pytest.mark.parametrize("color", ["gray", "bgr"])
def test_photos_are_scored_on_the_faces_found_in_them(tmp_path, capsys, monkeypatch, color):
    pytest.importorskip("torch")
    from model_helpers import export_tiny_model

    from ferkit.align import crop_face
    from ferkit.datasets.base import PHOTO_MIN_SIDE, read_face
    from ferkit.datasets.sources import read_source
    from ferkit.imageio import example_path, load_image
    from ferkit.recognizer import Recognizer

    model = tmp_path / "tiny.onnx"
    export_tiny_model(model, color=color)
    photo = load_image(example_path("astronaut"))
    blank = np.full((PHOTO_MIN_SIDE + 40, 240, 3), 128, np.uint8)  # a photo with no face
    crop = cv2.cvtColor(cv2.resize(photo[70:176, 173:278], (48, 48)), cv2.COLOR_BGR2GRAY)
    folder = tmp_path / "photos"
    for label, name, image in (("happy", "astronaut.png", photo), ("sad", "blank.png", blank),
                               ("happy", "crop.png", crop)):
        (folder / label).mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(folder / label / name), image)
    searched = []  # what the detector is given: photos in colour, whatever the model
    original = Recognizer.face_crops
    monkeypatch.setattr(Recognizer, "face_crops",
                        lambda self, image, **kw: searched.append(image.shape)
                        or original(self, image, **kw))
    argv = ["evaluate", "--model", str(model), "--data", str(folder), "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["faces"], report["faces_searched"], report["faces_not_found"]) == (
        "auto", 2, 1)  # the crop is read whole, as given
    assert report["samples"]["evaluated"] == 3
    assert sorted(searched) == sorted([photo.shape, blank.shape])
    assert main([*argv[:-1]]) == 0
    shown = capsys.readouterr().out
    assert "2 of the 3 images read were searched for a face, found in 1; the rest" in shown
    assert main([*argv, "--faces", "found"]) == 0
    assert json.loads(capsys.readouterr().out)["faces_searched"] == 3
    assert main([*argv, "--faces", "given"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["faces"], report["faces_searched"], report["faces_not_found"]) == (
        "given", None, None)
    # What is scored: the photo's best face, cropped as `ferkit image` crops it; the rest as
    # `--faces given` reads them, in the model's colour.
    recognizer = Recognizer(str(model))
    finder = FaceFinder(recognizer.model)
    faces = {Path(s.path).name: s.image for s in finder.crops(read_source(str(folder),
                                                                            color="bgr"))}
    best = recognizer.detector.detect(photo)[0]
    expected = crop_face(photo, best, size=recognizer.model.input_size,
                         margin=recognizer.detector.crop_margin, gray=color == "gray")
    np.testing.assert_array_equal(faces["astronaut.png"], expected)
    for name, label in (("blank.png", "sad"), ("crop.png", "happy")):
        np.testing.assert_array_equal(faces[name], read_face(folder / label / name, color))
    # Research datasets are read as training reads them, whatever their size; unwanted
    # samples (another split, another label set) are never searched.
    from ferkit.datasets.base import FaceSample

    big = FaceSample(image=photo, label="happy", source="ckplus", split="all")
    own = replace(big, source="own")
    finder = FaceFinder(recognizer.model, "auto", wanted=lambda s: s.split == "all")
    kept = [s.image for s in finder.crops([big, own, replace(own, split="val")])]
    assert finder.searched == 1 and kept[0].shape[:2] == photo.shape[:2]
    assert kept[1].shape[:2] == (recognizer.model.input_size,) * 2
    assert kept[2].shape[:2] == photo.shape[:2]
    assert finder.summary() == ("1 of the 3 images read were searched for a face, found in 1; "
                                "the rest were read whole")
    # "found" searches every image, research datasets' too; nothing searched, no detector.
    assert FaceFinder(recognizer.model, "found").searches(big)
    built = []  # any recognizer or detector a finder that searches nothing would build
    monkeypatch.setattr("ferkit.recognizer.Recognizer.__init__",
                        lambda *args, **kwargs: built.append("recognizer"))
    monkeypatch.setattr("ferkit.detect.spec.create_detector",
                        lambda *args, **kwargs: built.append("detector"))
    idle = FaceFinder(recognizer.model)
    assert len(list(idle.crops([big]))) == 1
    assert (idle.seen, idle.searched, built) == (1, 0, [])
    with pytest.raises(FerkitError, match="choose auto or found"):
        FaceFinder(recognizer.model, "given")


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_evaluate_shows_progress_on_a_terminal_only(tiny_model, fer2013_dir, monkeypatch,
                                                     capsys):
    argv = ["evaluate", "--model", str(tiny_model), "--data", str(fer2013_dir), "--json"]
    assert main(argv) == 0
    assert capsys.readouterr().err == ""  # not a terminal: no bars in logs or pipes
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(argv) == 0
    shown = terminal.getvalue()
    assert f"reading {fer2013_dir}" in shown and "face" in shown and "scoring" in shown
