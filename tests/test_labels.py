"""Tests for label sets, dataset spellings, CK+ codes and probability projection."""

from __future__ import annotations

import numpy as np
import pytest

from ferkit.errors import FerkitError
from ferkit.labels import (
    CKPLUS_CODES,
    EMOTIONS,
    FER2013_CODES,
    LABEL_SETS,
    canonical,
    label_names,
    project,
    projection_matrix,
)


def test_label_sets_are_subsets_of_emotions_in_fixed_order():
    assert label_names() == ("happy", "angry", "sad", "neutral", "surprise")
    assert label_names("fer2013") == (
        "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
    assert label_names("ferplus") == EMOTIONS
    assert len(EMOTIONS) == 8
    for names in LABEL_SETS.values():
        assert set(names) <= set(EMOTIONS)
        assert len(set(names)) == len(names)


def test_unknown_label_set_lists_the_choices():
    with pytest.raises(FerkitError, match="unknown label set 'nope'.*seed5.*fer2013.*ferplus"):
        label_names("nope")


def test_fer2013_codes_follow_the_kaggle_csv():
    assert FER2013_CODES == {0: "angry", 1: "disgust", 2: "fear", 3: "happy", 4: "sad",
                             5: "surprise", 6: "neutral"}


@pytest.mark.parametrize("spelling, name", [
    # FER2013 folders, CK+48 folders, FER+ columns, JAFFE codes, own-photo folders.
    ("angry", "angry"), ("anger", "angry"), ("AN", "angry"), ("mad", "angry"),
    ("happy", "happy"), ("happiness", "happy"), ("HA", "happy"), ("joy", "happy"),
    ("sad", "sad"), ("sadness", "sad"), ("SA", "sad"),
    ("surprise", "surprise"), ("surprised", "surprise"), ("SU", "surprise"),
    ("disgust", "disgust"), ("disgusted", "disgust"), ("DI", "disgust"),
    ("fear", "fear"), ("fearful", "fear"), ("FE", "fear"), ("scared", "fear"),
    ("neutral", "neutral"), ("NE", "neutral"), ("calm", "neutral"),
    ("contempt", "contempt"), ("CO", "contempt"),
    (" Happy\n", "happy"), ("SADNESS", "sad"),
])
def test_canonical_accepts_every_dataset_spelling(spelling, name):
    assert canonical(spelling) == name


@pytest.mark.parametrize("code, name", sorted(CKPLUS_CODES.items()))
def test_canonical_maps_ckplus_codes(code, name):
    assert canonical(code) == name
    assert canonical(np.int64(code)) == name
    assert canonical(str(code), ckplus_code=True) == name


def test_ckplus_codes_are_the_published_ones():
    assert [CKPLUS_CODES[i] for i in range(8)] == [
        "neutral", "angry", "contempt", "disgust", "fear", "happy", "sad", "surprise"]


@pytest.mark.parametrize("bad", ["unknown", "", "happyish", "NF"])
def test_canonical_rejects_unknown_names(bad):
    with pytest.raises(FerkitError, match="unknown emotion name"):
        canonical(bad)


@pytest.mark.parametrize("bad", [8, -1, "x"])
def test_canonical_rejects_unknown_ckplus_codes(bad):
    with pytest.raises(FerkitError, match="unknown CK\\+ emotion code"):
        canonical(bad, ckplus_code=True)


def test_projection_matrix_maps_names():
    m = projection_matrix(("a", "b", "c"), ("c", "a"))
    np.testing.assert_array_equal(m, [[0, 1], [0, 0], [1, 0]])


def test_project_sums_to_one_and_drops_missing_classes():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(8), size=(4, 3)).astype(np.float32)
    out = project(probs, "ferplus", "seed5")
    assert out.shape == (4, 3, 5)
    np.testing.assert_allclose(out.sum(axis=-1), 1.0, rtol=1e-5)
    # Renormalised over the kept classes: ratios between kept classes are unchanged.
    happy, angry = EMOTIONS.index("happy"), EMOTIONS.index("angry")
    np.testing.assert_allclose(out[..., 0] / out[..., 1], probs[..., happy] / probs[..., angry],
                               rtol=1e-4)


def test_project_identity_and_reordering():
    probs = np.array([0.1, 0.2, 0.3, 0.05, 0.05, 0.1, 0.1, 0.1], np.float32)
    np.testing.assert_allclose(project(probs, "ferplus", "ferplus"), probs, rtol=1e-6)
    out = project(probs, "ferplus", "fer2013")
    expected = np.array([probs[EMOTIONS.index(n)] for n in label_names("fer2013")])
    np.testing.assert_allclose(out, expected / expected.sum(), rtol=1e-5)


def test_project_adds_zero_for_classes_the_source_lacks():
    out = project([0.5, 0.5, 0, 0, 0], "seed5", "ferplus")
    assert out.shape == (8,)
    assert out[EMOTIONS.index("contempt")] == 0
    assert out[EMOTIONS.index("happy")] == pytest.approx(0.5)


def test_project_all_mass_on_dropped_classes_becomes_uniform():
    probs = np.zeros(8, np.float32)
    probs[EMOTIONS.index("contempt")] = 1.0
    np.testing.assert_allclose(project(probs, "ferplus", "seed5"), np.full(5, 0.2))


def test_project_accepts_explicit_name_lists():
    out = project([[1.0, 3.0]], ["happy", "sad"], ["sad"])
    np.testing.assert_allclose(out, [[1.0]])


@pytest.mark.parametrize("shape", [(7,), (2, 5), (3, 9)])
def test_project_rejects_wrong_shapes(shape):
    with pytest.raises(FerkitError, match="expected 8 probabilities"):
        project(np.ones(shape), "ferplus", "seed5")


def test_project_rejects_unknown_label_set():
    with pytest.raises(FerkitError, match="unknown label set"):
        project(np.ones(5), "seed5", "bogus")
