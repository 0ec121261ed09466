"""ferkit: facial expression recognition — every face, its expression, with probabilities."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ferkit.errors import DatasetError, FerkitError, ImageError
from ferkit.labels import EMOTIONS, LABEL_SETS, label_names, project

__version__ = "0.1.0"

if TYPE_CHECKING:
    from ferkit.imageio import load_image
    from ferkit.recognizer import Recognizer

__all__ = [
    "EMOTIONS", "LABEL_SETS", "DatasetError", "FerkitError", "ImageError", "Recognizer",
    "label_names", "load_image", "project",
]


def __getattr__(name: str) -> Any:
    # Keep `import ferkit` cheap: the ONNX runtime loads only when a Recognizer is asked for.
    if name == "Recognizer":
        from ferkit.recognizer import Recognizer

        return Recognizer
    if name == "load_image":
        from ferkit.imageio import load_image

        return load_image
    raise AttributeError(f"module 'ferkit' has no attribute {name!r}")
