"""Recognizer: the public entry point that turns face crops (and, later, images) into emotions."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ferkit.model import ExpressionModel


class Recognizer:
    """Classifies facial expressions with an exported ferkit model.

    `model` is a path to an .onnx file, an `ExpressionModel`, or None for the model shipped
    with ferkit. Immutable and thread-safe, like the model it wraps: per-call options are
    arguments.
    """

    __slots__ = ("_model",)

    def __init__(self, model: str | Path | ExpressionModel | None = None, *,
                 threads: int | None = None):
        if model is None:
            model = ExpressionModel.shipped(threads=threads)
        elif not isinstance(model, ExpressionModel):
            model = ExpressionModel(model, threads=threads)
        object.__setattr__(self, "_model", model)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Recognizer is immutable")

    def __repr__(self) -> str:
        return f"Recognizer({self._model!r})"

    @property
    def model(self) -> ExpressionModel:
        return self._model

    def classify(self, crops: Iterable[np.ndarray], label_set: str = "seed5", *,
                 tta: bool = False) -> np.ndarray:
        """Probabilities (N, K) for face crops, columns in `ferkit.label_names(label_set)` order.

        Crops are grayscale, BGR or BGRA uint8/uint16 arrays of any size; see
        `ExpressionModel.preprocess`. `tta` averages each crop with its horizontal mirror.
        """
        return self._model.probabilities(crops, label_set, tta=tta)

    # analyze(image, label_set="seed5") -> faces: detect (ferkit.detect) -> align/crop ->
    # one `classify` batch. Added with face detection; this class stays detection-free so far.
