"""Combine datasets into one leak-free, de-duplicated training set with a target per label source.

Each source trains its own head of the model (FER2013's hard labels, FER+'s vote
distributions, the posed CK+/JAFFE labels), so the datasets' disagreements stay apart.
The same face in several sources (a FER2013 JPEG and its FER+ PNG) becomes one item
carrying every source's target. A face that appears in a validation or test split is
removed from training. CK+ and JAFFE get subject-independent folds.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from ferkit.datasets.base import FaceSample
from ferkit.datasets.dedup import duplicate_groups
from ferkit.datasets.ferplus import soft_label
from ferkit.datasets.sources import parse_source, read_source
from ferkit.errors import DatasetError
from ferkit.labels import EMOTIONS, label_names
from ferkit.outputs import AtomicFile
from ferkit.pixels import DEFAULT_COLOR, face_pixels
from ferkit.progress import progress

#: The side of the gray faces duplicates are searched on, whatever size the model trains at.
SIZE = 48
#: Which model head learns from which source.
HEAD_OF_SOURCE = {"fer2013": "fer2013", "ferplus": "ferplus", "own": "ferplus",
                  "ckplus": "posed", "jaffe": "posed", "rafdb": "rafdb"}
HEADS = ("fer2013", "ferplus", "posed", "rafdb")
#: Number of subject-independent folds for sources without an official split (CK+, JAFFE).
SUBJECT_FOLDS = 5
CACHE_VERSION = 4


@dataclass
class CombinedDataset:
    """Face images (N, S, S) gray or (N, S, S, 3) BGR, with per-head target distributions
    over `EMOTIONS`.

    `targets[head]` is (N, 8) float32; an all-zero row means that head has no label for the
    item. `split` is "train" or "val"; `report` says what was merged, dropped and why.
    """

    images: np.ndarray
    split: np.ndarray
    sources: np.ndarray
    subjects: np.ndarray
    targets: dict[str, np.ndarray]
    report: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    def fingerprint(self) -> str:
        """A hash of the faces, in order, and their splits: files keyed to one row order (a
        teacher cache) check it, whether the data came from its sources or a pack."""
        digest = hashlib.sha256(f"{self.images.shape}|".encode())
        digest.update(np.ascontiguousarray(self.images).tobytes())
        digest.update("|".join(self.split.tolist()).encode())
        return digest.hexdigest()[:16]

    @property
    def input_size(self) -> int:
        """The faces' side in pixels."""
        return int(self.images.shape[1])

    @property
    def color(self) -> str:
        """"gray" for (N, S, S) faces, "bgr" for (N, S, S, 3)."""
        return "bgr" if self.images.ndim == 4 else "gray"

    def subset(self, mask: np.ndarray) -> CombinedDataset:
        """The items where `mask` is true."""
        return CombinedDataset(
            self.images[mask], self.split[mask], self.sources[mask], self.subjects[mask],
            {h: t[mask] for h, t in self.targets.items()}, self.report,
        )

    def save(self, path: Path, compact: bool = False) -> None:
        """Write the dataset as one .npz, atomically: uncompressed (fast to load), or
        `compact`, each face a lossless WebP (about 70 % of the size, to carry elsewhere)."""
        if compact:
            codes = [_encode_lossless(face) for face in self.images]
            pixels = {"webp": np.frombuffer(b"".join(codes), np.uint8),
                      "webp_ends": np.cumsum([len(c) for c in codes], dtype=np.int64),
                      "webp_shape": np.array(self.images.shape[1:], np.int64)}
        else:
            pixels = {"images": self.images}
        with AtomicFile(path, keep_suffix=True) as file:  # np.savez adds .npz otherwise
            (np.savez_compressed if compact else np.savez)(
                file.tmp, split=self.split, sources=self.sources,
                subjects=self.subjects, report=json.dumps(self.report), **pixels,
                **{f"target_{h}": t for h, t in self.targets.items()},
            )

    @classmethod
    def load(cls, path: Path) -> CombinedDataset:
        """Read a dataset written by `save`, compact or not."""
        try:
            z = np.load(path, allow_pickle=False)
            if not isinstance(z, np.lib.npyio.NpzFile):
                raise ValueError("a single array, not an .npz")
            with z:
                targets = {k[7:]: z[k] for k in z.files if k.startswith("target_")}
                if "webp" in z.files:
                    # Files written before colour faces existed hold 48 px gray ones.
                    shape = (tuple(z["webp_shape"].tolist()) if "webp_shape" in z.files
                             else (SIZE, SIZE))
                    images = _decode_all(z["webp"], z["webp_ends"], shape)
                else:
                    images = z["images"]
                return cls(images, z["split"], z["sources"], z["subjects"], targets,
                           json.loads(str(z["report"])))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            raise DatasetError(f"{path}: not a combined dataset file ({exc})") from None


