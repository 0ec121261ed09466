"""GUI test fixtures: a tiny real ONNX model, a short video file, and an Xvfb display."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import cv2
import numpy as np
import pytest

from ferkit.imageio import example_path, load_image


@pytest.fixture(scope="session")
def tiny_model(tiny_onnx_model):
    """The shared tiny exported fernet_xs (tests/conftest.py)."""
    return tiny_onnx_model


@pytest.fixture(scope="session")
def astronaut_small() -> np.ndarray:
    """The shipped example photo at 256x256, so detection stays fast on a busy CPU."""
    return cv2.resize(load_image(example_path()), (256, 256), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="session")
def video_file(tmp_path_factory, astronaut_small) -> tuple:
    """A 12-frame, 10 fps mp4 of the astronaut drifting right by 2 px per frame."""
    path = tmp_path_factory.mktemp("gui-video") / "drift.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (256, 256))
    if not writer.isOpened():
        pytest.skip("OpenCV cannot write mp4v video here")
    for i in range(12):
        writer.write(np.roll(astronaut_small, 2 * i, axis=1))
    writer.release()
    return path, 12


@pytest.fixture(scope="session")
def xvfb():
    """An X display served by a private Xvfb, e.g. ":5"; skips when Xvfb or tkinter is missing."""
    pytest.importorskip("tkinter", reason="this Python has no tkinter (Debian: python3-tk; "
                        "pyenv: install tk-dev, then rebuild Python)")
    binary = shutil.which("Xvfb")
    if binary is None:
        pytest.skip("Xvfb is not installed (Debian: apt-get install xvfb)")
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen([binary, "-displayfd", str(write_fd), "-screen", "0", "1400x900x24",
                             "-nolisten", "tcp"], pass_fds=(write_fd,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    number = b""
    deadline = time.monotonic() + 20
    with os.fdopen(read_fd, "rb") as pipe:
        while not number.endswith(b"\n") and time.monotonic() < deadline:
            chunk = pipe.read(1)
            if not chunk:
                break
            number += chunk
    if not number.strip().isdigit():
        proc.kill()
        pytest.skip("Xvfb did not start")
    yield f":{number.decode().strip()}"
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
