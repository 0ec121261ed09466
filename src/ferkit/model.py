"""ExpressionModel: an ONNX Runtime session plus the preprocessing facts its metadata carries."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np

from ferkit.calibration import apply_temperature
from ferkit.errors import FerkitError
from ferkit.labels import label_names, project
from ferkit.pixels import CHANNELS, face_pixels, network_input
from ferkit.runtime import session_options

#: The model shipped inside the package, written by `ferkit export`.
SHIPPED_MODEL = "models/fernet.onnx"
_REQUIRED_KEYS = ("format_version", "emotions", "heads", "outputs", "label_set_heads",
                  "input_name", "input_size", "mean", "std")
_SUPPORTED_FORMAT = 1
#: Faces per ONNX Runtime call: bounds memory for long lists at no measurable cost in speed.
_CHUNK = 256


def shipped_model_path() -> Path:
    """Where the packaged model lives (it may not exist yet in a development checkout)."""
    return Path(str(resources.files("ferkit").joinpath(SHIPPED_MODEL)))


def model_sha256(path: str | Path) -> str:
    """The hex SHA-256 of a model file's bytes, hashed once per path, size and modification
    time (a server or batch run asks for it per job; the file is tens of megabytes)."""
    path = Path(path)
    try:
        stat = path.stat()
        return _file_sha256(path.resolve(), stat.st_size, stat.st_mtime_ns)
    except OSError as exc:
        raise FerkitError(f"cannot read model {path}: {exc.strerror or exc}") from None


@functools.lru_cache(maxsize=8)
def _file_sha256(path: Path, size: int, mtime_ns: int) -> str:
    """Keyed by size and mtime as well, so a model rewritten in place is hashed again."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ExpressionModel:
    """An exported ferkit classifier: crops in, emotion probabilities out.

    Immutable after construction and safe to share between threads (ONNX Runtime's `run` is
    thread-safe and nothing here changes per call). Every preprocessing fact — input size,
    normalisation, emotion order, which head serves which label set — comes from the model
    file's metadata, and so does each head's temperature (`ferkit calibrate`), applied to
    every probability returned; a model without temperatures has T = 1 (probabilities as the
    network gives them).
    """

    __slots__ = ("_path", "_session", "_meta", "_emotions", "_heads", "_outputs",
                 "_label_set_heads", "_input_name", "_input_size", "_color", "_mean", "_std",
                 "_architecture", "_temperatures")

    def __init__(self, path: str | Path, *, threads: int | None = None):
        """Load `path`; `threads` sets ONNX Runtime's intra-op threads (None: its default)."""
        import onnxruntime as ort

        path = Path(path)
        if not path.is_file():
            raise FerkitError(f"{path}: no such model file")
        try:
            session = ort.InferenceSession(str(path), session_options(threads),
                                           providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own exception types for unreadable models
            raise FerkitError(f"{path}: not a loadable ONNX model ({exc})") from None
        meta = _read_metadata(path, session.get_modelmeta().custom_metadata_map)
        outputs = {o.name for o in session.get_outputs()}
        inputs = {i.name for i in session.get_inputs()}
        missing = [n for n in meta["outputs"].values() if n not in outputs]
        if meta["input_name"] not in inputs or missing:
            raise FerkitError(f"{path}: graph does not match its metadata "
                              f"(input {meta['input_name']!r}, outputs {missing})")
        set_ = object.__setattr__
        set_(self, "_path", path)
        set_(self, "_session", session)
        set_(self, "_meta", MappingProxyType(meta))
        set_(self, "_emotions", tuple(meta["emotions"]))
        set_(self, "_heads", tuple(meta["heads"]))
        set_(self, "_outputs", MappingProxyType(dict(meta["outputs"])))
        set_(self, "_label_set_heads", MappingProxyType(dict(meta["label_set_heads"])))
        set_(self, "_input_name", str(meta["input_name"]))
        set_(self, "_input_size", int(meta["input_size"]))
        set_(self, "_color", str(meta.get("color", "gray")))
        set_(self, "_mean", float(meta["mean"]))
        set_(self, "_std", float(meta["std"]))
        set_(self, "_architecture", str(meta.get("architecture", "unknown")))
        set_(self, "_temperatures", MappingProxyType(_temperatures(path, meta)))

    @classmethod
    def shipped(cls, *, threads: int | None = None) -> ExpressionModel:
        """The model packaged with ferkit, or FerkitError if this install has none yet."""
        path = shipped_model_path()
        if not path.is_file():
            raise FerkitError(
                f"the shipped model {path} does not exist yet; export one with "
                "`ferkit export runs/<run>/best.pt --out src/ferkit/models/fernet.onnx` "
                "or pass a model path"
            )
        return cls(path, threads=threads)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __repr__(self) -> str:
        return (f"ExpressionModel({str(self._path)!r}, architecture={self._architecture!r}, "
                f"heads={self._heads})")

    # -- facts from the metadata ---------------------------------------------------------
    @property
    def path(self) -> Path:
        return self._path

    @property
    def architecture(self) -> str:
        return self._architecture

    @property
    def emotions(self) -> tuple[str, ...]:
        """The column order of every head's output."""
        return self._emotions

    @property
    def heads(self) -> tuple[str, ...]:
        return self._heads

    @property
    def label_set_heads(self) -> Mapping[str, str]:
        """Which head serves each label set."""
        return self._label_set_heads

    @property
    def temperatures(self) -> Mapping[str, float]:
        """Each head's calibration temperature (1.0 where the metadata gives none)."""
        return self._temperatures

    @property
    def input_size(self) -> int:
        return self._input_size

    @property
    def color(self) -> str:
        """The pixels the network takes: "gray" (one channel) or "bgr" (three)."""
        return self._color

    @property
    def metadata(self) -> Mapping[str, Any]:
        """Every metadata entry, JSON-decoded (read-only)."""
        return self._meta

    def head_for(self, label_set: str) -> str:
        """The head that serves `label_set`, or FerkitError."""
        label_names(label_set)  # raises for an unknown label set
        try:
            return self._label_set_heads[label_set]
        except KeyError:
            raise FerkitError(f"{self._path}: model serves no label set {label_set!r} "
                              f"(it serves {', '.join(self._label_set_heads)})") from None

    # -- inference -------------------------------------------------------------------------
    def preprocess(self, crops: Iterable[np.ndarray]) -> np.ndarray:
        """Face crops of any size -> the network input (N, C, S, S) float32, C = 1 or 3.

        Each crop is grayscale (H, W) or (H, W, 1), BGR (H, W, 3) or BGRA (H, W, 4), uint8 or
        uint16 (scaled to 8 bit the way the training readers do); see `ferkit.pixels`.
        """
        if isinstance(crops, np.ndarray):
            raise FerkitError("crops must be a list of images, not one array; "
                              "wrap a single crop as [crop] (or pass list(stack))")
        size = self._input_size
        faces = [face_pixels(crop, size, self._color, i) for i, crop in enumerate(crops)]
        if not faces:
            return np.zeros((0, CHANNELS[self._color], size, size), np.float32)
        return network_input(np.stack(faces), self._mean, self._std)

    def head_probabilities(self, crops: Iterable[np.ndarray], head: str, *,
                           tta: bool = False, calibrated: bool = True) -> np.ndarray:
        """Probabilities (N, len(emotions)) of one head; `tta` averages with mirrored crops.

        `calibrated=False` skips the head's temperature: the network's own softmax, which is
        what a temperature is fitted on.
        """
        if head not in self._outputs:
            raise FerkitError(f"model has no head {head!r} (heads: {', '.join(self._heads)})")
        return self._run(self.preprocess(crops), (head,), tta, calibrated)[head]

    def every_head_probabilities(self, crops: Iterable[np.ndarray], *, tta: bool = False,
                                 calibrated: bool = True) -> dict[str, np.ndarray]:
        """`head_probabilities` of every head, from one pass of the network per batch (asking
        for one head at a time runs the whole network once per head)."""
        return self._run(self.preprocess(crops), self._heads, tta, calibrated)

    def probabilities(self, crops: Iterable[np.ndarray], label_set: str = "seed5", *,
                      tta: bool = False) -> np.ndarray:
        """Probabilities (N, K) over `ferkit.label_names(label_set)`, each row summing to 1.

        The head the metadata assigns to `label_set` is projected onto it (emotions the set
        lacks are dropped and the rest renormalised). `tta` averages each crop with its
        horizontal mirror.
        """
        head = self.head_for(label_set)
        return project(self._run(self.preprocess(crops), (head,), tta, True)[head],
                       self._emotions, label_set)

    def _run(self, x: np.ndarray, heads: tuple[str, ...], tta: bool,
             calibrated: bool) -> dict[str, np.ndarray]:
        outputs = [self._outputs[h] for h in heads]
        parts: dict[str, list[np.ndarray]] = {h: [] for h in heads}
        for start in range(0, len(x), _CHUNK):
            batch = x[start : start + _CHUNK]
            views = np.concatenate([batch, batch[..., ::-1]]) if tta else batch
            results = self._session.run(outputs, {self._input_name: views})
            for head, raw in zip(heads, results, strict=True):
                p = apply_temperature(raw, self._temperatures[head] if calibrated else 1.0)
                # Each view calibrated, then averaged: T was fitted on single views.
                parts[head].append((p[: len(batch)] + p[len(batch) :]) / 2 if tta else p)
        return {h: np.concatenate(ps).astype(np.float32, copy=False) if ps
                else np.zeros((0, len(self._emotions)), np.float32) for h, ps in parts.items()}


def _read_metadata(path: Path, raw: Mapping[str, str]) -> dict[str, Any]:
    missing = [k for k in _REQUIRED_KEYS if k not in raw]
    if missing:
        raise FerkitError(f"{path}: not a ferkit model (metadata lacks {', '.join(missing)}); "
                          "export models with `ferkit export`")
    try:
        meta = {k: json.loads(v) for k, v in raw.items()}
    except json.JSONDecodeError as exc:
        raise FerkitError(f"{path}: malformed model metadata ({exc})") from None
    # Preprocessing is implemented once (ferkit.pixels); refuse a model that asks for another.
    if meta.get("color", "gray") not in CHANNELS or meta.get("resize", "area") != "area":
        raise FerkitError(f"{path}: unsupported preprocessing (color {meta.get('color')!r}, "
                          f"resize {meta.get('resize')!r}); this ferkit does gray or bgr + area")
    if int(meta["format_version"]) > _SUPPORTED_FORMAT:
        raise FerkitError(f"{path}: model format {meta['format_version']} is newer than this "
                          f"ferkit understands ({_SUPPORTED_FORMAT}); upgrade ferkit")
    return meta


def _temperatures(path: Path, meta: Mapping[str, Any]) -> dict[str, float]:
    """Each head's temperature from the optional `temperatures` entry (absent: all 1.0)."""
    given = meta.get("temperatures", {})
    if not isinstance(given, dict) or not set(given) <= set(meta["heads"]):
        raise FerkitError(f"{path}: metadata 'temperatures' must map heads "
                          f"({', '.join(meta['heads'])}) to numbers, got {given!r}")
    out = {}
    for head in meta["heads"]:
        t = given.get(head, 1.0)
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 < t < float("inf"):
            raise FerkitError(f"{path}: head {head!r} has temperature {t!r}; "
                              "expected a positive number")
        out[head] = float(t)
    return out
