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


# -- hostile input: only the documented formats, header checked before decoding ---------------
def png_chunk(kind: bytes, body: bytes) -> bytes:
    import struct
    import zlib

    return struct.pack(">I", len(body)) + kind + body + struct.pack(
        ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header announces width x height 8-bit gray pixels (data: a few rows)."""
    import struct
    import zlib

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    rows = zlib.compress(b"\x00" * (min(width, 64) + 1) * 2)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header) + png_chunk(b"IDAT", rows)
            + png_chunk(b"IEND", b""))


def test_huge_declared_size_is_refused_from_the_header():
    from ferkit.errors import ImageTooLargeError

    data = png_declaring(100_000, 100_000)
    assert len(data) < 120
    with pytest.raises(ImageTooLargeError, match="100000x100000|too large"):
        load_image(data)
    with pytest.raises(ImageTooLargeError, match="60x50"):
        load_image(png_declaring(60, 50), max_pixels=1000)


def test_probe_reads_the_header_only():
    from ferkit.imageio import probe_image

    header = probe_image(png_declaring(40_000, 2_000))  # 80 MP: decoding would take 80 MB
    assert (header.width, header.height, header.format, header.pixels) == (
        40_000, 2_000, "PNG", 80_000_000)
    with pytest.raises(ImageError, match="not an image file"):
        probe_image(b"%!PS-Adobe-3.0 EPSF-3.0\n")


@pytest.mark.parametrize("name, data", [
    # Pillow would hand this to Ghostscript, whose endless loop never returns.
    ("loop.eps", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n{ } loop\n"),
    ("loop.ps", b"%!PS\n{ } loop\n"),
    # OpenCV reads these, without a size check before allocating, and raises its own errors.
    ("tiny.pfm", b"PF\n4 4\n-1.0\n" + b"\x00" * 40),
    ("huge.hdr", b"#?RADIANCE\nFORMAT=32-bit_rle_rgbe\n\n-Y 30000 +X 30000\n" + b"\x02" * 64),
    ("image.ppm", b"P6\n2 2\n255\n" + b"\x80" * 12),
])
def test_formats_ferkit_does_not_document_are_refused(tmp_path, capfd, name, data):
    with pytest.raises(ImageError, match="a format ferkit does not read") as info:
        load_image(write(tmp_path, name, data))
    assert name in str(info.value) and "\n" not in str(info.value)
    assert str(info.value).endswith("(it reads JPEG, PNG, WebP, BMP, TIFF, GIF)")
    assert capfd.readouterr() == ("", "")  # no external program wrote anything


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF", "GIF"])
def test_documented_formats_decode(fmt):
    rgb = np.zeros((8, 10, 3), np.uint8)
    rgb[..., 1] = 200
    image = load_image(pil_bytes(Image.fromarray(rgb), fmt))
    assert image.shape == (8, 10, 3) and 150 < image[4, 5, 1]


def test_first_frame_of_an_animated_gif():
    frames = [Image.new("RGB", (4, 4), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    data = pil_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert tuple(load_image(data)[0, 0]) == RED_BGR


def test_only_regular_files_are_read(tmp_path):
    import os
    import time

    with pytest.raises(ImageError, match="not a regular file"):
        load_image("/dev/zero")
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    started = time.monotonic()
    with pytest.raises(ImageError, match="not a regular file"):
        load_image(fifo)  # no writer: a plain open() would block forever
    assert time.monotonic() - started < 5


def test_file_size_limit(tmp_path):
    from ferkit.errors import ImageTooLargeError

    path = write(tmp_path, "big.png", png_bytes(np.zeros((64, 64), np.uint8)) + b"\x00" * 5000)
    with pytest.raises(ImageTooLargeError, match="limit for one image file"):
        load_image(path, max_bytes=4000)
    assert load_image(path).shape == (64, 64, 3)  # trailing bytes after IEND are harmless


def test_corrupt_data_after_a_good_header(tmp_path):
    photo = pil_bytes(Image.fromarray(np.full((64, 64, 3), 90, np.uint8)), "WEBP")
    with pytest.raises(ImageError, match="corrupt or truncated"):
        load_image(photo[:40] + b"\xff" * 200)


def test_damaged_exif_gives_the_pixels_and_no_warning(recwarn):
    import struct

    jpeg = pil_bytes(Image.fromarray(np.full((8, 8, 3), 90, np.uint8)), "JPEG")
    # An EXIF block whose Make tag points past the end of the file, and orientation 6.
    tiff = (b"II*\x00\x08\x00\x00\x00\x02\x00" + struct.pack("<HHII", 0x010F, 2, 1000, 100)
            + struct.pack("<HHII", 0x0112, 3, 1, 6) + b"\x00" * 4)
    app1 = b"Exif\x00\x00" + tiff
    data = jpeg[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + jpeg[2:]
    assert load_image(data).shape == (8, 8, 3)
    assert [str(w.message) for w in recwarn] == []
