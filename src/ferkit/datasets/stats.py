"""Dataset statistics: counts per source, class and split, duplicate figures, a sample-face grid."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ferkit.datasets.base import SPLITS, FaceSample
from ferkit.datasets.combine import (
    SIZE,
    CombinedDataset,
    load_combined,
)
from ferkit.datasets.sources import parse_source, read_source
from ferkit.labels import EMOTIONS
from ferkit.outputs import new_figure, write_figure
from ferkit.progress import progress

#: Row name for FER+ images without a majority emotion (unknown, not a face, or no majority).
EXCLUDED = "excluded"


@dataclass
class SourceSamples:
    """Every sample of one dataset source, with the spec and reader kind it was read with."""

    spec: str
    kind: str
    samples: list[FaceSample]

    @property
    def name(self) -> str:
        """The source's own name (fer2013, ferplus, ckplus, rafdb, jaffe, own)."""
        return self.samples[0].source if self.samples else self.kind


def check_sources(specs: Sequence[str]) -> list[tuple[str, str, Path]]:
    """(spec, kind, path) for each spec; fails on a bad layout before anything slow is read."""
    return [(spec, *parse_source(spec)) for spec in specs]


def read_sources(specs: Sequence[str]) -> list[SourceSamples]:
    """Read every sample of every source into memory (a few hundred MB for FER2013 + FER+)."""
    return [SourceSamples(spec, kind, list(progress(read_source(spec), f"reading {spec}")))
            for spec, kind, _ in check_sources(specs)]


def class_of(sample: FaceSample) -> str:
    """The sample's class for counting: its label, or EXCLUDED where FER+ gives no majority."""
    return sample.label or EXCLUDED


def class_counts(samples: Sequence[FaceSample]) -> dict:
    """Counts per class and split: {"classes": {class: {split: n}}, "splits": {...}, "total"}."""
    counts = Counter((class_of(s), s.split) for s in samples)
    order = [*EMOTIONS, EXCLUDED]
    classes = sorted({c for c, _ in counts}, key=lambda c: (order.index(c), c))
    splits = [s for s in SPLITS if any(sp == s for _, sp in counts)]
    return {
        "classes": {c: {sp: counts[(c, sp)] for sp in splits} for c in classes},
        "splits": {sp: sum(n for (_, s), n in counts.items() if s == sp) for sp in splits},
        "total": len(samples),
    }


def exact_duplicates(samples: Sequence[FaceSample]) -> dict:
    """Byte-identical pixel groups within one source, and those whose labels disagree.

    Only the exact copies: `combine` also finds near copies (a JPEG re-save of the same face).
    """
    labels: dict[bytes, list[str | None]] = {}
    for s in samples:
        labels.setdefault(s.image.tobytes(), []).append(s.label)
    groups = [v for v in labels.values() if len(v) > 1]
    return {
        "groups": len(groups),
        "images_in_groups": sum(len(v) for v in groups),
        "groups_with_conflicting_labels": sum(
            1 for v in groups if len({x for x in v if x is not None}) > 1),
    }


def combined(
    samples: Sequence[FaceSample], specs: Sequence[str], label_set: str = "ferplus",
    val_fold: int = 0, cache_dir: Path | None = None,
) -> CombinedDataset:
    """`combine(samples)`, reusing or writing the same cache entry `load_combined(specs)` uses."""
    return load_combined(specs, label_set, cache_dir, val_fold, samples=samples)


def combined_summary(data: CombinedDataset) -> dict:
    """The combine report plus the resulting items per split and per source mix."""
    by_source: dict[str, dict[str, int]] = {}
    for source, split in zip(data.sources.tolist(), data.split.tolist(), strict=True):
        by_source.setdefault(source, Counter())[split] += 1
    return {
        **data.report,
        "items_by_split": dict(Counter(data.split.tolist())),
        "items_by_sources": {k: dict(v) for k, v in sorted(by_source.items())},
    }


def source_stats(
    src: SourceSamples, label_set: str = "ferplus", val_fold: int = 0,
    cache_dir: Path | None = None,
) -> dict:
    """Counts, exact duplicates and the de-duplicated, leak-free result for one source."""
    return {
        "spec": src.spec,
        "kind": src.kind,
        "source": src.name,
        "counts": class_counts(src.samples),
        "exact_duplicates": exact_duplicates(src.samples),
        "combined": combined_summary(
            combined(src.samples, [src.spec], label_set, val_fold, cache_dir)),
    }


def collect_stats(
    sources: Sequence[SourceSamples], label_set: str = "ferplus", val_fold: int = 0,
    cache_dir: Path | None = None,
) -> dict:
    """Statistics of each source alone and of all of them combined, as a JSON-ready dict."""
    result = {
        "label_set": label_set,
        "val_fold": val_fold,
        "sources": [source_stats(s, label_set, val_fold, cache_dir) for s in sources],
    }
    if len(sources) > 1:
        everything = [x for s in sources for x in s.samples]
        data = combined(everything, [s.spec for s in sources], label_set, val_fold, cache_dir)
        result["combined"] = combined_summary(data)
    return result


def _n(value: int) -> str:
    return f"{value:,}"


