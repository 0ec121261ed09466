"""Tests for the FER2013 readers: Kaggle CSV and the train|test/<class>/ JPEG folders."""

from __future__ import annotations

import numpy as np
import pytest

from ferkit.datasets import read_fer2013_csv, read_fer2013_folders
from ferkit.datasets.fer2013 import split_from_filename
from ferkit.errors import DatasetError


def test_csv_reads_labels_splits_and_pixels(make, face):
    rows = [(0, face(1), "Training"), (3, face(2), "PublicTest"), (6, face(3), "PrivateTest"),
            (1, face(4), "Training")]
    path = make.fer2013_csv(rows)
    samples = list(read_fer2013_csv(path))
    assert [s.label for s in samples] == ["angry", "happy", "neutral", "disgust"]
    assert [s.split for s in samples] == ["train", "val", "test", "train"]
    assert {s.source for s in samples} == {"fer2013"}
    np.testing.assert_array_equal(samples[1].image, face(2))
    assert samples[0].image.dtype == np.uint8 and samples[0].image.shape == (48, 48)
    # Row numbers count the header, so an error or a sample points at the right line.
    assert samples[2].path == f"{path}:4"
    assert samples[0].subject is None and samples[0].votes is None


def test_csv_missing_file(tmp_path):
    with pytest.raises(DatasetError, match="nope.csv: FER2013 CSV not found"):
        list(read_fer2013_csv(tmp_path / "nope.csv"))


def test_csv_wrong_columns_names_file_and_columns(make, face):
    path = make.fer2013_csv([(0, face(1), "Training")], header=("label", "pixels", "Usage"))
    with pytest.raises(DatasetError, match=r"fer2013.csv: not a FER2013 CSV.*emotion"):
        list(read_fer2013_csv(path))


@pytest.mark.parametrize("line, message", [
    ("7,{px},Training", "fer2013.csv:3: malformed row"),        # no emotion code 7
    ("x,{px},Training", "fer2013.csv:3: malformed row"),
    ("0,{px},Validation", "fer2013.csv:3: malformed row"),      # unknown Usage
    ("0,1 2 3,Training", "fer2013.csv:3: expected 2304 pixels, got 3"),
    ("0,{big},Training", "fer2013.csv:3: malformed row"),       # pixel value 256
    ("0,{px}", "fer2013.csv:3: malformed row"),                 # short row
    ("0", "fer2013.csv:3: malformed row"),
])
def test_csv_malformed_rows_name_file_and_line(make, face, line, message):
    path = make.fer2013_csv([(0, face(1), "Training")])
    px = " ".join(["10"] * 2304)
    big = " ".join(["256"] * 2304)
    with path.open("a") as fh:
        fh.write(line.format(px=px, big=big) + "\n")
    with pytest.raises(DatasetError, match=message):
        list(read_fer2013_csv(path))


def _folder_items(face):
    return [
        ("train", "angry", "Training_10118481.jpg", face(1)),
        ("train", "happy", "Training_99.jpg", face(2)),
        ("train", "surprise", "Training_7.jpg", face(3)),
        ("test", "sad", "PublicTest_5.jpg", face(4)),
        ("test", "neutral", "PrivateTest_6.jpg", face(5)),
    ]


def test_folders_read_labels_and_splits_from_file_names(make, face):
    root = make.fer2013_folders(_folder_items(face))
    (root / "train" / "angry" / "Thumbs.db").write_bytes(b"\0")  # non-images are ignored
    samples = sorted(read_fer2013_folders(root), key=lambda s: s.path)
    by_name = {s.path.rsplit("/", 1)[1]: s for s in samples}
    assert len(samples) == 5
    assert by_name["Training_10118481.jpg"].label == "angry"
    assert by_name["PublicTest_5.jpg"].split == "val"
    assert by_name["PublicTest_5.jpg"].label == "sad"
    assert by_name["PrivateTest_6.jpg"].split == "test"
    assert {by_name[n].split for n in ("Training_99.jpg", "Training_7.jpg")} == {"train"}
    image = by_name["Training_99.jpg"].image
    assert image.shape == (48, 48) and image.dtype == np.uint8
    assert np.abs(image.astype(int) - face(2)).mean() < 3  # JPEG, close to the original


def test_folders_skip_other_splits_without_decoding_them(make, face):
    root = make.fer2013_folders(_folder_items(face))
    (root / "train" / "angry" / "Training_1.jpg").write_bytes(b"not a jpeg")
    val = list(read_fer2013_folders(root, splits=("val",)))  # the corrupt file is never read
    assert [s.path.rsplit("/", 1)[1] for s in val] == ["PublicTest_5.jpg"]
    with pytest.raises(DatasetError, match="Training_1.jpg"):
        list(read_fer2013_folders(root))


def test_csv_skips_other_splits_without_parsing_them(make, face):
    path = make.fer2013_csv([(0, face(1), "Training"), (3, face(2), "PublicTest")])
    path.write_text(path.read_text() + "9,1 2 3,Training\n")  # malformed, but not asked for
    assert [s.split for s in read_fer2013_csv(path, splits=("val",))] == ["val"]
    with pytest.raises(DatasetError, match=":4: malformed row"):
        list(read_fer2013_csv(path))


def test_folders_with_only_train(make, face):
    root = make.fer2013_folders(_folder_items(face)[:2])
    assert {s.split for s in read_fer2013_folders(root)} == {"train"}


def test_folders_without_train_or_test(tmp_path):
    (tmp_path / "fer" / "images").mkdir(parents=True)
    with pytest.raises(DatasetError, match="expected train/ and/or test/"):
        list(read_fer2013_folders(tmp_path / "fer"))
    with pytest.raises(DatasetError, match="no such directory"):
        list(read_fer2013_folders(tmp_path / "missing"))


def test_folders_wrong_file_name_names_the_file(make, face):
    root = make.fer2013_folders([("train", "angry", "img_001.jpg", face(1))])
    with pytest.raises(DatasetError, match=r"angry/img_001.jpg: expected a Training_"):
        list(read_fer2013_folders(root))


def test_folders_unknown_class_folder_is_a_dataset_error(make, face):
    root = make.fer2013_folders([("train", "confused", "Training_1.jpg", face(1))])
    with pytest.raises(DatasetError, match=r"train/confused.*unknown emotion name 'confused'"):
        list(read_fer2013_folders(root))


def test_folders_corrupt_image_names_the_file(make, face):
    root = make.fer2013_folders(_folder_items(face))
    bad = root / "train" / "happy" / "Training_100.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DatasetError, match=r"cannot read image .*Training_100.jpg: "):
        list(read_fer2013_folders(root))


def test_empty_image_file_is_a_dataset_error(make, face):
    root = make.fer2013_folders(_folder_items(face))
    (root / "train" / "happy" / "Training_101.jpg").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"cannot read image .*Training_101.jpg: "):
        list(read_fer2013_folders(root))


@pytest.mark.parametrize("name, split", [
    ("Training_1.jpg", "train"), ("PublicTest_2.jpg", "val"), ("PrivateTest_3.png", "test")])
def test_split_from_filename(name, split):
    assert split_from_filename(name) == split
