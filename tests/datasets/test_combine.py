"""Tests for duplicate detection and the combined, leak-free, per-head training set."""

from __future__ import annotations

import numpy as np
import pytest

from ferkit.datasets import FaceSample, read_source
from ferkit.datasets.combine import (
    HEADS,
    CombinedDataset,
    combine,
    load_combined,
    subject_fold,
)
from ferkit.datasets.dedup import duplicate_groups
from ferkit.errors import DatasetError
from ferkit.labels import EMOTIONS

HAPPY, SAD, ANGRY = (EMOTIONS.index(n) for n in ("happy", "sad", "angry"))


def sample(image, label="happy", source="fer2013", split="train", subject=None, votes=None,
           path=""):
    return FaceSample(image=image, label=label, source=source, split=split, subject=subject,
                      votes=None if votes is None else np.asarray(votes, np.float32), path=path)


def test_duplicate_groups_exact_near_and_distinct(face):
    import cv2

    a = face(1)
    jpeg = cv2.imdecode(cv2.imencode(".jpg", a, [cv2.IMWRITE_JPEG_QUALITY, 90])[1], 0)
    brighter = np.clip(a.astype(int) + 40, 0, 255).astype(np.uint8)  # same texture, new face
    flat = np.full((48, 48), 128, np.uint8)
    images = np.stack([a, face(2), a.copy(), jpeg, brighter, flat, flat.copy(), flat + 1])
    g = duplicate_groups(images)
    assert g[0] == g[2] == g[3]
    assert len({g[0], g[1], g[4]}) == 3
    # Flat images have no texture to compare: only exact copies match.
    assert g[5] == g[6] and g[7] != g[5]


@pytest.fixture
def fer_and_ferplus(make, face):
    """FER2013 JPEG folders and FER+ PNGs sharing faces, with the real datasets' quirks."""
    fer = make.fer2013_folders([
        ("train", "happy", "Training_1.jpg", face(1)),
        ("train", "happy", "Training_2.jpg", face(1)),      # byte-identical copy in train
        ("train", "sad", "Training_3.jpg", face(2)),
        ("train", "angry", "Training_4.jpg", face(3)),      # train copy of a val face
        ("test", "angry", "PublicTest_5.jpg", face(3)),
        ("train", "happy", "Training_6.jpg", face(4)),      # same face, conflicting labels
        ("train", "sad", "Training_7.jpg", face(4)),
        ("train", "fear", "Training_8.jpg", face(5)),
    ])
    ferplus = make.ferplus([
        # The FER+ PNG of FER2013's Training_1 face: a lossless copy of a JPEG face.
        ("Training", "fer0000000.png", [0, 8, 2, 0, 0, 0, 0, 0, 0, 0], face(1)),
        ("Training", "fer0000001.png", [0, 0, 0, 0, 0, 0, 0, 0, 0, 10], face(6)),  # not a face
        ("PublicTest", "fer0028638.png", [0, 0, 0, 0, 10, 0, 0, 0, 0, 0], face(7)),
    ])
    return fer, ferplus


def _items_with(data, source_part):
    return [i for i, s in enumerate(data.sources) if source_part in s]


def test_combine_merges_copies_and_removes_leaks(fer_and_ferplus):
    fer, ferplus = fer_and_ferplus
    data = combine([*read_source(str(fer)), *read_source(str(ferplus))])
    report = data.report
    assert report["samples_read"] == 10  # the not-a-face FER+ image has no emotion votes
    assert report["dropped_for_label_set"] == {"no label": 1}
    # Faces: 1 (x2 JPEG + PNG), 2, 3 (val only), 4 (dropped), 5, 7 (val) -> 5 items.
    assert len(data) == report["items"] == 5
    assert report["same_face_in_several_sources"] == 1
    assert report["train_copies_of_val_faces_removed"] == 1
    assert report["conflicting_label_groups_dropped"] == 1
    assert report["duplicate_groups_within_source"] == {"fer2013": 3}

    merged = data.sources.tolist().index("fer2013+ferplus")
    assert data.split[merged] == "train"
    np.testing.assert_allclose(data.targets["fer2013"][merged][HAPPY], 1.0)
    np.testing.assert_allclose(data.targets["ferplus"][merged][[HAPPY, 2]], [0.8, 0.2])
    assert not data.targets["posed"][merged].any()

    val = data.split == "val"
    assert val.sum() == 2
    angry_val = [i for i in np.flatnonzero(val) if data.targets["fer2013"][i][ANGRY] == 1]
    assert len(angry_val) == 1
    # No training item is a copy of a validation face.
    groups = duplicate_groups(data.images)
    assert not set(groups[val]) & set(groups[~val])


