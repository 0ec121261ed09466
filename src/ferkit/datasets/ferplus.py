"""Reader for FER+ (Barsoum et al. 2016): vote vectors, majority labels and soft labels."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ferkit.datasets.base import FaceSample, read_gray, require_dir
from ferkit.datasets.fer2013 import USAGE_TO_SPLIT
from ferkit.errors import DatasetError
from ferkit.labels import EMOTIONS

SOURCE = "ferplus"
#: Column order of the vote vectors: the 8 emotions, then unknown and not-a-face.
VOTE_COLUMNS = (*EMOTIONS, "unknown", "NF")
_CSV_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
                "contempt", "unknown", "NF")
_FOLDERS = {"train": "FER2013Train", "val": "FER2013Valid", "test": "FER2013Test"}


def majority_label(votes: np.ndarray) -> str | None:
    """Majority label by Barsoum et al.'s protocol, or None if the image is excluded.

    Single votes are treated as noise and dropped; the top emotion must then hold more than
    half of the remaining votes; images whose top class is unknown or NF are excluded.
    """
    votes = np.asarray(votes, dtype=np.float64).copy()
    votes[votes <= 1] = 0
    total = votes.sum()
    if total <= 0:
        return None
    top = int(votes.argmax())
    if votes[top] <= total / 2 or top >= len(EMOTIONS):
        return None
    return EMOTIONS[top]


def soft_label(votes: np.ndarray) -> np.ndarray:
    """The emotion distribution of a vote vector (unknown/NF dropped); zeros if no votes."""
    emotions = np.asarray(votes, dtype=np.float32)[: len(EMOTIONS)]
    total = emotions.sum()
    return emotions / total if total > 0 else np.zeros_like(emotions)


def read_ferplus(root: str | Path, splits: tuple[str, ...] = ("train", "val", "test")
                 ) -> Iterator[FaceSample]:
    """Yield samples from `fer2013new.csv` + `data/FER2013{Train,Valid,Test}/ferNNNNNNN.png`.

    Rows without an image name (177 in the original) have no PNG and are skipped; splits whose
    folder is absent (FER+ Test is withheld here) are skipped too.
    """
    root = require_dir(Path(root), "a FER+ folder with fer2013new.csv and data/")
    csv_path = root / "fer2013new.csv"
    if not csv_path.is_file():
        raise DatasetError(f"{csv_path}: FER+ vote file not found")
    # Without this check a wrong layout reads as an empty dataset instead of failing.
    if not any((root / "data" / folder).is_dir() for folder in _FOLDERS.values()):
        raise DatasetError(
            f"{root / 'data'}: no FER2013Train/, FER2013Valid/ or FER2013Test/ image folders"
        )
    seen: set[str] = set()
    with csv_path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, [])
        expected = ["Usage", "Image name", *_CSV_COLUMNS]
        if header[: len(expected)] != expected:
            raise DatasetError(f"{csv_path}: unexpected header {header!r}; expected {expected!r}")
        for row_no, row in enumerate(reader, start=2):
            if len(row) < len(expected):
                raise DatasetError(f"{csv_path}:{row_no}: expected {len(expected)} columns")
            usage, name = row[0], row[1].strip()
            split = USAGE_TO_SPLIT.get(usage)
            if split is None:
                raise DatasetError(f"{csv_path}:{row_no}: unknown Usage {usage!r}")
            # The real CSV lists three Training names twice; each PNG is one image.
            if not name or split not in splits or name in seen:
                continue
            seen.add(name)
            folder = root / "data" / _FOLDERS[split]
            if not folder.is_dir():
                continue
            try:
                votes = np.array([float(v) for v in row[2:12]], dtype=np.float32)
            except ValueError:
                raise DatasetError(f"{csv_path}:{row_no}: vote counts must be numbers") from None
            file = folder / name
            if not file.is_file():
                raise DatasetError(f"{file}: listed in {csv_path.name} but missing")
            yield FaceSample(
                image=read_gray(file), label=majority_label(votes), source=SOURCE, split=split,
                votes=votes, path=str(file),
            )
