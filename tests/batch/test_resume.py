"""A real kill: `ferkit batch` is SIGKILLed after its first input is written; the rerun skips
what was finished, completes the rest, and the folder holds every input exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from batch_helpers import pan_frames, read_rows, write_video
from cli_helpers import run

VIDEOS, FRAMES = 5, 30

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(),
                                reason="finds the pool's processes through Linux's /proc")


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def test_kill_then_resume(tmp_path, capsys):
    inputs = tmp_path / "in"
    for k in range(VIDEOS):
        write_video(inputs / f"clip{k}.mp4", pan_frames(FRAMES))
    out = tmp_path / "out"
    argv = ["batch", str(inputs), "--out", str(out), "--workers", "1", "--chunk-frames", "0",
            "--no-progress"]
    workers: list[int] = []
    proc = subprocess.Popen([sys.executable, "-m", "ferkit.cli", *argv], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list((out / "faces").glob("*.parquet")):
            assert proc.poll() is None and time.monotonic() < deadline, "no input finished"
            time.sleep(0.02)
        workers = children(proc.pid)
        proc.kill()  # the driver only, as the OOM killer would: its pool must not linger
        proc.wait()
        finished = {p.name: p.stat().st_mtime_ns for p in (out / "faces").glob("*.parquet")}
        deadline = time.monotonic() + 15
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert workers and not any(alive(pid) for pid in workers)
    finally:
        if proc.poll() is None or workers:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # this test's own session only
            except ProcessLookupError:
                pass
    assert 1 <= len(finished) < VIDEOS
    assert not (out / "report.json").exists()  # a killed run writes nothing more

    code, _, err = run(capsys, *argv)
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert report["inputs"] == {"total": VIDEOS, "done": VIDEOS - len(finished),
                                "skipped": len(finished), "failed": 0}
    for name, mtime in finished.items():  # not recomputed
        assert (out / "faces" / name).stat().st_mtime_ns == mtime
    rows = read_rows(out).to_pylist()
    keys = [(r["input"], r["frame"], r["track_id"]) for r in rows]
    assert len(keys) == len(set(keys)) == VIDEOS * FRAMES  # one face per frame, none twice
    assert not [p for p in (out / "faces").iterdir() if p.name.startswith(".")]
