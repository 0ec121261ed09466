"""Tests for the RAF-DB reader: the DATASET class-folder layout and the official EmoLabel one."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ferkit.datasets.rafdb import RAFDB_CODES, rafdb_split, read_rafdb
from ferkit.datasets.sources import detect_kind, read_source
from ferkit.errors import DatasetError

# (file number, RAF-DB label id); files 2 and 28 hash into the validation bucket.
ITEMS = [(1, 5), (2, 4), (3, 1), (4, 7), (5, 6), (6, 3), (28, 2), (8, 4)]


def _colour(seed: int) -> np.ndarray:
    """A distinct 100x100 colour "face": smoothed random texture per channel."""
    noise = np.random.default_rng(seed).random((100, 100, 3)).astype(np.float32)
    return (30 + cv2.GaussianBlur(noise, (0, 0), 3) * 190).astype(np.uint8)


def write_image(path: Path, image: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), image)
    return path


def dataset_layout(root: Path, items=ITEMS, csv: bool = True) -> Path:
    """`train/<id>/train_NNNNN_aligned.jpg` plus `train_labels.csv`, as in ../shared."""
    for number, code in items:
        write_image(root / "train" / str(code) / f"train_{number:05d}_aligned.jpg",
                    _colour(number))
    if csv:
        lines = ["image,label"] + [f"train_{n:05d}_aligned.jpg,{c}" for n, c in items]
        (root / "train_labels.csv").write_text("\n".join(lines) + "\n")
    return root


def official_layout(root: Path, items=ITEMS, tests=((1, 4),)) -> Path:
    """`Image/aligned/*_aligned.jpg` plus `EmoLabel/list_patition_label.txt`."""
    lines = []
    for prefix, rows in (("train", items), ("test", tests)):
        for number, code in rows:
            write_image(root / "Image" / "aligned" / f"{prefix}_{number:05d}_aligned.jpg",
                        _colour(100 + number))
            lines.append(f"{prefix}_{number:05d}.jpg {code}")
    (root / "EmoLabel").mkdir(parents=True)
    (root / "EmoLabel" / "list_patition_label.txt").write_text("\n".join(lines) + "\n")
    return root


def test_split_is_a_stable_hash_of_the_name_in_both_spellings():
    assert rafdb_split("train_00028_aligned.jpg") == rafdb_split("train_00028.jpg") == "val"
    assert rafdb_split("train_00001_aligned.jpg") == "train"
    assert rafdb_split("test_0001_aligned.jpg") == "test"
    # About one training face in ten is validation.
    names = [f"train_{i:05d}_aligned.jpg" for i in range(1, 5001)]
    share = sum(rafdb_split(n) == "val" for n in names) / len(names)
    assert 0.08 < share < 0.12


def test_dataset_layout_labels_splits_and_grayscale(tmp_path):
    root = dataset_layout(tmp_path / "rafdb")
    samples = list(read_rafdb(root))
    assert len(samples) == len(ITEMS)
    by_name = {Path(s.path).name: s for s in samples}
    assert by_name["train_00001_aligned.jpg"].label == RAFDB_CODES[5] == "sad"
    assert by_name["train_00003_aligned.jpg"].label == "surprise"
    assert by_name["train_00028_aligned.jpg"].split == "val"
    assert by_name["train_00001_aligned.jpg"].split == "train"
    assert {s.source for s in samples} == {"rafdb"}
    assert samples[0].image.shape == (100, 100) and samples[0].image.dtype == np.uint8


def test_official_layout_gives_the_same_faces_and_a_test_split(tmp_path):
    root = official_layout(tmp_path / "raf")
    samples = list(read_rafdb(root))
    assert len(samples) == len(ITEMS) + 1
    assert [s.split for s in samples if Path(s.path).name.startswith("test_")] == ["test"]
    labels = {Path(s.path).name: s.label for s in samples}
    assert labels["train_00005_aligned.jpg"] == "angry"
    assert labels["train_00006_aligned.jpg"] == "disgust"


def test_splits_filter_skips_other_faces(tmp_path):
    root = dataset_layout(tmp_path / "rafdb")
    assert sorted(Path(s.path).name for s in read_rafdb(root, splits=("val",))) == [
        "train_00002_aligned.jpg", "train_00028_aligned.jpg"]


@pytest.mark.parametrize("layout", [dataset_layout, official_layout])
def test_layout_is_recognised_before_fer2013(tmp_path, layout):
    root = layout(tmp_path / "somewhere")
    assert detect_kind(root) == "rafdb"
    assert len(list(read_source(str(root), splits=("train",)))) >= 6


def test_dataset_layout_without_csv_is_recognised(tmp_path):
    root = dataset_layout(tmp_path / "r", csv=False)
    assert detect_kind(root) == "rafdb"


def test_unknown_label_folder_names_it(tmp_path):
    root = dataset_layout(tmp_path / "r")
    write_image(root / "train" / "9" / "train_00099_aligned.jpg", _colour(9))
    with pytest.raises(DatasetError, match=r"train/9: expected a RAF-DB label id 1-7"):
        list(read_rafdb(root))


def test_csv_disagreeing_with_folders_names_the_row(tmp_path):
    root = dataset_layout(tmp_path / "r")
    text = (root / "train_labels.csv").read_text().replace("train_00002_aligned.jpg,4",
                                                           "train_00002_aligned.jpg,1")
    (root / "train_labels.csv").write_text(text)
    with pytest.raises(DatasetError, match=r"train_labels.csv:3: train_00002_aligned.jpg is "
                                           r"surprise here but lies in the happy folder"):
        list(read_rafdb(root))


def test_csv_with_wrong_columns(tmp_path):
    root = dataset_layout(tmp_path / "r")
    (root / "train_labels.csv").write_text("file,emotion\nx,1\n")
    with pytest.raises(DatasetError, match="expected columns image,label"):
        list(read_rafdb(root))


@pytest.mark.parametrize("line, message", [
    ("train_00001.jpg", "expected 'train_00001.jpg 5'"),
    ("train_00001.jpg eight", "expected a RAF-DB label id 1-7, got 'eight'"),
    ("train_00001.jpg 0", "expected a RAF-DB label id 1-7, got '0'"),
])
def test_malformed_label_file_names_the_line(tmp_path, line, message):
    root = official_layout(tmp_path / "raf")
    path = root / "EmoLabel" / "list_patition_label.txt"
    path.write_text(path.read_text() + line + "\n")
    with pytest.raises(DatasetError, match=rf"list_patition_label.txt:10: {message}"):
        list(read_rafdb(root))


def test_listed_but_missing_image_names_it(tmp_path):
    root = official_layout(tmp_path / "raf")
    (root / "Image" / "aligned" / "train_00002_aligned.jpg").unlink()
    with pytest.raises(DatasetError, match="train_00002_aligned.jpg: listed in RAF-DB's labels"):
        list(read_rafdb(root))


def test_odd_file_name_in_class_folder(tmp_path):
    root = dataset_layout(tmp_path / "r")
    write_image(root / "train" / "4" / "holiday.jpg", _colour(3))
    with pytest.raises(DatasetError, match="holiday.jpg: expected a RAF-DB name"):
        list(read_rafdb(root))


def test_corrupt_image_names_the_file(tmp_path):
    root = dataset_layout(tmp_path / "r")
    (root / "train" / "4" / "train_00002_aligned.jpg").write_bytes(b"\xff\xd8 broken")
    with pytest.raises(DatasetError, match=r"cannot read image .*train_00002_aligned.jpg: "):
        list(read_rafdb(root))


@pytest.mark.parametrize("color", ["gray", "bgr"])
def test_dataset_images_are_read_upright_and_as_photos_are(tmp_path, color):
    from PIL import Image

    from ferkit.datasets.base import read_face
    from ferkit.imageio import load_image

    wide = np.zeros((40, 80, 3), np.uint8)  # stored landscape; EXIF says: show it turned
    wide[:, :40] = (30, 160, 250)
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    path = tmp_path / "turned.jpg"
    Image.fromarray(wide).save(path, exif=exif, quality=95)
    image = read_face(path, color)
    assert image.shape[:2] == (80, 40)  # upright, as ferkit image shows it
    photo = load_image(path)
    expected = cv2.cvtColor(photo, cv2.COLOR_BGR2GRAY) if color == "gray" else photo
    np.testing.assert_array_equal(image, expected)
