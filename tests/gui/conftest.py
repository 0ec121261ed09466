"""GUI test fixtures: a tiny real ONNX model and an Xvfb display (the video: tests/conftest.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest


@pytest.fixture(scope="session")
def tiny_model(tiny_onnx_model):
    """The shared tiny exported fernet_xs (tests/conftest.py)."""
    return tiny_onnx_model


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