def test_combine_prefers_the_lossless_copy(fer_and_ferplus, face):
    fer, ferplus = fer_and_ferplus
    data = combine([*read_source(str(fer)), *read_source(str(ferplus))])
    merged = data.sources.tolist().index("fer2013+ferplus")
    np.testing.assert_array_equal(data.images[merged], face(1))


def test_near_duplicate_jpeg_and_png_copies_merge(make, face):
    fer = make.fer2013_folders([("train", "happy", "Training_1.jpg", face(11))])
    own = make.own([("happy", "a.png", face(11)), ("sad", "b.png", face(12))])
    data = combine([*read_source(str(fer)), *read_source(str(own))])
    assert len(data) == 2
    assert sorted(data.sources.tolist()) == ["fer2013+own", "own"]


def test_conflicting_hard_labels_drop_only_that_head(face):
    samples = [
        sample(face(1), "happy"), sample(face(1), "sad"),
        sample(face(1), None, source="ferplus", votes=[0, 7, 0, 3, 0, 0, 0, 0, 0, 0]),
    ]
    data = combine(samples)
    assert len(data) == 1 and data.report["conflicting_label_groups_dropped"] == 1
    assert not data.targets["fer2013"][0].any()
    np.testing.assert_allclose(data.targets["ferplus"][0][[HAPPY, SAD]], [0.7, 0.3])


def test_agreeing_duplicates_keep_a_one_hot_target(face):
    data = combine([sample(face(1), "sad"), sample(face(1), "sad")])
    np.testing.assert_allclose(data.targets["fer2013"][0], np.eye(8)[SAD])


def test_heads_per_source(face):
    data = combine([
        sample(face(1), "happy", "fer2013"), sample(face(2), "happy", "own"),
        sample(face(3), "happy", "ckplus", split="all", subject="S010"),
        sample(face(4, 256), "happy", "jaffe", split="all", subject="KA"),
    ])
    heads = [tuple(h for h in HEADS if data.targets[h][i].any()) for i in range(len(data))]
    assert heads == [("fer2013",), ("ferplus",), ("posed",), ("posed",)]
    assert data.images.shape == (4, 48, 48)  # JAFFE's 256x256 portrait is resized


def test_subject_independent_split_for_ckplus_and_jaffe(make, face):
    subjects = [f"S{n:03d}" for n in range(10, 40)]
    ck = make.ckplus48([(("happy", "sadness")[k % 2], subj, 1, f, face(1000 + 3 * k + f))
                        for k, subj in enumerate(subjects) for f in range(2)])
    jaffe = make.jaffe([(subj, expr, 1, 10 * k + e, face(5000 + 10 * k + e, 64), False)
                        for k, subj in enumerate(["KA", "KM", "KR", "NA", "NM", "TM", "UY",
                                                  "YM", "KL", "MK"])
                        for e, expr in enumerate(["HA", "SA"])])
    data = combine([*read_source(str(ck)), *read_source(str(jaffe))], val_fold=1)
    assert len(data) == 60 + 20
    train_subjects = set(data.subjects[data.split == "train"])
    val_subjects = set(data.subjects[data.split == "val"])
    assert train_subjects and val_subjects
    assert not train_subjects & val_subjects
    assert val_subjects == {s for s in train_subjects | val_subjects if subject_fold(s) == 1}
    other = combine([*read_source(str(ck)), *read_source(str(jaffe))], val_fold=2)
    assert set(other.subjects[other.split == "val"]).isdisjoint(val_subjects)


def test_subject_fold_is_stable():
    # Fixed values: a fold must not depend on the machine or on Python's hash seed.
    assert [subject_fold(s) for s in ("S010", "S011", "S052", "KA", "KM")] == [0, 3, 3, 0, 2]
    assert {subject_fold(f"S{n:03d}") for n in range(100)} == set(range(5))


