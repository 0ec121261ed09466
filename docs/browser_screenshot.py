"""Writes docs/browser.png: `python docs/browser_screenshot.py docs/browser.png` (chromium)."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

# The fake webcam and the Chromium launcher are the browser test's own.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "server"))
from browser_helpers import chromium  # noqa: E402
from clips import write_video, write_y4m  # noqa: E402

from ferkit.imageio import example_path  # noqa: E402


def main(out: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "ferkit.cli", "serve", "--port", str(port),
                               "--log-level", "warning"])
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/healthz", timeout=1.0).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        with tempfile.TemporaryDirectory() as tmp, \
                chromium(write_y4m(Path(tmp) / "face.y4m")) as browser:
            page = browser.new_page(viewport={"width": 1280, "height": 860})
            page.goto(url + "/")
            page.click("#camera-start")
            page.set_input_files("#photo-file", str(example_path("astronaut")))
            page.wait_for_selector("#photo-faces .face .label", timeout=120_000)
            page.set_input_files("#video-file", str(write_video(Path(tmp) / "clip.mp4")))
            page.wait_for_selector("#video-tracks .track", timeout=120_000)
            # A few answers in, so the status line shows a settled frame rate.
            page.wait_for_function("Number(document.body.dataset.liveFrames) >= 5",
                                   timeout=120_000)
            page.screenshot(path=out, full_page=True)
            print(page.text_content("#live-status"), "|", page.text_content("#photo-status"))
    finally:
        server.terminate()
        server.wait(10)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "docs/browser.png")
