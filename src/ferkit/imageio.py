"""load_image: a path, encoded bytes or an array in; a BGR uint8 (H, W, 3) array out."""

from __future__ import annotations

import io
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import cv2
import numpy as np

from ferkit.errors import ImageError, ImageTooLargeError

#: Default guard against decompression bombs and accidental gigapixel scans (100 MP).
MAX_PIXELS = 100_000_000

#: Default cap on the bytes read from a file or stdin (no photo ferkit reads comes near it).
MAX_FILE_BYTES = 256 * 1024 * 1024

#: The formats ferkit decodes (Pillow's names), and nothing else: no external program
#: (Ghostscript for EPS) and no decoder without a header-size check (OpenCV's HDR, PFM, ...)
#: ever sees user input. GIF and animated WebP give their first frame; MPO is a camera JPEG.
FORMATS = ("JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF")

#: File suffixes of FORMATS: what folders are searched for and what opens as a photo.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"})

#: FORMATS as a message to people spells them.
_FORMAT_NAMES = tuple("WebP" if name == "WEBP" else name for name in FORMATS)

ImageSource = str | os.PathLike | bytes | bytearray | memoryview | np.ndarray


@dataclass(frozen=True)
class ImageHeader:
    """What an encoded image's header announces, read without decoding its pixels."""

    width: int
    height: int
    format: str

    @property
    def pixels(self) -> int:
        return self.width * self.height


def load_image(
    source: ImageSource, *, max_pixels: int | None = MAX_PIXELS, max_side: int | None = None,
    max_bytes: int | None = MAX_FILE_BYTES, name: str | None = None,
) -> np.ndarray:
    """Read `source` into a BGR uint8 array of shape (H, W, 3).

    Files and bytes must be one of `FORMATS`; they are decoded with EXIF orientation applied;
    palette, gray, 16-bit, float, CMYK and alpha images are converted (alpha is composited over
    white). Arrays are taken as OpenCV lays them out: (H, W) gray, (H, W, 3) BGR or (H, W, 4)
    BGRA, any of uint8, uint16, float in [0, 1] or bool; a BGR uint8 array comes back without
    a copy. Only regular files are read, at most `max_bytes` of them. Images whose header
    announces over `max_pixels` raise ImageTooLargeError before any decoding (None: no limit);
    `max_side` shrinks images whose longer side exceeds it. Anything unreadable raises
    ImageError naming the source (`name`, if given: e.g. "stdin" for bytes read from it).
    """
    if isinstance(source, np.ndarray):
        name = name or f"<array {source.dtype} {source.shape}>"
        _check_pixels(name, source.shape[:2][::-1] if source.ndim >= 2 else (0, 0), max_pixels)
        image = _from_array(source, name)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        image = _decode(bytes(source), name or "<bytes>", max_pixels, max_side)
    elif isinstance(source, (str, os.PathLike)):
        image = _decode(read_file(source, max_bytes), name or str(source), max_pixels, max_side)
    else:
        raise ImageError(
            f"cannot read image from {type(source).__name__}: pass a path, bytes or an array")
    return shrink(image, max_side)


