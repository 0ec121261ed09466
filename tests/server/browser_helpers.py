"""Headless Chromium with a fake webcam filming the example photo, for the browser page's tests.

Also used by docs/browser_screenshot.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import cv2
import numpy as np

from ferkit.imageio import example_path


def chromium_path() -> str | None:
    """The system Chromium (Debian: `chromium`), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


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


@contextmanager
def chromium(camera: Path | None) -> Iterator:
    """A headless Chromium (a Playwright Browser) that grants camera access without asking;
    `camera` is a .y4m clip to use as the webcam, or None for a machine with no camera."""
    from playwright.sync_api import sync_playwright

    args = ["--use-fake-ui-for-media-stream"]
    if camera is not None:
        args += ["--use-fake-device-for-media-stream",
                 f"--use-file-for-fake-video-capture={camera}"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=args,
                                             headless=True)
        try:
            yield browser
        finally:
            browser.close()
