"""Seeded image corruptions of face crops (blur, noise, light, resolution, JPEG, occlusion, tilt).

Each corruption maps a uint8 face crop (H, W) gray or (H, W, 3) BGR to a new array of the same
shape and dtype, at the crop's own resolution, so a 48 px FER2013 face and a 100 px RAF-DB
face get the same corruption relative to the face. Sizes are fractions of the crop's side;
the occlusions assume an aligned face (eyes about 35-45 % down, mouth about 75 %), as in
FER2013, FER+ and RAF-DB crops. Randomness comes only from the generator passed in.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import cv2
import numpy as np

from ferkit.errors import FerkitError
from ferkit.imageio import EXAMPLE_FACE_BOXES, example_path, load_image


@dataclass(frozen=True)
class Corruption:
    """One corruption: its name, what it does in words, and the function."""

    name: str
    description: str
    apply: Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _side(image: np.ndarray) -> int:
    return min(image.shape[:2])


def _blur(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return cv2.GaussianBlur(image, (0, 0), sigmaX=0.03 * _side(image))


def _noise(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    noisy = image.astype(np.float32) + rng.normal(0.0, 20.0, image.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


def _low_light(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    dark = 255.0 * 0.45 * (image.astype(np.float32) / 255.0) ** 1.6
    return np.clip(np.rint(dark), 0, 255).astype(np.uint8)


def _low_resolution(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = image.shape[:2]
    side = int(rng.integers(20, 41))  # the face as a detector finds it in a wide shot
    small = cv2.resize(image, (max(1, round(side * w / max(h, w))),
                               max(1, round(side * h / max(h, w)))),
                       interpolation=cv2.INTER_AREA)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR).reshape(image.shape)


def _jpeg30(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 30])
    if not ok:
        raise FerkitError("could not JPEG-encode a face crop")
    flag = cv2.IMREAD_GRAYSCALE if image.ndim == 2 else cv2.IMREAD_COLOR
    return cv2.imdecode(data, flag).reshape(image.shape)


def _fill(image: np.ndarray, points: np.ndarray, value: Sequence[float]) -> np.ndarray:
    out = image.copy()
    colour = tuple(float(v) for v in value)[: 1 if image.ndim == 2 else 3]
    cv2.fillPoly(out, [np.round(points).astype(np.int32)], colour, lineType=cv2.LINE_AA)
    return out


def _scaled(image: np.ndarray, points: Sequence[tuple[float, float]]) -> np.ndarray:
    h, w = image.shape[:2]
    return np.array([(x * w, y * h) for x, y in points], np.float64)


def _sunglasses(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # Two dark lenses joined by a bridge, across both eyes.
    band = [(0.06, 0.27), (0.94, 0.27), (0.92, 0.40), (0.80, 0.50), (0.60, 0.48),
            (0.54, 0.40), (0.46, 0.40), (0.40, 0.48), (0.20, 0.50), (0.08, 0.40)]
    return _fill(image, _scaled(image, band), (25, 25, 25))


def _mask(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # A light surgical mask from just under the nose to under the chin.
    shape = [(0.10, 0.60), (0.50, 0.56), (0.90, 0.60), (0.86, 0.84), (0.62, 1.02),
             (0.38, 1.02), (0.14, 0.84)]
    return _fill(image, _scaled(image, shape), (215, 205, 190))  # BGR of a pale blue-white


def _hand(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # A blob in the face's own skin tone, where hands rest: cheek, mouth or chin.
    h, w = image.shape[:2]
    centre = (rng.uniform(0.25, 0.75) * w, rng.uniform(0.50, 0.85) * h)
    axes = (rng.uniform(0.20, 0.28) * w, rng.uniform(0.14, 0.20) * h)
    angle = rng.uniform(0, 180)
    cheek = image[int(0.45 * h): int(0.65 * h), int(0.2 * w): int(0.8 * w)]
    tone = np.median(cheek.reshape(-1, 1 if image.ndim == 2 else image.shape[2]), axis=0)
    contour = cv2.ellipse2Poly((round(centre[0]), round(centre[1])),
                               (max(1, round(axes[0])), max(1, round(axes[1]))),
                               round(angle), 0, 360, 10)
    return _fill(image, contour.astype(np.float64), tone)


@cache
def _example_photo(name: str) -> np.ndarray:
    return load_image(example_path(name))


def _object(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # A real photo's texture (part of a shipped example photo away from its face: sky, suit,
    # tripod, grass) in an ellipse over the mouth and chin or one cheek: an occluder that is
    # not a flat fill, unlike the other three and unlike training's `occlude` augmentation.
    h, w = image.shape[:2]
    source = _example_photo("camera" if rng.random() < 0.5 else "astronaut")
    top = max(box[3] for box in EXAMPLE_FACE_BOXES.values()) + 10  # below both faces
    y0, x0 = int(rng.integers(top, 512 - 160)), int(rng.integers(0, 512 - 160))
    texture = cv2.resize(source[y0:y0 + 160, x0:x0 + 160], (w, h), interpolation=cv2.INTER_AREA)
    if image.ndim == 2:
        texture = cv2.cvtColor(texture, cv2.COLOR_BGR2GRAY)
    lower = rng.random() < 0.5
    centre = ((rng.uniform(0.4, 0.6) if lower else rng.choice([0.2, 0.8])) * w,
              (rng.uniform(0.78, 0.88) if lower else rng.uniform(0.6, 0.75)) * h)
    axes = (rng.uniform(0.25, 0.32) * w, rng.uniform(0.16, 0.22) * h) if lower else (
        rng.uniform(0.16, 0.22) * w, rng.uniform(0.2, 0.25) * h)
    inside = np.zeros((h, w), np.uint8)
    cv2.ellipse(inside, (round(centre[0]), round(centre[1])),
                (max(1, round(axes[0])), max(1, round(axes[1]))), 0, 0, 360, 255, -1)
    return np.where((inside > 0)[..., None] if image.ndim == 3 else inside > 0, texture, image)


def _rotate30(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    h, w = image.shape[:2]
    angle = 30.0 if rng.random() < 0.5 else -30.0
    matrix = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), angle, 1.0)
    return cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REFLECT_101).reshape(image.shape)


CORRUPTIONS: dict[str, Corruption] = {c.name: c for c in (
    Corruption("blur", "Gaussian blur, sigma 3 % of the face side (1.4 px at 48 px)", _blur),
    Corruption("noise", "Gaussian pixel noise, sigma 20 of 255", _noise),
    Corruption("low_light", "dark exposure: 255 * 0.45 * (x/255)^1.6", _low_light),
    Corruption("low_res", "face shrunk to 20-40 px, then upscaled back", _low_resolution),
    Corruption("jpeg30", "JPEG at quality 30", _jpeg30),
    Corruption("sunglasses", "dark lenses over both eyes", _sunglasses),
    Corruption("mask", "light surgical mask over nose, mouth and chin", _mask),
    Corruption("hand", "skin-toned blob (a hand) on cheek, mouth or chin", _hand),
    Corruption("object", "textured ellipse cut from a real photo on mouth and chin or a cheek",
               _object),
    Corruption("rotate30", "in-plane rotation by 30 degrees, left or right", _rotate30),
)}
CORRUPTION_NAMES: tuple[str, ...] = tuple(CORRUPTIONS)


def get_corruption(name: str) -> Corruption:
    """The corruption called `name`, or FerkitError listing the names there are."""
    try:
        return CORRUPTIONS[name]
    except KeyError:
        raise FerkitError(f"unknown corruption {name!r}; choose one of "
                          f"{', '.join(CORRUPTION_NAMES)}") from None


def corrupt(image: np.ndarray, name: str, rng: np.random.Generator) -> np.ndarray:
    """A new copy of `image` with corruption `name` applied; `image` is left as it was."""
    corruption = get_corruption(name)
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8
            and (image.ndim == 2 or (image.ndim == 3 and image.shape[2] == 3))):
        raise FerkitError("corruptions take uint8 face crops (H, W) or (H, W, 3), got "
                          f"{getattr(image, 'dtype', type(image).__name__)} "
                          f"{getattr(image, 'shape', '')}")
    return corruption.apply(np.ascontiguousarray(image), rng)


def corrupt_all(images: Sequence[np.ndarray], name: str, seed: int = 0) -> list[np.ndarray]:
    """`corrupt` every image; image i draws from a generator seeded by (seed, i, name), so
    its result does not depend on which other images are in the list or their order."""
    tag = zlib.crc32(name.encode())
    return [corrupt(img, name, np.random.default_rng([seed, i, tag]))
            for i, img in enumerate(images)]