def _encode_lossless(face: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".webp", face, [cv2.IMWRITE_WEBP_QUALITY, 101])  # >100: lossless
    if not ok:
        raise DatasetError("OpenCV could not encode a face as WebP")
    return buf.tobytes()


def _decode_all(blob: np.ndarray, ends: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    if len(ends) == 0:
        return np.zeros((0, *shape), np.uint8)
    starts = np.concatenate([[0], ends[:-1]])
    flag = cv2.IMREAD_COLOR if len(shape) == 3 else cv2.IMREAD_GRAYSCALE
    return np.stack([cv2.imdecode(blob[a:b], flag) for a, b in zip(starts, ends, strict=True)])


def subject_fold(subject: str, folds: int = SUBJECT_FOLDS) -> int:
    """A stable fold number for a subject id, the same on every machine."""
    return int(hashlib.sha1(subject.encode()).hexdigest(), 16) % folds


def _target_row(sample: FaceSample, keep: np.ndarray) -> np.ndarray:
    if sample.votes is not None:
        row = soft_label(sample.votes)
    else:
        row = np.zeros(len(EMOTIONS), np.float32)
        if sample.label is not None:
            row[EMOTIONS.index(sample.label)] = 1.0
    return row * keep


def _split_of(sample: FaceSample, val_fold: int) -> str:
    if sample.split == "all":  # CK+ and JAFFE: hold out one fold of subjects
        return "val" if subject_fold(sample.subject or "") == val_fold else "train"
    return sample.split


def combine(
    samples: Iterable[FaceSample], label_set: str = "ferplus", val_fold: int = 0,
    input_size: int = SIZE, color: str = DEFAULT_COLOR,
) -> CombinedDataset:
    """Merge samples from any sources into one de-duplicated, leak-free dataset of faces
    `input_size` pixels square, gray or BGR (`color`).

    Classes the `label_set` lacks are dropped. Test-split samples are never used, but their
    training copies are removed too. Duplicates are found on 48 px gray copies whatever the
    size and colour: a face and its gray copy are the same face.
    """
    keep = np.array([name in label_names(label_set) for name in EMOTIONS], np.float32)
    kept: list[FaceSample] = []
    splits: list[str] = []
    test_faces: list[np.ndarray] = []
    dropped_classes: Counter[str] = Counter()
    own_photos = 0  # users' images large enough to be whole photos, read whole all the same
    for s in progress(samples, "reading faces"):
        split = _split_of(s, val_fold)
        if split == "test":
            test_faces.append(face_pixels(s.image, SIZE))
            continue
        if not _target_row(s, keep).any():
            dropped_classes[s.label or "no label"] += 1
            continue
        kept.append(s)
        splits.append(split)
        own_photos += s.is_own_photo
    if not kept:
        raise DatasetError("no labelled samples to combine (check the sources and label set)")
    images = np.stack([face_pixels(s.image, input_size, color) for s in kept])
    gray = (images if (input_size, color) == (SIZE, "gray")
            else np.stack([face_pixels(s.image, SIZE) for s in kept]))
    # Test faces join the search only so that their training copies can be found.
    all_groups = duplicate_groups(np.concatenate([gray, np.array(test_faces, np.uint8)
                                                  .reshape(-1, SIZE, SIZE)]))
    groups, test_groups = all_groups[: len(kept)], set(all_groups[len(kept):].tolist())
    split_arr = np.array(splits)

    # A group that touches validation is validation-only: its training copies would leak.
    val_groups = set(groups[split_arr == "val"].tolist())
    leaked = [i for i, g in enumerate(groups) if split_arr[i] == "train" and g in val_groups]
    leaked_test = [i for i, g in enumerate(groups)
                   if split_arr[i] == "train" and g in test_groups and g not in val_groups]

    items: dict[tuple[int, str], list[int]] = {}
    for i, g in enumerate(groups):
        if split_arr[i] == "train" and (g in val_groups or g in test_groups):
            continue
        items.setdefault((int(g), split_arr[i]), []).append(i)

    out_images, out_split, out_sources, out_subjects = [], [], [], []
    targets = {h: [] for h in HEADS}
    conflicts = 0
    for (_, split), members in items.items():
        # Prefer a lossless copy (FER+ PNG) of the face over a JPEG one.
        members.sort(key=lambda i: (not kept[i].path.endswith(".png"), i))
        rows = {h: np.zeros(len(EMOTIONS), np.float32) for h in HEADS}
        hard: dict[str, set[str]] = {h: set() for h in HEADS}
        for i in members:
            head = HEAD_OF_SOURCE[kept[i].source]
            rows[head] += _target_row(kept[i], keep)
            if kept[i].votes is None:
                hard[head].add(kept[i].label)
        for head in HEADS:
            if len(hard[head]) > 1:  # byte-identical faces with different labels: unusable
                rows[head][:] = 0
                conflicts += 1
            total = rows[head].sum()
            targets[head].append(rows[head] / total if total > 0 else rows[head])
        if not any(targets[h][-1].any() for h in HEADS):
            for h in HEADS:
                targets[h].pop()
            continue
        first = kept[members[0]]
        out_images.append(images[members[0]])
        out_split.append(split)
        out_sources.append("+".join(sorted({kept[i].source for i in members})))
        out_subjects.append(first.subject or "")
    if not out_images:
        raise DatasetError("no usable samples: every face was dropped (conflicting labels)")

    # Duplicates within one source (FER2013's ~1,000 groups); cross-source copies are merges.
    per_source = Counter((kept[i].source, int(g)) for i, g in enumerate(groups))
    dup_groups = Counter(src for (src, _), n in per_source.items() if n > 1)
    report = {
        "label_set": label_set,
        "samples_read": len(kept),
        "items": len(out_images),
        "duplicate_groups_within_source": dict(dup_groups),
        "same_face_in_several_sources": _multi_source_groups(groups, kept),
        "train_copies_of_val_faces_removed": len(leaked),
        "train_copies_of_test_faces_removed": len(leaked_test),
        "conflicting_label_groups_dropped": conflicts,
        "dropped_for_label_set": dict(dropped_classes),
        "val_fold_for_subject_split": val_fold,
        "own_photos_read_whole": own_photos,
    }
    return CombinedDataset(
        np.stack(out_images), np.array(out_split), np.array(out_sources),
        np.array(out_subjects), {h: np.stack(t) for h, t in targets.items()}, report,
    )


def _multi_source_groups(groups: np.ndarray, samples: list[FaceSample]) -> int:
    sources: dict[int, set[str]] = {}
    for g, s in zip(groups.tolist(), samples, strict=True):
        sources.setdefault(g, set()).add(s.source)
    return sum(1 for names in sources.values() if len(names) > 1)


def _cache_key(specs: Sequence[str], label_set: str, val_fold: int, input_size: int,
               color: str) -> str:
    parts = [str(CACHE_VERSION), label_set, str(val_fold), str(input_size), color]
    for spec in sorted(specs):
        kind, path = parse_source(spec)
        parts += [kind, str(path.resolve()), str(_changed_ns(path, kind))]
    return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]


