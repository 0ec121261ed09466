"""Media for the server tests: clips of the example photo (one face), PNG and JPEG bombs."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import cv2
import numpy as np

from ferkit.imageio import example_path


def write_video(path: Path, frames: int = 10, fourcc: str = "mp4v", size: int = 320) -> Path:
    """A video of the astronaut photo (one face) drifting right a few pixels per frame."""
    face = cv2.resize(cv2.imread(str(example_path("astronaut"))), (size, size))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), 10.0,
                             (size + 40, size))
    assert writer.isOpened()
    for i in range(frames):
        frame = np.full((size, size + 40, 3), 90, np.uint8)
        shift = 2 * (i % 20)
        frame[:, shift:shift + size] = face
        writer.write(frame)
    writer.release()
    return path


def write_y4m(path: Path, frames: int = 20, size_wh: tuple[int, int] = (640, 480),
              fps: int = 10) -> Path:
    """A Y4M clip (what Chromium's fake camera plays, looping) of the astronaut photo, one face,
    swaying a few pixels so consecutive frames differ."""
    width, height = size_wh
    side = height * 5 // 6
    face = cv2.resize(cv2.imread(str(example_path("astronaut"))), (side, side))
    with open(path, "wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F{fps}:1 Ip A1:1 C420jpeg\n".encode())
        for i in range(frames):
            frame = np.full((height, width, 3), (70, 60, 50), np.uint8)
            x = (width - side) // 2 + round(12 * np.sin(2 * np.pi * i / frames))
            y = (height - side) // 2
            frame[y:y + side, x:x + side] = face
            out.write(b"FRAME\n")
            # I420: the full-size Y plane, then U and V at half size, as C420 expects.
            out.write(cv2.cvtColor(frame, cv2.COLOR_BGR2YUV_I420).tobytes())
    return path


def png_header(width: int, height: int) -> bytes:
    """A tiny PNG that claims `width` x `height` pixels: a decompression bomb's shape."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
            + chunk(b"IDAT", zlib.compress(b"\0" * 1000)) + chunk(b"IEND", b""))


def png_bomb(width: int, height: int, rgb: bool = True) -> bytes:
    """A complete, valid PNG of `width` x `height` black pixels: a few kilobytes that decode to
    width * height * 3 bytes. Compressed row by row, so making it costs no memory."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2 if rgb else 0, 0, 0, 0)
    row = b"\0" * (1 + width * (3 if rgb else 1))  # filter byte "none", then the pixels
    packer = zlib.compressobj(9)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat)
            + chunk(b"IEND", b""))


def jpeg_bomb(width: int, height: int) -> bytes:
    """A valid grey JPEG of `width` x `height` pixels: small on disk, large decoded."""
    ok, data = cv2.imencode(".jpg", np.full((height, width), 128, np.uint8),
                            [cv2.IMWRITE_JPEG_QUALITY, 10])
    assert ok
    return data.tobytes()