def test_label_set_drops_classes(face):
    samples = [
        sample(face(1), "happy"), sample(face(2), "fear"), sample(face(3), "disgust"),
        sample(face(4), "contempt", "ckplus", split="all", subject="S010"),
        sample(face(5), None, "ferplus", votes=[0, 2, 0, 0, 0, 0, 0, 8, 0, 0]),  # 80% contempt
        sample(face(6), None, "ferplus", votes=[0, 0, 0, 0, 0, 0, 0, 10, 0, 0]),
    ]
    data = combine(samples, label_set="seed5")
    assert data.report["dropped_for_label_set"] == {"fear": 1, "disgust": 1, "contempt": 1,
                                                     "no label": 1}
    assert len(data) == 2
    dropped = [EMOTIONS.index(n) for n in ("fear", "disgust", "contempt")]
    for t in data.targets.values():
        assert not t[:, dropped].any()
    # The FER+ votes left after dropping contempt all go to happy.
    np.testing.assert_allclose(data.targets["ferplus"][1][HAPPY], 1.0)


def test_test_split_is_never_used_and_its_training_copies_are_removed(make, face):
    path = make.fer2013_csv([
        (3, face(1), "Training"), (4, face(2), "Training"),
        (3, face(1), "PrivateTest"), (0, face(3), "PrivateTest"), (5, face(4), "PublicTest"),
    ])
    data = combine(read_source(str(path)))
    assert sorted(data.split.tolist()) == ["train", "val"]
    assert data.report["train_copies_of_test_faces_removed"] == 1
    remaining = duplicate_groups(np.concatenate([data.images, face(1)[None]]))
    assert remaining[-1] not in set(remaining[:-1])


def test_combine_nothing_usable(face):
    with pytest.raises(DatasetError, match="no labelled samples"):
        combine([sample(face(1), "happy", split="test")])
    with pytest.raises(DatasetError, match="no labelled samples"):
        combine([sample(face(1), "fear")], label_set="seed5")
    with pytest.raises(DatasetError, match="no usable samples"):
        combine([sample(face(1), "happy"), sample(face(1), "sad")])


def test_npz_round_trip(tmp_path, fer_and_ferplus):
    fer, ferplus = fer_and_ferplus
    data = combine([*read_source(str(fer)), *read_source(str(ferplus))])
    path = tmp_path / "cache" / "combined.npz"
    data.save(path)
    assert path.is_file() and not list(path.parent.glob("*.tmp*"))
    back = CombinedDataset.load(path)
    np.testing.assert_array_equal(back.images, data.images)
    for name in ("split", "sources", "subjects"):
        assert getattr(back, name).tolist() == getattr(data, name).tolist()
    assert back.targets.keys() == data.targets.keys()
    for head in HEADS:
        np.testing.assert_array_equal(back.targets[head], data.targets[head])
    assert back.report == data.report
    sub = back.subset(back.split == "val")
    assert len(sub) == 2 and set(sub.split) == {"val"}


def test_load_combined_uses_and_invalidates_the_cache(tmp_path, fer_and_ferplus, face,
                                                      monkeypatch):
    import ferkit.datasets.combine as combine_module

    fer, ferplus = fer_and_ferplus
    specs = [str(fer), f"ferplus={ferplus}"]
    first = load_combined(specs, cache_dir=tmp_path / "cache")
    (cached,) = (tmp_path / "cache").glob("combined-*.npz")

    def fail(*args, **kwargs):
        raise AssertionError("should have come from the cache")

    monkeypatch.setattr(combine_module, "combine", fail)
    again = load_combined(list(reversed(specs)), cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(again.images, first.images)
    monkeypatch.undo()

    # A different label set, or a changed dataset folder, is a different cache entry.
    load_combined(specs, label_set="seed5", cache_dir=tmp_path / "cache")
    (fer / "extra").mkdir()  # changes the dataset folder's mtime
    (fer / "extra").rmdir()
    load_combined(specs, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("combined-*.npz"))) == 3
    assert cached.is_file()