def _changed_ns(path: Path, kind: str) -> int:
    """When `path` last changed: a research dataset's folder mtime; for users' own folders, the
    newest mtime of any file or folder in them, as crops are added or replaced inside."""
    if kind != "own":
        return path.stat().st_mtime_ns
    return max([path.stat().st_mtime_ns]
               + [p.stat().st_mtime_ns for p in path.rglob("*")])


def cache_name(specs: Sequence[str], label_set: str = "ferplus", val_fold: int = 0,
               input_size: int = SIZE, color: str = DEFAULT_COLOR) -> str:
    """The cache file of one combination: its size and colour in the name, so that a 64 px
    colour set and a 48 px gray one of the same sources never mix."""
    key = _cache_key(specs, label_set, val_fold, input_size, color)
    return f"combined-{input_size}-{color}-{key}.npz"


def load_combined(
    specs: Sequence[str], label_set: str = "ferplus", cache_dir: Path | None = None,
    val_fold: int = 0, samples: Iterable[FaceSample] | None = None,
    input_size: int = SIZE, color: str = DEFAULT_COLOR,
) -> CombinedDataset:
    """Combine the sources named by `specs` at `input_size` and `color`, reusing a cached
    .npz when one matches.

    `samples` saves reading the sources again when the caller already holds them (read in
    `color`: gray samples cannot make colour faces).
    """
    cache = None
    if cache_dir is not None:
        cache = Path(cache_dir) / cache_name(specs, label_set, val_fold, input_size, color)
        if cache.is_file():
            return CombinedDataset.load(cache)
    if samples is None:
        samples = (s for spec in specs for s in read_source(spec, color=color))
    data = combine(samples, label_set=label_set, val_fold=val_fold, input_size=input_size,
                   color=color)
    if cache is not None:
        data.save(cache)
    return data


