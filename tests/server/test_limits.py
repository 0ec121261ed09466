"""The server's shared budgets, log masking, upload-folder cleanup and host check, in-process."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time

import anyio
import pytest

pytest.importorskip("fastapi")

from ferkit.commands.serve import _is_loopback  # noqa: E402
from ferkit.server.limits import Busy, ByteBudget, PixelBudget  # noqa: E402
from ferkit.server.logs import RedactKeys, redact  # noqa: E402
from ferkit.server.uploads import make_upload_dir, remove_stale_upload_dirs  # noqa: E402


def test_pixel_budget_makes_images_wait_their_turn():
    order: list[str] = []

    async def main():
        budget = PixelBudget(100, wait_s=5)

        async def image(name: str, pixels: int, hold_s: float):
            async with budget.reserve(pixels):
                order.append(f"{name} in")
                await anyio.sleep(hold_s)
                order.append(f"{name} out")

        async with anyio.create_task_group() as tg:
            tg.start_soon(image, "big", 80, 0.3)
            await anyio.sleep(0.05)
            tg.start_soon(image, "second big", 80, 0)  # must wait for the first
            tg.start_soon(image, "small", 20, 0)  # fits beside the first
        assert budget.free == 100

    anyio.run(main)
    assert order.index("small in") < order.index("big out") < order.index("second big in")


def test_pixel_budget_gives_up_after_its_wait_and_refuses_the_impossible():
    async def main():
        budget = PixelBudget(100, wait_s=0.2)
        async with budget.reserve(100):
            with pytest.raises(Busy):
                async with budget.reserve(1):
                    pass
        assert budget.free == 100
        with pytest.raises(ValueError):
            async with budget.reserve(101):
                pass

    anyio.run(main)


def test_byte_budget_refuses_instead_of_waiting_and_releases():
    async def main():
        budget = ByteBudget(1000)
        async with budget.hold() as first:
            first.grow_to(600)
            first.grow_to(300)  # never shrinks mid-request
            async with budget.hold() as second:
                second.grow_to(400)
                with pytest.raises(Busy):
                    second.grow_to(401)
                assert budget.used == 1000
            assert budget.used == 600
        assert budget.used == 0

    anyio.run(main)


@pytest.mark.parametrize(("text", "masked"), [
    ("/v1/stream?api_key=abc", "/v1/stream?api_key=***"),
    ("/v1/stream?label_set=x&API_KEY=abc&detector=haar",
     "/v1/stream?label_set=x&API_KEY=***&detector=haar"),
    ("/v1/stream?my_api_key_hint=1", "/v1/stream?my_api_key_hint=1"),
])
def test_keys_in_urls_are_masked(text, masked):
    assert redact(text) == masked


def test_redact_filter_rewrites_uvicorns_arguments():
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1,
                               '%s - "WebSocket %s" [accepted]',
                               ("127.0.0.1:5", "/v1/stream?api_key=s3cret"), None)
    assert RedactKeys().filter(record)
    assert "s3cret" not in record.getMessage()


def test_stale_upload_folders_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = tmp_path / f"ferkit-videos-{dead.pid}-abc"
    (stale / "sub").mkdir(parents=True)
    (stale / "upload").write_bytes(b"x")
    live = tmp_path / f"ferkit-videos-{os.getppid()}-abc"  # our parent runs
    live.mkdir()
    reused = tmp_path / f"ferkit-videos-{os.getpid()}-old"  # our pid, from before we started
    reused.mkdir()
    old = time.time() - 3600
    os.utime(reused, (old, old))
    other = tmp_path / "ferkit-videos-notapid"
    other.mkdir()
    assert remove_stale_upload_dirs(tmp_path) == 2
    assert not stale.exists() and not reused.exists()
    assert live.exists() and other.exists()


def test_our_own_upload_folder_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    ours = make_upload_dir()
    assert ours.parent == tmp_path and ours.name.startswith(f"ferkit-videos-{os.getpid()}-")
    assert remove_stale_upload_dirs() == 0
    assert ours.exists()


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("localhost", True), ("::1", True), ("[::1]", True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.20", False),
])
def test_loopback_hosts(host, loopback):
    assert _is_loopback(host) == loopback
