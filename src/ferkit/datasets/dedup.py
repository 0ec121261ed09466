"""Exact and near-duplicate detection of face images by their pixels."""

from __future__ import annotations

import cv2
import numpy as np

from ferkit.progress import progress

#: Images whose 16x16 thumbnails correlate above this, and whose pixels differ by less than
#: MAX_MEAN_ABS_DIFF grey levels on average, are the same face (e.g. a JPEG and a PNG copy).
MIN_CORRELATION = 0.998
MAX_MEAN_ABS_DIFF = 4.0


def thumbnails(images: np.ndarray, size: int = 16) -> np.ndarray:
    """Zero-mean, unit-norm `size`x`size` thumbnails, one row per image (N, size*size)."""
    small = np.stack(
        [cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)
         for img in progress(images, "thumbnails for duplicate search")]
    ).reshape(len(images), -1).astype(np.float32)
    small -= small.mean(axis=1, keepdims=True)
    return small / (np.linalg.norm(small, axis=1, keepdims=True) + 1e-6)


def duplicate_groups(images: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Group id per image: images in one group are exact or near duplicates of each other.

    `images` is (N, H, W) uint8 of one size. Flat images (no texture) only match exact copies.
    """
    n = len(images)
    parent = np.arange(n)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # Exact copies first: cheap, and catches flat images whose thumbnails have no direction.
    first_seen: dict[bytes, int] = {}
    for i, img in enumerate(images):
        key = img.tobytes()
        if key in first_seen:
            parent[find(i)] = find(first_seen[key])
        else:
            first_seen[key] = i

    feats = thumbnails(images)
    textured = np.linalg.norm(feats, axis=1) > 0.5
    pixels = images.reshape(n, -1).astype(np.float32)
    for start in progress(range(0, n, chunk), "finding duplicates", unit="chunk"):
        sims = feats[start : start + chunk] @ feats.T
        rows, cols = np.nonzero(sims > MIN_CORRELATION)
        keep = cols > rows + start
        for i, j in zip(rows[keep] + start, cols[keep], strict=True):
            if not (textured[i] and textured[j]) or find(i) == find(j):
                continue
            if np.abs(pixels[i] - pixels[j]).mean() < MAX_MEAN_ABS_DIFF:
                parent[find(j)] = find(i)
    return np.array([find(i) for i in range(n)])