def load_configured(data_config: dict, input_size: int = SIZE,
                    color: str = DEFAULT_COLOR) -> CombinedDataset:
    """The combined dataset a training config's `data` section names, with faces of
    `input_size` and `color`: a `ferkit data pack` file (`prepared`), else its `sources`,
    combined (and cached in `cache_dir`)."""
    prepared = data_config.get("prepared")
    if prepared:
        # A file written by `ferkit data pack`: the same combination, without the sources.
        data = CombinedDataset.load(Path(prepared))
        if (data.input_size, data.color) != (input_size, color):
            raise DatasetError(
                f"{prepared} holds {data.input_size} px {data.color} faces, but "
                f"data.input_size={input_size} data.color={color}; set those to match, or "
                "train from the sources")
        return data
    if data_config.get("sources"):
        return load_combined(data_config["sources"], data_config["label_set"],
                             Path(data_config["cache_dir"]), data_config["val_fold"],
                             input_size=input_size, color=color)
    raise DatasetError("no training data: give --data SOURCE (or data.sources in config)")


def labelled(target: np.ndarray) -> np.ndarray:
    """Items whose label is clear: hard labels, or FER+ majorities above half."""
    return target.max(axis=1) > 0.5


def labelled_training_faces(
    specs: Sequence[str], size: int = SIZE, val_fold: int = 0, color: str = DEFAULT_COLOR,
    prepare: Callable[[Iterable[FaceSample]], Iterable[FaceSample]] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, dict[str, int]]]:
    """The training faces of each source with their target rows over `EMOTIONS`, kept apart
    by source (unlike `combine`, which merges them), minus training copies of any source's
    validation or test faces (found on 48 px gray copies, as `combine` does). `prepare`, if
    given, is applied to each source's samples as they are read, in colour (e.g.
    `ferkit.evaluation.FaceFinder.crops`, which turns photos into their faces).

    Returns faces (N, size, size) uint8 gray or (N, size, size, 3) BGR as `color` says,
    targets (N, 8), the index of each face's source in `specs`, and per source how many faces
    were kept and how many copies were left out.
    """
    keep = np.ones(len(EMOTIONS), np.float32)
    faces, gray, targets, index, held_out = [], [], [], [], []
    for k, spec in enumerate(specs):
        samples = progress(read_source(spec, color="bgr" if prepare else color),
                           f"reading {spec}")
        for s in prepare(samples) if prepare else samples:
            split = _split_of(s, val_fold)
            if split != "train":
                held_out.append(face_pixels(s.image, SIZE))
                continue
            row = _target_row(s, keep)
            if row.any():
                faces.append(face_pixels(s.image, size, color))
                gray.append(face_pixels(s.image, SIZE))
                targets.append(row / row.sum())
                index.append(k)
    if not faces:
        raise DatasetError("no labelled training faces in " + ", ".join(specs))
    train = np.stack(faces)
    groups = duplicate_groups(np.concatenate(
        [np.stack(gray), np.array(held_out, np.uint8).reshape(-1, SIZE, SIZE)]))
    held_groups = set(groups[len(train):].tolist())
    clean = np.array([g not in held_groups for g in groups[: len(train)].tolist()])
    index_arr = np.array(index)
    report = {spec: {"kept": int((clean & (index_arr == k)).sum()),
                     "val_copies_dropped": int((~clean & (index_arr == k)).sum())}
              for k, spec in enumerate(specs)}
    return train[clean], np.stack(targets)[clean], index_arr[clean], report
