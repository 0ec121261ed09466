"""Tests for recognising a dataset's layout from its path and reading it."""

from __future__ import annotations

import pytest

from ferkit.datasets import detect_kind, read_source
from ferkit.datasets.sources import check_outside, parse_source
from ferkit.errors import DatasetError


@pytest.fixture
def layouts(make, face):
    """One tiny dataset of every supported layout, by kind."""
    return {
        "fer2013csv": make.fer2013_csv([(3, face(1), "Training")]),
        "fer2013": make.fer2013_folders([("train", "happy", "Training_1.jpg", face(2))]),
        "ferplus": make.ferplus(
            [("Training", "fer0000000.png", [0, 10, 0, 0, 0, 0, 0, 0, 0, 0], face(3))]),
        "ckplus": make.ckplus48([("happy", "S010", 1, 1, face(4))]),
        "jaffe": make.jaffe([("KA", "HA", 1, 30, face(5, 64), False)]),
        "own": make.own([("happy", "me.jpg", face(6))]),
    }


def test_detect_kind_recognises_every_layout(layouts, make):
    for kind, path in layouts.items():
        assert detect_kind(path) == kind, path
    assert detect_kind(layouts["ckplus"] / "CK+48") == "ckplus"
    assert detect_kind(make.ckplus_original([("S005", 1, 3, 5.0)])) == "ckplus"


def test_read_source_reads_happy_from_every_layout(layouts):
    for kind, path in layouts.items():
        samples = list(read_source(str(path)))
        assert [s.label for s in samples] == ["happy"], kind


def test_read_source_keeps_the_asked_splits_and_reads_splitless_layouts_whole(layouts):
    for kind, path in layouts.items():
        val_only = list(read_source(str(path), splits=("val",)))
        # Only the FER2013 and FER+ layouts name splits; their one face is a training face.
        if kind in ("fer2013", "fer2013csv", "ferplus"):
            assert val_only == [], kind
            assert len(list(read_source(str(path), splits=("train", "val")))) == 1, kind
        else:  # read whole: CK+ and JAFFE fold by subject, own photos are all for training
            assert len(val_only) == 1, kind


def test_explicit_kind_overrides_detection(layouts):
    # A FER2013 folder read as own photos: the train/ folder becomes a (bad) class name.
    assert parse_source(f"own={layouts['own']}") == ("own", layouts["own"])
    with pytest.raises(DatasetError, match=r"fer2013/train: unknown emotion name 'train'"):
        list(read_source(f"own={layouts['fer2013']}"))


def test_a_misspelt_kind_is_named_as_such(layouts):
    with pytest.raises(DatasetError, match=r"rafbd=.*: unknown dataset kind 'rafbd' \(kinds: "):
        parse_source(f"rafbd={layouts['own']}")


def test_outputs_may_not_replace_or_join_a_dataset(layouts, tmp_path):
    own = layouts["own"]
    check_outside([tmp_path / "elsewhere.onnx", None], [str(own)])
    for out in (own, own / "happy" / "figure.png", own / ".." / own.name / "x.json"):
        with pytest.raises(DatasetError, match="inside the dataset .*; write it elsewhere"):
            check_outside([out], [f"own={own}"])


def test_unknown_layouts_are_dataset_errors(tmp_path):
    with pytest.raises(DatasetError, match="no such dataset file or folder"):
        detect_kind(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="empty: not a known dataset layout"):
        detect_kind(tmp_path / "empty")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DatasetError, match="notes.txt: a file, not a dataset"):
        read_source(str(tmp_path / "notes.txt"))
    (tmp_path / "stuff" / "holiday").mkdir(parents=True)
    with pytest.raises(DatasetError, match=r"subfolders \(holiday\) are not emotions"):
        detect_kind(tmp_path / "stuff")


def test_a_missing_path_named_with_its_kind_and_text_that_is_not_utf8_are_dataset_errors(
        tmp_path, layouts):
    with pytest.raises(DatasetError, match="missing: no such dataset file or folder"):
        read_source(f"own={tmp_path / 'missing'}")
    latin1 = tmp_path / "fer2013.csv"  # a spreadsheet saved in Latin-1
    latin1.write_bytes(b"emotion,pixels,Usage\n3,1 2 3,Training \xe9t\xe9\n")
    with pytest.raises(DatasetError, match="fer2013.csv: cannot read: text that is not UTF-8"):
        list(read_source(str(latin1)))
    csv = layouts["ferplus"] / "fer2013new.csv"
    csv.write_bytes(csv.read_bytes().replace(b"fer0000000", b"fer\xff000000"))
    with pytest.raises(DatasetError, match="not UTF-8") as info:
        list(read_source(str(layouts["ferplus"])))
    assert "\n" not in str(info.value)


def test_an_image_file_is_not_a_dataset(make, face):
    photo = make.own([("happy", "me.jpg", face(1))]) / "happy" / "me.jpg"
    with pytest.raises(DatasetError, match="me.jpg: a file, not a dataset.*ferkit image"):
        read_source(str(photo))


def test_a_folder_of_datasets_names_them(layouts):
    parent = layouts["ckplus"].parent  # every layout was made side by side in one folder
    with pytest.raises(DatasetError, match="a folder of several datasets") as info:
        detect_kind(parent)
    message = str(info.value)
    for kind in ("fer2013", "ferplus", "ckplus", "jaffe", "own"):
        assert layouts[kind].name in message, kind
    assert "unknown emotion" not in message


def test_fer2013_test_folder_on_its_own(make, face):
    root = make.fer2013_folders([("test", "happy", "PublicTest_1.jpg", face(1)),
                                 ("test", "sad", "PrivateTest_2.jpg", face(2)),
                                 ("train", "happy", "Training_3.jpg", face(3))])
    assert detect_kind(root / "test") == "fer2013"
    samples = list(read_source(str(root / "test")))
    assert sorted((s.label, s.split) for s in samples) == [("happy", "val"), ("sad", "test")]
    assert [s.label for s in read_source(str(root / "test"), splits=("val",))] == ["happy"]
