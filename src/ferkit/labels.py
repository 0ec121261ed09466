"""Emotion label sets, dataset spellings, and projection of probabilities between sets."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ferkit.errors import FerkitError

#: Every emotion ferkit knows, in the canonical order used by the model's FER+ head.
EMOTIONS: tuple[str, ...] = (
    "neutral", "happy", "surprise", "sad", "angry", "disgust", "fear", "contempt",
)

LABEL_SETS: dict[str, tuple[str, ...]] = {
    "seed5": ("happy", "angry", "sad", "neutral", "surprise"),
    "fer2013": ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"),
    "ferplus": EMOTIONS,
}

# Every spelling found in the datasets we read, lower-cased, mapped to canonical names.
_SPELLINGS: dict[str, str] = {
    **{name: name for name in EMOTIONS},
    "anger": "angry", "an": "angry", "mad": "angry",
    "happiness": "happy", "ha": "happy", "joy": "happy",
    "sadness": "sad", "sa": "sad",
    "surprised": "surprise", "su": "surprise",
    "disgusted": "disgust", "di": "disgust",
    "fearful": "fear", "fe": "fear", "scared": "fear",
    "ne": "neutral", "calm": "neutral",
    "co": "contempt",
}

#: CK+ Emotion/*.txt codes.
CKPLUS_CODES: dict[int, str] = {
    0: "neutral", 1: "angry", 2: "contempt", 3: "disgust",
    4: "fear", 5: "happy", 6: "sad", 7: "surprise",
}

#: FER2013 Kaggle CSV `emotion` column codes.
FER2013_CODES: dict[int, str] = dict(enumerate(LABEL_SETS["fer2013"]))


def label_names(label_set: str = "seed5") -> tuple[str, ...]:
    """Return the emotion names of `label_set` in their fixed column order."""
    try:
        return LABEL_SETS[label_set]
    except KeyError:
        raise FerkitError(
            f"unknown label set {label_set!r}; choose one of {', '.join(LABEL_SETS)}"
        ) from None


def canonical(name: str | int, *, ckplus_code: bool = False) -> str:
    """Map a dataset's own spelling ("anger", "HA", CK+ code 6, ...) to a canonical name."""
    if ckplus_code or isinstance(name, (int, np.integer)):
        try:
            return CKPLUS_CODES[int(name)]
        except (KeyError, ValueError):
            raise FerkitError(f"unknown CK+ emotion code {name!r}") from None
    try:
        return _SPELLINGS[str(name).strip().lower()]
    except KeyError:
        raise FerkitError(f"unknown emotion name {name!r}") from None


def projection_matrix(source: Sequence[str], target: Sequence[str]) -> np.ndarray:
    """Matrix M (len(source) x len(target)) with M[i, j] = 1 where source i is target j."""
    matrix = np.zeros((len(source), len(target)), dtype=np.float32)
    for j, name in enumerate(target):
        if name in source:
            matrix[list(source).index(name), j] = 1.0
    return matrix


def project(
    probs: np.ndarray, source: str | Sequence[str], target: str | Sequence[str]
) -> np.ndarray:
    """Project probabilities from one label set to another: drop what target lacks, renormalise.

    `probs` has shape (..., len(source)); the result has shape (..., len(target)) and sums to 1
    along the last axis. Emotions the source lacks get probability 0.
    """
    src = label_names(source) if isinstance(source, str) else tuple(source)
    dst = label_names(target) if isinstance(target, str) else tuple(target)
    probs = np.asarray(probs, dtype=np.float32)
    if probs.shape[-1] != len(src):
        raise FerkitError(f"expected {len(src)} probabilities for {src}, got {probs.shape[-1]}")
    out = probs @ projection_matrix(src, dst)
    total = out.sum(axis=-1, keepdims=True)
    # A row whose mass lies entirely on dropped classes becomes uniform over the target.
    return np.where(total > 0, out / np.where(total > 0, total, 1), 1.0 / len(dst))
