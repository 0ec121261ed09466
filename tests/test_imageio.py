"""load_image on files and arrays the tests make: depths, channels, EXIF, and broken input."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image

from ferkit.errors import ImageError
from ferkit.imageio import example_path, load_image

RED_BGR = (0, 0, 255)


def png_bytes(array: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".png", array)
    assert ok
    return buf.tobytes()


def pil_bytes(image: Image.Image, fmt: str, **kwargs) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **kwargs)
    return out.getvalue()


def write(tmp_path, name: str, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_rgb_png_comes_back_bgr(tmp_path):
    rgb = np.zeros((6, 8, 3), np.uint8)
    rgb[..., 0] = 255
    path = write(tmp_path, "red.png", pil_bytes(Image.fromarray(rgb), "PNG"))
    image = load_image(path)
    assert image.shape == (6, 8, 3) and image.dtype == np.uint8
    assert tuple(image[0, 0]) == RED_BGR
    assert np.array_equal(load_image(str(path)), image)


def test_16bit_gray_png_scaled_to_8bit(tmp_path):
    gray16 = np.array([[0, 257 * 100, 65535]], np.uint16)
    image = load_image(write(tmp_path, "g16.png", png_bytes(gray16)))
    assert image.shape == (1, 3, 3)
    assert image[0, :, 0].tolist() == [0, 100, 255]


def test_16bit_colour_png(tmp_path):
    bgr16 = np.zeros((2, 2, 3), np.uint16)
    bgr16[..., 2] = 65535
    image = load_image(write(tmp_path, "c16.png", png_bytes(bgr16)))
    assert tuple(image[0, 0]) == RED_BGR


def test_rgba_png_composited_over_white(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)
    rgba[0, 0] = (255, 0, 0, 255)      # opaque red
    rgba[0, 1] = (255, 0, 0, 0)        # fully transparent
    rgba[1, :] = (0, 0, 0, 128)        # half-transparent black
    image = load_image(write(tmp_path, "a.png", pil_bytes(Image.fromarray(rgba, "RGBA"), "PNG")))
    assert tuple(image[0, 0]) == RED_BGR
    assert tuple(image[0, 1]) == (255, 255, 255)
    assert 120 <= image[1, 0, 0] <= 135


def test_gray_and_palette_images(tmp_path):
    gray = Image.fromarray(np.full((3, 4), 77, np.uint8), "L")
    assert load_image(pil_bytes(gray, "PNG"))[..., 1].tolist() == [[77] * 4] * 3
    palette = Image.fromarray(np.full((3, 4, 3), (0, 255, 0), np.uint8)).convert("P")
    image = load_image(write(tmp_path, "p.gif", pil_bytes(palette, "GIF")))
    assert tuple(image[1, 1]) == (0, 255, 0)
    transparent = Image.new("P", (2, 2), 0)
    transparent.putpalette([10, 20, 30] * 256)
    transparent.putpixel((1, 1), 1)  # one opaque pixel: a wholly clear image keeps its colours
    assert tuple(load_image(pil_bytes(transparent, "PNG", transparency=0))[0, 0]) == (255,) * 3


def test_exif_orientation_is_applied(tmp_path):
    # Stored landscape, 20 wide x 10 high, left half red; orientation 6 = rotate 90 clockwise.
    rgb = np.zeros((10, 20, 3), np.uint8)
    rgb[:, :10] = (255, 0, 0)
    exif = Image.Exif()
    exif[0x0112] = 6
    data = pil_bytes(Image.fromarray(rgb), "JPEG", exif=exif, quality=95)
    image = load_image(write(tmp_path, "rot.jpg", data))
    assert image.shape[:2] == (20, 10)
    # After a clockwise quarter turn the stored left half is on top.
    assert image[2, 5, 2] > 200 and image[17, 5, 2] < 60


@pytest.mark.parametrize("name, data, message", [
    ("empty.jpg", b"", "empty"),
    ("notes.txt", b"just some text, not pixels\n", "not an image"),
    ("noise.png", bytes(range(256)) * 4, "not an image"),
])
def test_unreadable_files(tmp_path, name, data, message):
    path = write(tmp_path, name, data)
    with pytest.raises(ImageError, match=message) as info:
        load_image(path)
    assert name in str(info.value) and "\n" not in str(info.value)


def test_truncated_files_are_corrupt(tmp_path):
    photo = pil_bytes(Image.fromarray(np.full((64, 64, 3), 90, np.uint8)), "JPEG")
    for name, data in [("cut.jpg", photo[: len(photo) // 2]),
                       ("cut.png", png_bytes(np.full((64, 64), 9, np.uint8))[:60])]:
        with pytest.raises(ImageError, match="corrupt or truncated") as info:
            load_image(write(tmp_path, name, data))
        assert name in str(info.value)


def test_missing_path_and_directory(tmp_path):
    with pytest.raises(ImageError, match="no such file"):
        load_image(tmp_path / "absent.jpg")
    with pytest.raises(ImageError, match="directory"):
        load_image(tmp_path)


def test_pixel_limit_and_downscale(tmp_path):
    data = png_bytes(np.zeros((40, 50, 3), np.uint8))
    with pytest.raises(ImageError, match="50x40"):
        load_image(data, max_pixels=1000)
    with pytest.raises(ImageError, match="MP limit"):
        load_image(np.zeros((40, 50), np.uint8), max_pixels=1000)
    assert load_image(data, max_pixels=None, max_side=25).shape == (20, 25, 3)


def test_jpeg_draft_downscale():
    data = pil_bytes(Image.fromarray(np.full((800, 1200, 3), 128, np.uint8)), "JPEG")
    assert load_image(data, max_side=300).shape == (200, 300, 3)


@pytest.mark.parametrize("array, expected", [
    (np.full((2, 3), 200, np.uint8), (200, 200, 200)),
    (np.full((2, 3, 1), 200, np.uint8), (200, 200, 200)),
    (np.full((2, 3), 65535, np.uint16), (255, 255, 255)),
    (np.full((2, 3, 3), 0.5, np.float32), (128, 128, 128)),
    (np.full((2, 3), 200.0), (200, 200, 200)),
    (np.ones((2, 3), bool), (255, 255, 255)),
    (np.dstack([np.zeros((2, 3, 2), np.uint8), np.full((2, 3, 2), 255, np.uint8)]),
     (0, 0, 255)),  # BGRA, opaque red
])
def test_arrays(array, expected):
    image = load_image(array)
    assert image.shape == (2, 3, 3) and image.dtype == np.uint8
    assert tuple(image[1, 2]) == expected


def test_bgr_array_is_not_copied_or_modified():
    array = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    before = array.copy()
    assert load_image(array) is array
    assert np.array_equal(array, before)


def test_bgra_with_all_zero_alpha_keeps_colours():
    bgra = np.zeros((2, 2, 4), np.uint8)
    bgra[..., 1] = 200
    assert tuple(load_image(bgra)[0, 0]) == (0, 200, 0)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((2, 3, 2), np.uint8), "expected"),
    (np.zeros((0, 3), np.uint8), "no pixels"),
    (np.zeros(5, np.uint8), "expected"),
    (np.full((2, 2), 70000, np.int32), "16 bits"),
    (12345, "pass a path"),
])
def test_bad_arrays(bad, message):
    with pytest.raises(ImageError, match=message):
        load_image(bad)


def test_example_photos_ship_with_the_package():
    for name in ("astronaut", "camera"):
        assert load_image(example_path(name)).shape == (512, 512, 3)
    with pytest.raises(ImageError, match="astronaut"):
        example_path("nobody")