def probe_image(source: str | os.PathLike | bytes | bytearray | memoryview, *,
                max_bytes: int | None = MAX_FILE_BYTES) -> ImageHeader:
    """Size and format from the header alone (cheap: no pixels are decoded).

    Raises ImageError for anything `load_image` would not decode, so a caller can budget
    memory (`ImageHeader.pixels` x 3 bytes, and a few copies) before decoding.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data, name = bytes(source), "<bytes>"
    else:
        data, name = read_file(source, max_bytes), str(source)
    with _open(data, name) as im:
        return ImageHeader(im.size[0], im.size[1], im.format or "?")


def read_file(path: str | os.PathLike, max_bytes: int | None = MAX_FILE_BYTES) -> bytes:
    """The bytes of a regular file, refusing devices, FIFOs and files over `max_bytes`."""
    path = Path(path)
    try:
        # O_NONBLOCK: opening a FIFO must not wait for a writer; we refuse it just below.
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise ImageError(f"cannot read image {path}: no such file") from None
    except IsADirectoryError:
        raise ImageError(f"cannot read image {path}: it is a directory") from None
    except OSError as exc:
        raise ImageError(f"cannot read image {path}: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise ImageError(f"cannot read image {path}: it is a directory")
        raise ImageError(f"cannot read image {path}: not a regular file (a device, pipe "
                         "or socket); give a file, or '-' for stdin where supported")
    if hasattr(os, "set_blocking"):  # not on Windows before Python 3.12
        os.set_blocking(fd, True)
    with os.fdopen(fd, "rb") as fh:
        return read_limited(fh, max_bytes, str(path))


def read_limited(stream: BinaryIO, max_bytes: int | None, name: str) -> bytes:
    """Read `stream` to its end, refusing (ImageError) more than `max_bytes`."""
    try:
        data = stream.read() if max_bytes is None else stream.read(max_bytes + 1)
    except OSError as exc:
        raise ImageError(f"cannot read image {name}: {exc.strerror or exc}") from None
    if max_bytes is not None and len(data) > max_bytes:
        raise ImageTooLargeError(f"cannot read image {name}: over the {max_bytes / 2**20:.0f} MiB "
                         "limit for one image file")
    return data


def example_path(name: str = "astronaut") -> Path:
    """Path of a photo shipped in ferkit/assets ("astronaut": one frontal face; "camera": a
    face turned to the side); see assets/README.md for sources and licences."""
    from importlib import resources

    path = Path(str(resources.files("ferkit") / "assets" / f"{name}.jpg"))
    if not path.is_file():
        raise ImageError(f"no example photo called {name!r}; try 'astronaut' or 'camera'")
    return path


#: Face boxes (x1, y1, x2, y2) in the shipped 512x512 example photos.
EXAMPLE_FACE_BOXES = {"astronaut": (150, 40, 300, 230), "camera": (170, 80, 290, 240)}


def example_backgrounds() -> list[np.ndarray]:
    """Face-less regions of the shipped example photos (left and right of each face, and below
    it): real backgrounds for test scenes and false-positive counts."""
    regions = []
    for name, (x1, _, x2, y2) in EXAMPLE_FACE_BOXES.items():
        image = load_image(example_path(name))
        regions += [image[:, :x1], image[:, x2:], image[y2:, :]]
    return regions


def _check_pixels(name: str, size_wh: tuple[int, int], max_pixels: int | None) -> None:
    width, height = size_wh
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLargeError(
            f"image {name} is {width}x{height} ({width * height / 1e6:.0f} MP), over the "
            f"{max_pixels / 1e6:.0f} MP limit; shrink it first or raise max_pixels")


def shrink(image: np.ndarray, max_side: int | None) -> np.ndarray:
    """The image resized (INTER_AREA) so its longer side is at most `max_side`; itself if
    it already fits or `max_side` is None. No side shrinks below one pixel."""
    height, width = image.shape[:2]
    if not max_side or max(height, width) <= max_side:
        return image
    scale = max_side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def _open(data: bytes, name: str):
    """Pillow's lazy open of one of FORMATS: header parsed, pixels not yet decoded."""
    if not data:
        raise ImageError(f"cannot read image {name}: the file is empty")
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Our own pixel limit (checked by the callers) decides; Pillow's warning is noise.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data), formats=FORMATS)
    except Image.DecompressionBombError:
        raise ImageTooLargeError(f"image {name} is too large to decode safely") from None
    except UnidentifiedImageError:
        raise ImageError(f"cannot read image {name}: not an image file, or a format ferkit "
                         f"does not read (it reads {', '.join(_FORMAT_NAMES)})") from None
    except Exception as exc:  # a known format whose header is damaged
        raise ImageError(f"cannot read image {name}: corrupt or truncated file "
                         f"({_first_line(exc)})") from None


def _decode(data: bytes, name: str, max_pixels: int | None, max_side: int | None) -> np.ndarray:
    # Pillow warns about damaged metadata ("Corrupt EXIF data") in multi-line warnings; the
    # pixels are what count, and a user gets one line or none.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _decode_quietly(data, name, max_pixels, max_side)


