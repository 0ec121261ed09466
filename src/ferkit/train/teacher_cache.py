"""Teacher predictions cached once: an ensemble of exported models' mean probabilities per face."""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ferkit.datasets.combine import CombinedDataset, labelled
from ferkit.errors import FerkitError
from ferkit.labels import EMOTIONS
from ferkit.model import ExpressionModel
from ferkit.outputs import AtomicFile
from ferkit.progress import progress

#: Written into every cache, so that another .npz (a packed dataset) is told apart.
KIND = "ferkit teacher cache 1"
#: Faces per step of the progress bar (ExpressionModel batches them further itself).
_STEP = 1024


@dataclass(frozen=True)
class TeacherCache:
    """Each head's ensemble probabilities (N, 8) over `EMOTIONS`: row i for face i of the
    combined dataset whose `CombinedDataset.fingerprint()` is `dataset`, validation faces too.

    A head is the mean over the teachers that have it of each teacher's own softmax (T = 1:
    `ferkit calibrate` temperatures are left out, so that train.distill_temperature alone
    softens), with `mirror` each face averaged with its horizontal mirror first. `teachers`
    records the model files.
    """

    dataset: str
    probs: Mapping[str, np.ndarray]
    teachers: tuple[str, ...]
    mirror: bool

    def save(self, path: Path) -> None:
        """Write the cache as one .npz, atomically."""
        with AtomicFile(path, keep_suffix=True) as file:  # np.savez adds .npz otherwise
            np.savez(file.tmp, kind=KIND, dataset=self.dataset, mirror=self.mirror,
                     teachers=json.dumps(list(self.teachers)),
                     **{f"probs_{h}": p for h, p in self.probs.items()})

    @classmethod
    def load(cls, path: Path, data: CombinedDataset) -> TeacherCache:
        """Read a cache written by `save` for `data`; FerkitError for any other file or data."""
        path = Path(path)
        if not path.is_file():
            raise FerkitError(f"{path}: no such teacher cache (write one with "
                              "`ferkit distill-cache`)")
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["kind"]) != KIND:
                    raise ValueError(f"kind {str(z['kind'])!r}")
                cache = cls(str(z["dataset"]),
                            {k[6:]: z[k] for k in z.files if k.startswith("probs_")},
                            tuple(json.loads(str(z["teachers"]))), bool(z["mirror"]))
        except (OSError, ValueError, KeyError, EOFError, AttributeError,
                zipfile.BadZipFile) as exc:
            raise FerkitError(f"{path}: not a teacher cache ({exc})") from None
        if cache.dataset != data.fingerprint():
            raise FerkitError(f"{path}: teacher predictions for other data (dataset "
                              f"{cache.dataset}, this config's is {data.fingerprint()}); "
                              "write a cache for this config with `ferkit distill-cache`")
        if any(p.shape != (len(data), len(EMOTIONS)) for p in cache.probs.values()):
            raise FerkitError(f"{path}: its rows do not match the {len(data)} faces")
        return cache

    def accuracy(self, data: CombinedDataset, split: str = "val") -> dict[str, float]:
        """The ensemble's top-1 accuracy per head on the `split` faces labelled for that head,
        as the training loop scores a model's heads."""
        result = {}
        for head, probs in self.probs.items():
            target = data.targets.get(head)
            if target is None:
                continue
            has = labelled(target) & (data.split == split)
            if has.any():
                result[head] = float((probs[has].argmax(1) == target[has].argmax(1)).mean())
        return result


def build_teacher_cache(models: Sequence[ExpressionModel], data: CombinedDataset, *,
                        mirror: bool = False) -> TeacherCache:
    """Run every model over every face of `data` once and average each head's probabilities
    over the models that have that head."""
    if not models:
        raise FerkitError("no teacher models: name at least one exported .onnx")
    for model in models:
        if tuple(model.emotions) != tuple(EMOTIONS):
            raise FerkitError(f"{model.path}: its outputs are over {', '.join(model.emotions)}, "
                              f"not this ferkit's {', '.join(EMOTIONS)}")
    have = Counter(h for model in models for h in model.heads)
    sums = {h: np.zeros((len(data), len(EMOTIONS)), np.float64) for h in have}
    starts = range(0, len(data), _STEP)
    for start in progress(starts, f"{len(models)} teachers", unit="batch"):
        faces = list(data.images[start : start + _STEP])
        for model in models:
            probs = model.every_head_probabilities(faces, tta=mirror, calibrated=False)
            for head, p in probs.items():
                sums[head][start : start + len(faces)] += p
    return TeacherCache(data.fingerprint(),
                        {h: (s / have[h]).astype(np.float32) for h, s in sums.items()},
                        tuple(str(m.path) for m in models), mirror)
