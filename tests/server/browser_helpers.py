"""Headless Chromium from the system's chromium, with a fake webcam, for the browser page's tests.

Also used by docs/browser_screenshot.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def chromium_path() -> str | None:
    """The system Chromium (Debian: `chromium`), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


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
