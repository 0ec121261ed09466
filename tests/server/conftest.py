"""Fixtures: a real `ferkit serve` process on a free loopback port, and the example photo."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

from ferkit.imageio import example_path  # noqa: E402


@dataclass(frozen=True)
class Server:
    url: str
    process: subprocess.Popen


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(*options: str, env: dict[str, str] | None = None,
                 timeout_s: float = 30.0) -> Server:
    """`ferkit serve` in a subprocess; returns once /healthz answers."""
    port = free_port()
    full_env = {k: v for k, v in os.environ.items() if k != "FERKIT_API_KEY"}
    full_env.update(env or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "ferkit.cli", "serve", "--port", str(port),
         "--log-level", "warning", *options],
        env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode(errors="replace")
            pytest.fail(f"ferkit serve exited with {process.returncode}:\n{output}")
        try:
            if httpx.get(url + "/healthz", timeout=1.0).status_code == 200:
                return Server(url, process)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    stop_server(Server(url, process))
    pytest.fail(f"ferkit serve did not answer /healthz within {timeout_s} s")


def stop_server(server: Server) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()
    if server.process.stdout is not None:
        server.process.stdout.close()


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """An open server (no API key) with a 1 MB upload limit."""
    srv = start_server("--max-upload-mb", "1", "--max-concurrent", "2")
    yield srv
    stop_server(srv)


@pytest.fixture(scope="session")
def keyed_server() -> Iterator[Server]:
    """A server whose API key comes from $FERKIT_API_KEY."""
    srv = start_server(env={"FERKIT_API_KEY": "s3cret-key"})
    yield srv
    stop_server(srv)


@pytest.fixture(scope="session")
def photo_bytes() -> bytes:
    return example_path("astronaut").read_bytes()
