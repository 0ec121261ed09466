"""Reader for users' own photos: `<root>/<label>/*.jpg|png`, as the GUI's collect mode writes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ferkit.datasets.base import FaceSample, label_of, read_face, require_dir
from ferkit.errors import DatasetError
from ferkit.imageio import IMAGE_SUFFIXES

SOURCE = "own"


def read_folder(root: str | Path, split: str = "train",
                color: str = "gray") -> Iterator[FaceSample]:
    """Yield every image under `<root>/<emotion>/`, grayscale or (`color` "bgr") as stored;
    folder names may use any known spelling."""
    root = require_dir(Path(root), "a folder of <emotion>/ subfolders")
    class_dirs = sorted(p for p in root.iterdir() if p.is_dir())
    if not class_dirs:
        raise DatasetError(f"{root}: no <emotion>/ subfolders")
    for class_dir in class_dirs:
        label = label_of(class_dir.name, class_dir)
        for file in sorted(class_dir.iterdir()):
            if file.suffix.lower() in IMAGE_SUFFIXES:
                yield FaceSample(
                    image=read_face(file, color), label=label, source=SOURCE, split=split,
                    path=str(file),
                )
