"""Integration tests on the real datasets in ../shared/datasets (skipped where it is absent)."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ferkit.datasets import detect_kind, read_ckplus48, read_fer2013_folders, read_ferplus

DATASETS = Path(
    os.environ.get("FERKIT_DATASETS")
    or Path(__file__).resolve().parents[2].parent / "shared" / "datasets"
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not DATASETS.is_dir(),
                       reason=f"real datasets not found at {DATASETS} (set FERKIT_DATASETS)"),
]


def _require(name: str) -> Path:
    path = DATASETS / name
    if not path.is_dir():
        pytest.skip(f"{path} is absent")
    return path


# Each set is read once per session: FER2013 takes seconds, FER+ a few more.
@pytest.fixture(scope="module")
def fer2013():
    return list(read_fer2013_folders(_require("fer2013")))


@pytest.fixture(scope="module")
def ferplus():
    return list(read_ferplus(_require("ferplus")))


@pytest.fixture(scope="module")
def ckplus():
    return list(read_ckplus48(_require("ckplus")))


def test_layouts_are_detected():
    assert detect_kind(_require("fer2013")) == "fer2013"
    assert detect_kind(_require("ferplus")) == "ferplus"
    assert detect_kind(_require("ckplus")) == "ckplus"


def test_fer2013_counts(fer2013):
    splits = Counter(s.split for s in fer2013)
    # The test/ folder holds PublicTest only, read as the validation split.
    assert splits == {"train": 28_709, "val": 3_589}
    assert {s.label for s in fer2013} == {
        "angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"}
    train = Counter(s.label for s in fer2013 if s.split == "train")
    assert train["happy"] == 7_215 and train["disgust"] == 436
    assert all(s.image.shape == (48, 48) and s.image.dtype == np.uint8 for s in fer2013)


def test_ferplus_counts_and_votes(ferplus):
    splits = Counter(s.split for s in ferplus)
    assert splits == {"train": 28_558, "val": 3_579}
    assert len({s.path for s in ferplus}) == len(ferplus)  # duplicated CSV names read once
    votes = np.stack([s.votes for s in ferplus])
    assert votes.shape == (len(ferplus), 10)
    assert (votes.sum(axis=1) == 10).mean() > 0.99  # ten annotators per image
    labels = Counter(s.label for s in ferplus)
    assert labels[None] > 0  # unknown / not-a-face / no majority are excluded
    assert set(labels) - {None} <= {
        "neutral", "happy", "surprise", "sad", "angry", "disgust", "fear", "contempt"}
    assert labels.most_common(2)[0][0] in ("neutral", "happy")


def test_ckplus_counts(ckplus):
    assert len(ckplus) == 981
    assert {s.label for s in ckplus} == {
        "angry", "contempt", "disgust", "fear", "happy", "sad", "surprise"}
    assert len({s.subject for s in ckplus}) == 118
    assert {s.split for s in ckplus} == {"all"}
