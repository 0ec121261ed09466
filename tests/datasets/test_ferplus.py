"""Tests for the FER+ reader and Barsoum et al.'s majority-vote and soft-label rules."""

from __future__ import annotations

import numpy as np
import pytest

from ferkit.datasets import majority_label, read_ferplus, soft_label
from ferkit.datasets.ferplus import VOTE_COLUMNS
from ferkit.errors import DatasetError
from ferkit.labels import EMOTIONS

# Vote order in fer2013new.csv: neutral happiness surprise sadness anger disgust fear contempt
# unknown NF.


@pytest.mark.parametrize("votes, label", [
    ([10, 0, 0, 0, 0, 0, 0, 0, 0, 0], "neutral"),
    ([0, 6, 4, 0, 0, 0, 0, 0, 0, 0], "happy"),
    ([0, 0, 0, 0, 0, 0, 0, 6, 4, 0], "contempt"),
    ([4, 0, 0, 1, 3, 2, 0, 0, 0, 0], None),        # 4 of 9 kept votes is not a majority
    ([5, 1, 1, 1, 1, 1, 0, 0, 0, 0], "neutral"),   # single votes are noise: 5 of 5
    ([6, 0, 1, 1, 0, 0, 0, 0, 2, 0], "neutral"),   # 6 of 8 after dropping the singles
    ([5, 5, 0, 0, 0, 0, 0, 0, 0, 0], None),        # a tie is not more than half
    ([3, 0, 0, 0, 0, 0, 0, 0, 7, 0], None),        # top class unknown: excluded
    ([0, 0, 0, 0, 0, 0, 0, 0, 0, 10], None),       # not a face: excluded
    ([1, 1, 1, 1, 1, 1, 1, 1, 1, 1], None),        # nothing survives the noise rule
    ([0] * 10, None),
])
def test_majority_label_follows_barsoum_protocol(votes, label):
    assert majority_label(np.array(votes)) == label


def test_soft_label_drops_unknown_and_nf():
    dist = soft_label(np.array([2, 6, 0, 0, 0, 0, 0, 0, 1, 1], np.float32))
    assert dist.shape == (8,)
    np.testing.assert_allclose(dist, [0.25, 0.75, 0, 0, 0, 0, 0, 0])
    np.testing.assert_array_equal(soft_label(np.array([0] * 8 + [3, 7])), np.zeros(8))


def test_vote_columns_are_emotions_then_unknown_nf():
    assert VOTE_COLUMNS == (*EMOTIONS, "unknown", "NF")


def _rows(face):
    return [
        ("Training", "fer0000000.png", [4, 0, 0, 1, 3, 2, 0, 0, 0, 0], face(1)),
        ("Training", "fer0000001.png", [0, 9, 0, 0, 0, 0, 0, 0, 1, 0], face(2)),
        ("Training", "", [0, 0, 0, 0, 0, 0, 0, 0, 0, 10], None),  # real quirk: no image name
        ("PublicTest", "fer0028638.png", [0, 0, 8, 0, 0, 0, 2, 0, 0, 0], face(3)),
        # real quirk: a Training name listed twice; the PNG is one image
        ("Training", "fer0000001.png", [0, 9, 0, 0, 0, 0, 0, 0, 1, 0], None),
        ("Training", "fer0000002.png", [0, 0, 0, 0, 0, 0, 0, 0, 0, 10], face(4)),
        ("PrivateTest", "fer0032220.png", [0, 0, 0, 10, 0, 0, 0, 0, 0, 0], face(5)),
    ]


def test_reads_votes_labels_and_splits(make, face):
    root = make.ferplus(_rows(face))
    samples = list(read_ferplus(root))
    names = [s.path.rsplit("/", 1)[1] for s in samples]
    assert names == ["fer0000000.png", "fer0000001.png", "fer0028638.png", "fer0000002.png",
                     "fer0032220.png"]
    assert [s.split for s in samples] == ["train", "train", "val", "train", "test"]
    assert [s.label for s in samples] == [None, "happy", "surprise", None, "sad"]
    assert {s.source for s in samples} == {"ferplus"}
    np.testing.assert_array_equal(samples[0].votes, [4, 0, 0, 1, 3, 2, 0, 0, 0, 0])
    assert samples[0].votes.dtype == np.float32
    np.testing.assert_array_equal(samples[2].image, face(3))  # PNG is lossless


def test_split_selection_and_withheld_test_folder(make, face):
    rows = [r for r in _rows(face) if r[0] != "PrivateTest"]
    # The CSV still lists a Test row, but FER2013Test/ is withheld: the split is skipped.
    rows.append(("PrivateTest", "fer0032221.png", [10, 0, 0, 0, 0, 0, 0, 0, 0, 0], None))
    root = make.ferplus(rows)
    assert {s.split for s in read_ferplus(root)} == {"train", "val"}
    assert [s.split for s in read_ferplus(root, splits=("val",))] == ["val"]


def test_missing_csv(tmp_path):
    (tmp_path / "ferplus" / "data").mkdir(parents=True)
    with pytest.raises(DatasetError, match="fer2013new.csv: FER\\+ vote file not found"):
        list(read_ferplus(tmp_path / "ferplus"))


def test_wrong_header_names_file(make, face):
    header = ["Usage", "Image name", "neutral", "happy", "surprise", "sadness", "anger",
              "disgust", "fear", "contempt", "unknown", "NF"]
    root = make.ferplus(_rows(face), header=header)
    with pytest.raises(DatasetError, match="fer2013new.csv: unexpected header"):
        list(read_ferplus(root))


def test_empty_csv(make):
    root = make.ferplus([], header=[])
    (root / "data" / "FER2013Train").mkdir(parents=True)
    with pytest.raises(DatasetError, match="fer2013new.csv: unexpected header"):
        list(read_ferplus(root))


@pytest.mark.parametrize("line, message", [
    ("Training,fer0000009.png,1,2,3", r"fer2013new.csv:\d+: expected 12 columns"),
    ("Validation,fer0000009.png,0,0,0,0,0,0,0,0,0,10", r"fer2013new.csv:\d+: unknown Usage"),
    ("Training,fer0000009.png,a,0,0,0,0,0,0,0,0,10", r"fer2013new.csv:\d+: vote counts"),
])
def test_malformed_rows_name_file_and_line(make, face, line, message):
    root = make.ferplus(_rows(face))
    with (root / "fer2013new.csv").open("a") as fh:
        fh.write(line + "\n")
    with pytest.raises(DatasetError, match=message):
        list(read_ferplus(root))


def test_listed_but_missing_png_names_the_file(make, face):
    root = make.ferplus(_rows(face))
    (root / "data" / "FER2013Train" / "fer0000002.png").unlink()
    with pytest.raises(DatasetError, match="FER2013Train/fer0000002.png: listed in"):
        list(read_ferplus(root))


def test_corrupt_png_names_the_file(make, face):
    root = make.ferplus(_rows(face))
    (root / "data" / "FER2013Valid" / "fer0028638.png").write_bytes(b"\x89PNG\r\n\x1a\ngarbage")
    with pytest.raises(DatasetError, match=r"cannot read image .*fer0028638.png: "):
        list(read_ferplus(root))


def test_no_image_folders_at_all_is_an_error(make, face):
    root = make.ferplus(_rows(face))
    for folder in (root / "data").iterdir():
        for file in folder.iterdir():
            file.unlink()
        folder.rmdir()
    with pytest.raises(DatasetError, match="no FER2013Train/, FER2013Valid/ or FER2013Test/"):
        list(read_ferplus(root))