def format_table(stats: dict) -> str:
    """A plain-text report of `collect_stats` output: one table per source, then totals."""
    lines: list[str] = []
    for src in stats["sources"]:
        counts, dup, comb = src["counts"], src["exact_duplicates"], src["combined"]
        splits = list(counts["splits"])
        lines.append(f"== {src['spec']} ({src['kind']}): {_n(counts['total'])} images")
        lines.append(f"{'class':<12}" + "".join(f"{s:>9}" for s in splits) + f"{'total':>9}")
        for name, row in counts["classes"].items():
            cells = "".join(f"{_n(row[s]):>9}" for s in splits)
            lines.append(f"{name:<12}{cells}{_n(sum(row.values())):>9}")
        cells = "".join(f"{_n(counts['splits'][s]):>9}" for s in splits)
        lines.append(f"{'total':<12}{cells}{_n(counts['total']):>9}")
        lines.append(
            f"byte-identical groups: {_n(dup['groups'])} ({_n(dup['images_in_groups'])} images),"
            f" {_n(dup['groups_with_conflicting_labels'])} with conflicting labels")
        lines += _combined_lines(comb, single=True)
        lines.append("")
    if "combined" in stats:
        lines.append(f"== all sources combined (label set {stats['label_set']}, "
                     f"subject val fold {stats['val_fold']})")
        lines += _combined_lines(stats["combined"], single=False)
        lines.append("items per source mix:")
        for mix, per_split in stats["combined"]["items_by_sources"].items():
            parts = ", ".join(f"{k} {_n(v)}" for k, v in sorted(per_split.items()))
            lines.append(f"  {mix:<24}{parts}")
    return "\n".join(lines).rstrip() + "\n"


def _combined_lines(comb: dict, single: bool) -> list[str]:
    split = ", ".join(f"{k} {_n(v)}" for k, v in sorted(comb["items_by_split"].items()))
    lines = [
        f"after de-duplication: {_n(comb['items'])} items ({split}) "
        f"from {_n(comb['samples_read'])} labelled images",
        f"train copies of val faces removed: {_n(comb['train_copies_of_val_faces_removed'])}; "
        f"of test faces: {_n(comb.get('train_copies_of_test_faces_removed', 0))}; "
        f"conflicting-label groups dropped: {_n(comb['conflicting_label_groups_dropped'])}",
    ]
    if single:
        dup = sum(comb["duplicate_groups_within_source"].values())
        lines.insert(0, f"exact + near duplicate groups: {_n(dup)}")
    else:
        lines.insert(0, "same face in several sources: "
                        f"{_n(comb['same_face_in_several_sources'])} groups")
        lines.insert(0, "exact + near duplicate groups within each source: " + ", ".join(
            f"{k} {_n(v)}" for k, v in sorted(comb["duplicate_groups_within_source"].items())))
    dropped = comb.get("dropped_for_label_set") or {}
    if dropped:
        lines.append("not used (no label in the label set): " + ", ".join(
            f"{k} {_n(v)}" for k, v in sorted(dropped.items())))
    return lines


def pick_samples(
    sources: Sequence[SourceSamples], per_class: int = 8, seed: int = 0
) -> list[tuple[str, int, list[np.ndarray]]]:
    """Up to `per_class` random faces per (source, class): (row title, class size, faces)."""
    rng = np.random.default_rng(seed)
    names = Counter(s.name for s in sources)
    rows = []
    for k, src in enumerate(sources):
        title = src.name if names[src.name] == 1 else f"{src.name}#{k + 1}"
        by_class: dict[str, list[int]] = {}
        for i, s in enumerate(src.samples):
            if s.label is not None:
                by_class.setdefault(s.label, []).append(i)
        for label in sorted(by_class, key=EMOTIONS.index):
            idx = by_class[label]
            chosen = np.sort(rng.choice(len(idx), size=min(per_class, len(idx)), replace=False))
            rows.append((f"{title} · {label}", len(idx),
                         [src.samples[idx[j]].image for j in chosen]))
    return rows


def sample_grid(
    sources: Sequence[SourceSamples], path: Path, per_class: int = 8, seed: int = 0
) -> Path:
    """Draw `per_class` sample faces per source and class into one PNG at `path`, atomically."""
    rows = pick_samples(sources, per_class, seed)
    gap, cell = 3, SIZE + 3
    montage = np.full((max(1, len(rows)) * cell + gap, per_class * cell + gap), 255, np.uint8)
    for r, (_, _, faces) in enumerate(rows):
        for c, image in enumerate(faces):
            if image.shape != (SIZE, SIZE):
                image = cv2.resize(image, (SIZE, SIZE), interpolation=cv2.INTER_AREA)
            y, x = gap + r * cell, gap + c * cell
            montage[y : y + SIZE, x : x + SIZE] = image
    scale = 1.6 / 100  # inches per montage pixel at dpi 100: faces drawn at about 77 px
    width, height = montage.shape[1] * scale, montage.shape[0] * scale
    fig_w, fig_h = width + 2.6, height + 0.7  # room for row titles on the left, title on top
    fig = new_figure("the sample grid", figsize=(fig_w, fig_h), dpi=100)
    ax = fig.add_axes((2.5 / fig_w, 0.25 / fig_h, width / fig_w, height / fig_h))
    ax.imshow(montage, cmap="gray", vmin=0, vmax=255, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([gap + r * cell + SIZE / 2 for r in range(len(rows))])
    ax.set_yticklabels([f"{title}  ({n:,})" for title, n, _ in rows], fontsize=10)
    ax.tick_params(length=0)
    for spine in ax.spines.values():
        spine.set_visible(False)
    ax.set_title(f"{per_class} random faces per source and class (class size)", fontsize=11)
    return write_figure(path, fig, dpi=100)


