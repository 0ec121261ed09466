"""Reader for users' own photos: `<root>/<label>/<photo>`, as the GUI's collect mode writes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ferkit.datasets.base import FaceSample, label_of, read_photo, require_dir
from ferkit.errors import DatasetError
from ferkit.imageio import IMAGE_SUFFIXES

SOURCE = "own"


def visible_subfolders(path: Path) -> list[Path]:
    """`path`'s subfolders, sorted, without hidden ones (.ipynb_checkpoints, .thumbnails)."""
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))


def read_folder(root: str | Path, split: str = "train",
                color: str = "gray") -> Iterator[FaceSample]:
    """Yield every photo under `<root>/<emotion>/`, grayscale or (`color` "bgr") BGR, read as
    `ferkit image` reads photos (EXIF orientation applied, alpha over white); folder names may
    use any known spelling."""
    root = require_dir(Path(root), "a folder of <emotion>/ subfolders")
    class_dirs = visible_subfolders(root)
    if not class_dirs:
        raise DatasetError(f"{root}: no <emotion>/ subfolders")
    for class_dir in class_dirs:
        label = label_of(class_dir.name, class_dir)
        for file in sorted(class_dir.iterdir()):
            # Hidden files include macOS's "._x.jpg" shadows, which are not images.
            if file.suffix.lower() in IMAGE_SUFFIXES and not file.name.startswith("."):
                yield FaceSample(
                    image=read_photo(file, color), label=label, source=SOURCE, split=split,
                    path=str(file),
                )

