"""Tests for the CK+ readers: CK+48 class folders and the original cohn-kanade-images layout."""

from __future__ import annotations

import pytest

from ferkit.datasets import read_ckplus, read_ckplus48, read_ckplus_original
from ferkit.errors import DatasetError


def _ck48_items(face):
    return [
        ("anger", "S010", 4, 17, face(1)), ("anger", "S010", 4, 18, face(2)),
        ("happy", "S011", 6, 20, face(3)), ("sadness", "S052", 4, 9, face(4)),
        ("contempt", "S138", 8, 12, face(5)), ("surprise", "S504", 1, 30, face(6)),
    ]


def test_ck48_reads_labels_subjects_and_no_split(make, face):
    root = make.ckplus48(_ck48_items(face))
    samples = list(read_ckplus48(root))
    assert len(samples) == 6
    by_file = {s.path.rsplit("/", 1)[1]: s for s in samples}
    assert by_file["S010_004_00000017.png"].label == "angry"
    assert by_file["S052_004_00000009.png"].label == "sad"
    assert by_file["S138_008_00000012.png"].label == "contempt"
    assert by_file["S011_006_00000020.png"].subject == "S011"
    assert {s.split for s in samples} == {"all"}  # CK+ has no official split
    assert {s.source for s in samples} == {"ckplus"}
    assert samples[0].image.shape == (48, 48)


def test_ck48_root_may_be_the_ck48_folder_itself(make, face):
    root = make.ckplus48(_ck48_items(face))
    assert len(list(read_ckplus48(root / "CK+48"))) == 6
    assert len(list(read_ckplus(root))) == 6


def test_ck48_wrong_file_name_names_the_file(make, face):
    root = make.ckplus48(_ck48_items(face))
    (root / "CK+48" / "happy" / "face01.png").write_bytes(b"")
    with pytest.raises(DatasetError, match=r"happy/face01.png: expected a CK\+48 name"):
        list(read_ckplus48(root))


def test_ck48_unknown_class_folder_names_the_folder(make, face):
    root = make.ckplus48([("bored", "S010", 1, 1, face(1))])
    with pytest.raises(DatasetError, match=r"CK\+48/bored: unknown emotion name"):
        list(read_ckplus48(root))


def test_ck48_corrupt_png_names_the_file(make, face):
    root = make.ckplus48(_ck48_items(face))
    (root / "CK+48" / "happy" / "S011_006_00000021.png").write_bytes(b"\x89PNG broken")
    with pytest.raises(DatasetError, match=r"cannot read image .*S011_006_00000021.png: "):
        list(read_ckplus48(root))


def test_ck48_without_class_folders(tmp_path):
    (tmp_path / "CK+48").mkdir()
    with pytest.raises(DatasetError, match="no class folders"):
        list(read_ckplus48(tmp_path))
    with pytest.raises(DatasetError, match="no such directory"):
        list(read_ckplus48(tmp_path / "nowhere"))


def test_original_reads_peak_frames_and_neutral_first_frame(make):
    root = make.ckplus_original([
        ("S005", 1, 11, 3.0),     # disgust
        ("S010", 2, 14, 7.0),     # surprise
        ("S010", 3, 9, None),     # no emotion file: unlabelled, skipped
        ("S011", 1, 3, 5.0),      # too short for a separate neutral frame
    ])
    samples = list(read_ckplus_original(root))
    labels = [(s.subject, s.path.rsplit("/", 1)[1], s.label) for s in samples]
    assert labels == [
        ("S005", "S005_001_00000001.png", "neutral"),
        ("S005", "S005_001_00000009.png", "disgust"),
        ("S005", "S005_001_00000010.png", "disgust"),
        ("S005", "S005_001_00000011.png", "disgust"),
        ("S010", "S010_002_00000001.png", "neutral"),
        ("S010", "S010_002_00000012.png", "surprise"),
        ("S010", "S010_002_00000013.png", "surprise"),
        ("S010", "S010_002_00000014.png", "surprise"),
        ("S011", "S011_001_00000001.png", "happy"),
        ("S011", "S011_001_00000002.png", "happy"),
        ("S011", "S011_001_00000003.png", "happy"),
    ]
    assert {s.split for s in samples} == {"all"}
    assert samples[0].image.shape == (64, 64)
    assert len(list(read_ckplus(root))) == len(samples)  # layout picked automatically


@pytest.mark.parametrize("code, label", [
    (0.0, "neutral"), (1.0, "angry"), (2.0, "contempt"), (4.0, "fear"), (6.0, "sad"),
    ("6\n", "sad"), ("   6.0000000e+00   \n", "sad"),
])
def test_original_emotion_codes(make, code, label):
    root = make.ckplus_original([("S130", 12, 2, code)])
    assert {s.label for s in read_ckplus_original(root)} == {label}


@pytest.mark.parametrize("text", ["", "   \n", "happy", "   8.0000000e+00", "-1"])
def test_original_bad_emotion_file_names_the_file(make, text):
    root = make.ckplus_original([("S130", 12, 5, text)])
    with pytest.raises(DatasetError, match=r"S130_012_00000005_emotion.txt: "):
        list(read_ckplus_original(root))


def test_original_emotion_file_without_frames_names_it(make):
    root = make.ckplus_original([("S130", 12, 5, 6.0)])
    for frame in (root / "cohn-kanade-images" / "S130" / "012").iterdir():
        frame.unlink()
    with pytest.raises(DatasetError, match=r"S130_012_00000005_emotion.txt: no frames"):
        list(read_ckplus_original(root))


def test_original_missing_label_folder(make):
    root = make.ckplus_original([("S130", 12, 5, 6.0)])
    for f in (root / "Emotion" / "S130" / "012").iterdir():
        f.unlink()
    (root / "Emotion" / "S130" / "012").rmdir()
    (root / "Emotion" / "S130").rmdir()
    (root / "Emotion").rmdir()
    with pytest.raises(DatasetError, match=r"Emotion: expected CK\+ Emotion/ label folders"):
        list(read_ckplus_original(root))


def test_original_corrupt_frame_names_it(make):
    root = make.ckplus_original([("S130", 12, 5, 6.0)])
    (root / "cohn-kanade-images" / "S130" / "012" / "S130_012_00000004.png").write_bytes(b"xx")
    with pytest.raises(DatasetError, match=r"cannot read image .*S130_012_00000004.png: "):
        list(read_ckplus_original(root))