def _decode_quietly(data: bytes, name: str, max_pixels: int | None, max_side: int | None
                    ) -> np.ndarray:
    from PIL import ImageOps

    with _open(data, name) as im:
        _check_pixels(name, im.size, max_pixels)
        fmt = im.format
        try:
            if max_side and fmt in ("JPEG", "MPO"):
                # JPEG can decode straight to 1/2, 1/4 or 1/8 scale: far faster for huge photos.
                im.draft("RGB", (max_side, max_side))
            im.load()
        except MemoryError:
            raise ImageTooLargeError(f"image {name} is too large to decode in the memory "
                                     "available") from None
        except Exception as exc:  # decoders raise many types; to the user all mean "corrupt"
            raise ImageError(f"cannot read image {name}: corrupt or truncated {fmt} "
                             f"file ({_first_line(exc)})") from None
        try:
            im = ImageOps.exif_transpose(im)
        except Exception:  # a broken EXIF block should not lose the pixels
            pass
        try:
            return _from_pil(im, name)
        except ImageError:
            raise
        except Exception as exc:  # an odd mode or a lazily decoded tile that fails late
            raise ImageError(f"cannot read image {name}: unsupported or corrupt {fmt} "
                             f"file ({_first_line(exc)})") from None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _from_pil(im, name: str) -> np.ndarray:
    if im.mode.startswith("I;16") or im.mode == "F":
        return _from_array(np.asarray(im), name)
    if im.mode == "I":
        array = np.asarray(im)
        # Pillow widens 16-bit files to 32-bit "I": scale as 16-bit whatever the values reach.
        if array.size and array.min() >= 0 and array.max() <= 65535:
            array = array.astype(np.uint16)
        return _from_array(array, name)
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("LA", "PA", "La", "RGBa"):
        im = im.convert("RGBA")
    if im.mode == "RGBA":
        return _from_array(np.asarray(im)[..., [2, 1, 0, 3]], name)
    if im.mode == "1":
        im = im.convert("L")
    if im.mode != "L":
        im = im.convert("RGB")
    array = np.asarray(im)
    if array.ndim == 2:
        return cv2.cvtColor(array, cv2.COLOR_GRAY2BGR)
    return np.ascontiguousarray(array[..., ::-1])


def _to_uint8(array: np.ndarray, name: str) -> np.ndarray:
    if array.dtype == np.uint8:
        return array
    if array.dtype == bool:
        return array.astype(np.uint8) * 255
    if np.issubdtype(array.dtype, np.floating):
        finite = array[np.isfinite(array)]
        top = float(finite.max()) if finite.size else 0.0
        # Floats in [0, 1] are the usual convention; larger values are taken as 0-255.
        scale = 255.0 if top <= 1.0 else 1.0
        return np.clip(np.nan_to_num(array) * scale + 0.5, 0, 255).astype(np.uint8)
    if np.issubdtype(array.dtype, np.integer):
        top = int(array.max()) if array.size else 0
        if array.dtype == np.uint16 or top > 255:
            if top > 65535:
                raise ImageError(f"cannot read image {name}: values up to {top} are beyond "
                                 "16 bits; scale it to uint8 first")
            # 65535 maps to 255 exactly; rounding keeps mid-grey at 128.
            return ((array.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
        return np.clip(array, 0, 255).astype(np.uint8)
    raise ImageError(f"cannot read image {name}: unsupported pixel type {array.dtype}")


def _from_array(array: np.ndarray, name: str) -> np.ndarray:
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ImageError(f"cannot read image {name}: expected (H, W), (H, W, 3) or (H, W, 4)")
    if array.shape[0] == 0 or array.shape[1] == 0:
        raise ImageError(f"cannot read image {name}: it has no pixels")
    array = _to_uint8(array, name)
    if array.ndim == 2:
        return cv2.cvtColor(array, cv2.COLOR_GRAY2BGR)
    if array.shape[2] == 4:
        return _drop_alpha(array)
    return np.ascontiguousarray(array)


def _drop_alpha(bgra: np.ndarray) -> np.ndarray:
    alpha = bgra[..., 3:].astype(np.float32) / 255
    if alpha.min() == 1.0 or alpha.max() == 0.0:
        # Opaque, or an alpha channel left at zero by a capture API: the colours are the image.
        return np.ascontiguousarray(bgra[..., :3])
    # Over white: what sits under a transparent pixel is arbitrary, white is predictable.
    blended = bgra[..., :3].astype(np.float32) * alpha + 255 * (1 - alpha)
    return (blended + 0.5).astype(np.uint8)
