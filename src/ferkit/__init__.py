"""ferkit: facial expression recognition — every face, its expression, with probabilities."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ferkit.errors import DatasetError, FerkitError, ImageError
from ferkit.labels import EMOTIONS, LABEL_SETS, label_names, project

__version__ = "0.1.0"

if TYPE_CHECKING:
    from ferkit.faces import Face
    from ferkit.imageio import load_image
    from ferkit.recognizer import Recognizer
    from ferkit.video.pipeline import FrameResult, StreamAnalyzer, StreamOptions, analyze_video

#: The public names loaded on first use, so `import ferkit` stays cheap (no OpenCV, no ONNX
#: Runtime until a name that needs them is asked for): name -> module.
_LAZY = {
    "Face": "ferkit.faces",
    "load_image": "ferkit.imageio",
    "Recognizer": "ferkit.recognizer",
    "FrameResult": "ferkit.video.pipeline",
    "StreamAnalyzer": "ferkit.video.pipeline",
    "StreamOptions": "ferkit.video.pipeline",
    "analyze_video": "ferkit.video.pipeline",
}

__all__ = [
    "EMOTIONS", "LABEL_SETS", "DatasetError", "Face", "FerkitError", "FrameResult", "ImageError",
    "Recognizer", "StreamAnalyzer", "StreamOptions", "analyze_video", "label_names",
    "load_image", "project",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'ferkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
