"""Evaluation: pure metric functions, the validation protocols per dataset, and the figures."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ferkit.calibration import reliability
from ferkit.datasets.base import FaceSample
from ferkit.datasets.combine import subject_fold
from ferkit.errors import FerkitError
from ferkit.labels import label_names, project
from ferkit.outputs import new_figure, write_figure
from ferkit.progress import progress

#: Faces per model call while scoring: small enough for a progress bar that moves.
_BATCH = 512

# -- metrics (pure functions of integer class indices) -----------------------------------------


def confusion_matrix(y_true: Sequence[int], y_pred: Sequence[int], n_classes: int) -> np.ndarray:
    """Counts (n_classes, n_classes): row = true class, column = predicted class."""
    y_true = np.asarray(y_true, dtype=np.int64)
    y_pred = np.asarray(y_pred, dtype=np.int64)
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true {y_true.shape} and y_pred {y_pred.shape} differ in shape")
    if y_true.size and (min(y_true.min(), y_pred.min()) < 0
                        or max(y_true.max(), y_pred.max()) >= n_classes):
        raise ValueError(f"class indices must lie in 0..{n_classes - 1}")
    flat = np.bincount(y_true * n_classes + y_pred, minlength=n_classes * n_classes)
    return flat.reshape(n_classes, n_classes)


def accuracy(cm: np.ndarray) -> float:
    """Top-1 accuracy from a confusion matrix (0 when it is empty)."""
    total = cm.sum()
    return float(np.trace(cm) / total) if total else 0.0


def per_class(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 and support per class; an undefined ratio (0/0) counts as 0."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    predicted = cm.sum(axis=0)
    support = cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return {"precision": precision, "recall": recall, "f1": f1,
            "support": support.astype(np.int64)}


def macro_f1(cm: np.ndarray) -> float:
    """Mean F1 over the classes that occur as a label or a prediction (scikit-learn's default).

    A class absent from both (say neutral on CK+) is left out rather than counted as 0.
    """
    cm = np.asarray(cm)
    seen = (cm.sum(axis=0) + cm.sum(axis=1)) > 0
    if not seen.any():
        return 0.0
    return float(per_class(cm)["f1"][seen].mean())


def macro_recall(cm: np.ndarray) -> float:
    """Mean recall over the classes that occur as a true label (balanced accuracy).

    A model that never predicts a rare class loses that class's whole share, however rare it
    is; a class with no true faces (neutral on CK+) has no recall and is left out.
    """
    cm = np.asarray(cm)
    present = cm.sum(axis=1) > 0
    if not present.any():
        return 0.0
    return float(per_class(cm)["recall"][present].mean())


# -- which samples a protocol evaluates --------------------------------------------------------


@dataclass
class Selection:
    """The faces a protocol keeps, their label indices and file paths, and what it left out
    and why."""

    images: list[np.ndarray] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    read: int = 0
    other_split: int = 0
    no_majority: int = 0
    not_in_label_set: Counter[str] = field(default_factory=Counter)
    splits_seen: set[str] = field(default_factory=set)

    def counts(self) -> dict:
        return {
            "read": self.read,
            "evaluated": len(self.labels),
            "other_split": self.other_split,
            "excluded_no_majority": self.no_majority,
            "excluded_not_in_label_set": dict(sorted(self.not_in_label_set.items())),
        }


#: The label set a source is scored in by default: its own classes (RAF-DB has FER2013's 7).
DEFAULT_LABEL_SET = {"fer2013": "fer2013", "fer2013csv": "fer2013", "jaffe": "fer2013",
                     "rafdb": "fer2013", "ferplus": "ferplus", "ckplus": "ferplus",
                     "own": "seed5"}


def val_fold_of(model) -> int:
    """The subject fold a model's training held out (CK+ and JAFFE are scored on it)."""
    return int(model.metadata.get("training", {}).get("config", {})
               .get("data", {}).get("val_fold", 0))


def in_split(sample: FaceSample, split: str, val_fold: int = 0) -> bool:
    """Whether `sample` belongs to `split`; sources without splits ("all") use subject folds.

    For CK+ and JAFFE, "val" is the subject fold training held out (`val_fold`) and "train"
    the other folds, so the evaluation stays subject-independent.
    """
    if split == "all":
        return True
    if sample.split == "all":
        fold = subject_fold(sample.subject or "")
        return {"val": fold == val_fold, "train": fold != val_fold}.get(split, False)
    return sample.split == split


def select(samples: Iterable[FaceSample], split: str, label_set: str,
           val_fold: int = 0) -> Selection:
    """Keep the samples of `split` whose label is in `label_set`; count every exclusion.

    Samples with no label (FER+ images without a clear majority, by Barsoum et al.'s
    protocol) are excluded and counted.
    """
    names = label_names(label_set)
    sel = Selection()
    for s in samples:
        sel.read += 1
        sel.splits_seen.add(s.split)
        if not in_split(s, split, val_fold):
            sel.other_split += 1
        elif s.label is None:
            sel.no_majority += 1
        elif s.label not in names:
            sel.not_in_label_set[s.label] += 1
        else:
            sel.images.append(s.image)
            sel.labels.append(names.index(s.label))
            sel.paths.append(s.path)
    return sel


# -- running a model ---------------------------------------------------------------------------


@dataclass
class FaceFinder:
    """Turns photos into faces as they are read, for a model (`ExpressionModel`): in `mode`
    "auto", users' own images (source "own") over PHOTO_MIN_SIDE px on their shorter side
    are searched; in "found", every image. Only samples that `wanted` accepts (None: every
    one) are searched. A searched image becomes its best-detected face, cropped as `ferkit
    image` crops it (`Recognizer.face_crops`), so that no whole photo is held longer than its
    own detection. Other images (face crops, and photos where no face is found) are kept
    whole, in the model's colour, as `--faces given` reads them. Give it samples read in
    colour: the detector is meant for it. The detector is loaded at the first search; `seen`,
    `searched` and `not_found` count images."""

    model: Any
    mode: str = "auto"
    wanted: Callable[[FaceSample], bool] | None = None
    seen: int = 0
    searched: int = 0
    not_found: int = 0
    _recognizer: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in ("auto", "found"):
            raise FerkitError(f"faces mode {self.mode!r}: choose auto or found (given needs "
                              "no finder)")

    def searches(self, sample: FaceSample) -> bool:
        """Whether `sample` is searched for its face."""
        if self.mode == "auto" and not sample.is_own_photo:
            return False
        return self.wanted is None or self.wanted(sample)

    def crops(self, samples: Iterable[FaceSample]) -> Iterator[FaceSample]:
        gray = self.model.color == "gray"
        for sample in samples:
            image, crops = sample.image, []
            self.seen += 1
            if self.searches(sample):
                if self._recognizer is None:
                    from ferkit.recognizer import Recognizer

                    self._recognizer = Recognizer(self.model)
                crops = self._recognizer.face_crops(image)[1]
                self.searched += 1
                self.not_found += not crops
            if crops:
                image = crops[0]
            elif gray and image.ndim == 3:  # as read_face reads it grey
                image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
            yield replace(sample, image=image)

    def summary(self) -> str:
        """What was searched, for people."""
        return searched_line(self.searched, self.not_found, self.seen)


def searched_line(searched: int, not_found: int, seen: int) -> str:
    """One line saying how many of the images read were searched for a face and found."""
    return (f"{searched} of the {seen} images read were searched for a face, found in "
            f"{searched - not_found}; the rest were read whole")


def scores(y_true: np.ndarray, probs: np.ndarray, names: Sequence[str]) -> dict:
    """Accuracy, macro recall, macro-F1, per-class scores, confusion matrix and calibration
    (ECE and its reliability bins) of probabilities (N, len(names)) against true indices."""
    y_true = np.asarray(y_true, np.int64)
    cm = confusion_matrix(y_true, np.asarray(probs).argmax(axis=1), len(names))
    pc = per_class(cm)
    calibration = reliability(probs, y_true)
    return {
        "accuracy": accuracy(cm),
        "macro_recall": macro_recall(cm),
        "macro_f1": macro_f1(cm),
        "ece": calibration["ece"],
        "nll": calibration["nll"],
        "mean_confidence": calibration["mean_confidence"],
        "reliability_bins": calibration["bins"],
        "per_class": {
            name: {"precision": float(pc["precision"][i]), "recall": float(pc["recall"][i]),
                   "f1": float(pc["f1"][i]), "support": int(pc["support"][i])}
            for i, name in enumerate(names)
        },
        "confusion_matrix": cm.tolist(),
    }


def evaluate_selection(model, sel: Selection, label_set: str, head: str | None = None,
                       *, tta: bool = True) -> dict:
    """Scores of an `ExpressionModel` on a selection, without and with horizontal-flip TTA.

    `head` defaults to the one the model's metadata assigns to `label_set`. TTA averages the
    head's (calibrated) probabilities for each face and its mirror before projecting onto the
    label set, exactly as `ExpressionModel.probabilities(..., tta=True)` does. `tta=False`
    scores the plain probabilities only (half the inference).
    """
    names = label_names(label_set)
    head = head or model.head_for(label_set)
    if not sel.labels:
        raise FerkitError("no samples left to evaluate after the exclusions "
                          f"({sel.counts()})")
    plain_parts, mirrored_parts = [], []
    for start in progress(range(0, len(sel.images), _BATCH), "scoring",
                          total=-(-len(sel.images) // _BATCH), unit="batch"):
        batch = sel.images[start:start + _BATCH]
        plain_parts.append(model.head_probabilities(batch, head))
        if tta:
            mirrored_parts.append(model.head_probabilities([img[:, ::-1] for img in batch],
                                                           head))
    plain = np.concatenate(plain_parts)
    views = {"plain": plain}
    if tta:
        views["flip_tta"] = (plain + np.concatenate(mirrored_parts)) / 2
    y_true = np.asarray(sel.labels)
    result = {"head": head, "classes": list(names),
              "temperature": model.temperatures[head]}
    for key, probs in views.items():
        result[key] = scores(y_true, project(probs, model.emotions, label_set), names)
    return result


# -- the figures -------------------------------------------------------------------------------


def plot_confusion(cm: np.ndarray, names: Sequence[str], path: Path, title: str) -> Path:
    """Save a row-normalised confusion matrix (colour = recall share, text = counts) as PNG."""
    cm = np.asarray(cm)
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros(cm.shape), where=rows > 0)
    n = len(names)
    fig = new_figure("confusion matrices", figsize=(1.0 + 0.8 * n, 0.8 + 0.75 * n))
    ax = fig.subplots()
    im = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), names, rotation=45, ha="right")
    ax.set_yticks(range(n), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if share[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    fig.tight_layout()
    return write_figure(path, fig, dpi=110)


def plot_reliability(bins: Sequence[dict], path: Path, title: str) -> Path:
    """Save a reliability diagram as PNG: accuracy and mean confidence per confidence bin
    against the diagonal, with the share of faces in each bin below."""
    lower = np.array([b["lower"] for b in bins])
    width = float(bins[0]["upper"] - bins[0]["lower"]) if bins else 1.0
    counts = np.array([b["count"] for b in bins], dtype=np.float64)
    acc = np.array([b["accuracy"] if b["count"] else 0.0 for b in bins])
    conf = np.array([b["confidence"] if b["count"] else 0.0 for b in bins])
    fig = new_figure("reliability diagrams", figsize=(4.8, 5.6))
    top, bottom = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.bar(lower, acc, width=width, align="edge", color="#4c78a8", edgecolor="white",
            label="accuracy")
    # Mean confidence as an outline: where it rises above the blue, the model overclaims.
    seen = counts > 0
    top.bar(lower[seen], conf[seen], width=width, align="edge", fill=False, edgecolor="#d62728",
            linewidth=1.2, label="mean confidence")
    top.plot([0, 1], [0, 1], color="black", linewidth=1, linestyle="--", label="calibrated")
    top.set_ylim(0, 1)
    top.set_ylabel("accuracy")
    top.set_title(title, fontsize=9)
    top.legend(loc="upper left", fontsize=8)
    share = counts / counts.sum() if counts.sum() else counts
    bottom.bar(lower, share, width=width, align="edge", color="#888888", edgecolor="white")
    bottom.set_xlim(0, 1)
    bottom.set_xlabel("top-1 confidence")
    bottom.set_ylabel("share of faces")
    fig.tight_layout()
    return write_figure(path, fig, dpi=110)
