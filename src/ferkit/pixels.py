"""Face pixels as a model sees them: one size, gray or BGR, normalised alike in training and use."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from ferkit.errors import FerkitError

#: The colour forms a model may take: one gray channel, or OpenCV's three BGR channels.
CHANNELS = {"gray": 1, "bgr": 3}
#: FER2013's native face: the default input of every model.
DEFAULT_SIZE, DEFAULT_COLOR = 48, "gray"
#: Input sides a fernet accepts: its stem sees S x S and three stride-2 stages pool S / 8;
#: multiples of 16 keep that an even, ONNX-friendly size.
SIZES = tuple(range(32, 129, 16))


def check_input(size: Any, color: Any, what: str = "data") -> tuple[int, str]:
    """`(size, color)` if a model can take them, else FerkitError in one line."""
    if isinstance(size, bool) or not isinstance(size, int) or size not in SIZES:
        raise FerkitError(f"{what}.input_size={size!r}: use a multiple of 16 from "
                          f"{SIZES[0]} to {SIZES[-1]} (48 is FER2013's own)")
    if color not in CHANNELS:
        raise FerkitError(f"{what}.color={color!r}: use gray or bgr")
    return size, color


def face_pixels(image: Any, size: int, color: str = DEFAULT_COLOR,
                index: int = 0) -> np.ndarray:
    """Any face image -> uint8 (size, size) gray or (size, size, 3) BGR, resized with INTER_AREA.

    The image is gray (H, W) or (H, W, 1), BGR (H, W, 3) or BGRA (H, W, 4), uint8 or uint16
    (scaled to 8 bit). Gray becomes three equal channels for a BGR model; alpha is dropped.
    `index` names the image in errors.
    """
    if not isinstance(image, np.ndarray):
        raise FerkitError(f"crop {index}: expected a numpy array, got {type(image).__name__}")
    if image.dtype not in (np.uint8, np.uint16):
        raise FerkitError(f"crop {index}: expected uint8 or uint16 pixels, got {image.dtype}")
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if not (image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (3, 4))):
        raise FerkitError(f"crop {index}: expected (H, W), (H, W, 3) BGR or (H, W, 4) BGRA, "
                          f"got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise FerkitError(f"crop {index}: empty image, shape {image.shape}")
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    image = np.ascontiguousarray(image)
    if image.ndim == 3:
        if color == "gray":
            code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
            image = cv2.cvtColor(image, code)
        elif image.shape[2] == 4:
            image = cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    if image.shape[:2] != (size, size):
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    if color == "bgr" and image.ndim == 2:
        # Replicated after resizing: the same pixels as resizing three equal channels.
        image = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return image


def network_input(faces: np.ndarray, mean: float, std: float) -> np.ndarray:
    """uint8 faces (N, S, S) or (N, S, S, 3) -> float32 (N, C, S, S), (pixel / 255 - mean) / std.

    One mean and one std for every channel: gray and colour models are normalised alike.
    """
    x = faces.astype(np.float32) / 255.0
    x = x[:, None] if x.ndim == 3 else x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray((x - mean) / std)
