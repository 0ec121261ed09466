"""Readers for CK+: the CK+48 class-folder layout and the original cohn-kanade-images layout."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

from ferkit.datasets.base import FaceSample, label_of, read_gray, require_dir
from ferkit.errors import DatasetError, FerkitError
from ferkit.labels import canonical

SOURCE = "ckplus"
_CK48_NAME = re.compile(r"^(S\d{3})_(\d{3})_(\d{8})\.png$", re.IGNORECASE)


def read_ckplus48(root: str | Path) -> Iterator[FaceSample]:
    """Yield samples from `CK+48/<class>/S###_###_########.png` (root may be CK+48 or above)."""
    root = Path(root)
    if (root / "CK+48").is_dir():
        root = root / "CK+48"
    require_dir(root, "a CK+48 folder of class folders")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir())
    if not class_dirs:
        raise DatasetError(f"{root}: no class folders (expected CK+48/<class>/S###_###_*.png)")
    for class_dir in class_dirs:
        label = label_of(class_dir.name, class_dir)
        for file in sorted(class_dir.glob("*.png")):
            match = _CK48_NAME.match(file.name)
            if not match:
                raise DatasetError(f"{file}: expected a CK+48 name like S010_004_00000017.png")
            yield FaceSample(
                image=read_gray(file), label=label, source=SOURCE, split="all",
                subject=match.group(1).upper(), path=str(file),
            )


def read_ckplus_original(root: str | Path, peak_frames: int = 3) -> Iterator[FaceSample]:
    """Yield samples from `cohn-kanade-images/S###/###/*.png` + `Emotion/S###/###/*_emotion.txt`.

    For each labelled sequence the last `peak_frames` frames carry the emotion and the first
    frame is neutral. Sequences without an emotion file are unlabelled and skipped.
    """
    root = Path(root)
    images = require_dir(root / "cohn-kanade-images", "CK+ cohn-kanade-images/")
    emotions = require_dir(root / "Emotion", "CK+ Emotion/ label folders")
    for label_file in sorted(emotions.glob("S*/*/*_emotion.txt")):
        subject, sequence = label_file.parent.parent.name, label_file.parent.name
        try:
            code = float(label_file.read_text().split()[0])
            label = canonical(int(code), ckplus_code=True)
        except (IndexError, ValueError, OverflowError, FerkitError):
            raise DatasetError(f"{label_file}: expected one emotion code 0-7") from None
        frames = sorted((images / subject / sequence).glob("*.png"))
        if not frames:
            raise DatasetError(f"{label_file}: no frames in {images / subject / sequence}")
        picks = [(frames[0], "neutral")] if len(frames) > peak_frames else []
        picks += [(f, label) for f in frames[-peak_frames:]]
        for file, name in picks:
            yield FaceSample(
                image=read_gray(file), label=name, source=SOURCE, split="all",
                subject=subject.upper(), path=str(file),
            )


def read_ckplus(root: str | Path) -> Iterator[FaceSample]:
    """Read CK+ in whichever of its two layouts `root` holds."""
    root = Path(root)
    if (root / "cohn-kanade-images").is_dir():
        return read_ckplus_original(root)
    return read_ckplus48(root)
