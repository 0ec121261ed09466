"""ferkit.video.io: frame readers and their errors, prefetching, the atomic video writer."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from video_helpers import write_video

from ferkit.errors import FerkitError, ImageError
from ferkit.video.io import (
    describe_source,
    iter_frames,
    prefetch,
    probe_video,
)
from ferkit.video_writer import AtomicVideoWriter


# -- frame streams -----------------------------------------------------------------------------
def test_iter_frames_every_nth_with_times(tmp_path):
    path = write_video(tmp_path / "v.avi", frames=10, fps=10)
    got = list(iter_frames(path, every=3))
    assert [i for i, _, _ in got] == [0, 3, 6, 9]
    assert [t for _, t, _ in got] == pytest.approx([0.0, 0.3, 0.6, 0.9])
    for index, _, frame in got:
        assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
        assert abs(int(frame.mean()) - 20 * index) <= 3  # the right frame, not a neighbour
    info = probe_video(path)
    assert (info.fps, info.frame_count, info.size_wh, info.is_camera) == (10, 10, (64, 48), False)


def test_iter_frames_max_frames_and_early_close(tmp_path):
    path = write_video(tmp_path / "v.avi", frames=10)
    assert [i for i, _, _ in iter_frames(path, 2, max_frames=3)] == [0, 2, 4]
    stream = iter_frames(path)
    next(stream)
    stream.close()  # a consumer that stops early releases the capture without an error


def test_prefetch_yields_everything_in_order_then_the_error():
    def items():
        yield from range(5)
        raise ImageError("bad tail")

    got = []
    with pytest.raises(ImageError, match="bad tail"):
        for item in prefetch(items(), depth=2):
            got.append(item)
    assert got == [0, 1, 2, 3, 4]
    assert list(prefetch([])) == []


def test_prefetch_runs_ahead_in_another_thread_and_closing_stops_it():

    produced, closed = [], threading.Event()

    def items():
        try:
            for i in range(1000):
                produced.append(threading.current_thread().name)
                yield i
        finally:
            closed.set()

    stream = prefetch(items(), depth=2)
    assert next(stream) == 0
    assert closed.wait(0) is False
    stream.close()
    assert closed.wait(5)  # the source generator was closed, by the producer thread
    assert set(produced) == {"ferkit-prefetch"} and len(produced) < 10


def test_prefetched_video_frames_are_the_same_frames(tmp_path):
    path = write_video(tmp_path / "v.avi", frames=12)
    plain = list(iter_frames(path, 2))
    ahead = list(prefetch(iter_frames(path, 2)))
    assert [i for i, _, _ in ahead] == [i for i, _, _ in plain] == [0, 2, 4, 6, 8, 10]
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(ahead, plain, strict=True))


def _truncated(tmp_path: Path) -> Path:
    full = write_video(tmp_path / "full.avi", frames=30, size_wh=(160, 120))
    data = full.read_bytes()
    path = tmp_path / "truncated.avi"
    path.write_bytes(data[: len(data) // 2])
    return path


def _truncated_mp4(tmp_path: Path) -> Path:
    full = write_video(tmp_path / "full.mp4", frames=30, size_wh=(160, 120), fourcc="mp4v")
    path = tmp_path / "truncated.mp4"
    path.write_bytes(full.read_bytes()[:2000])
    return path


BAD_VIDEOS = {
    "missing": (lambda t: t / "missing.mp4", "no such file"),
    "empty": (lambda t: (t / "empty.mp4", (t / "empty.mp4").write_bytes(b""))[0],
              "the file is empty"),
    "text": (lambda t: (t / "notes.mp4", (t / "notes.mp4").write_text("hello\n"))[0],
             "not a video"),
    "folder": (lambda t: t, "it is a folder"),
    "truncated mp4": (_truncated_mp4, "truncated"),
    "truncated avi": (_truncated, "truncated"),
}


@pytest.mark.parametrize("case", list(BAD_VIDEOS))
def test_bad_video_files_raise_image_error_naming_the_file(tmp_path, case):
    make, message = BAD_VIDEOS[case]
    path = make(tmp_path)
    with pytest.raises(ImageError, match=message) as info:
        for _ in iter_frames(path):
            pass
    text = str(info.value)
    assert str(path.name) in text and "\n" not in text


@pytest.mark.skipif(sys.platform != "linux", reason="file names of any bytes: Linux only")
def test_a_video_name_that_is_not_utf8_is_an_error_not_a_crash(tmp_path):
    # OpenCV's FFmpeg reader crashed the process (SIGSEGV) on such a name: ask in a child.
    import os
    import subprocess

    raw = os.fsencode(tmp_path) + b"/clip\xff.mp4"
    os.rename(write_video(tmp_path / "clip.avi", frames=3), raw)
    child = subprocess.run(
        [sys.executable, "-c", "import os, sys; from ferkit.video.io import probe_video; "
         f"probe_video(os.fsdecode({raw!r}))"], capture_output=True, text=True, timeout=60)
    assert child.returncode == 1 and "ImageError" in child.stderr
    assert "file name is not valid UTF-8; rename it" in child.stderr


def test_missing_camera():
    with pytest.raises(ImageError, match=r"^no camera at index 99 \(is one connected"):
        list(iter_frames(99))
    with pytest.raises(ImageError, match="no camera at index 98"):
        probe_video("98")


def test_describe_source(tmp_path):
    assert describe_source(0) == (0, "camera 0", True)
    assert describe_source("2") == (2, "camera 2", True)
    clip = tmp_path / "clip.mp4"
    assert describe_source(clip) == (str(clip), str(clip), False)


def test_every_must_be_positive(tmp_path):
    with pytest.raises(FerkitError, match="every"):
        next(iter_frames(write_video(tmp_path / "v.avi"), every=0))


# -- writing -----------------------------------------------------------------------------------
def test_atomic_video_writer(tmp_path):
    out = tmp_path / "out" / "clip.mp4"
    with AtomicVideoWriter(out, fps=5) as writer:
        for k in range(6):
            writer.write(np.full((48, 64, 3), 30 * k, np.uint8))
    assert sorted(p.name for p in out.parent.iterdir()) == ["clip.mp4"]
    info = probe_video(out)
    assert info.size_wh == (64, 48)
    assert len(list(iter_frames(out))) == 6


def test_atomic_video_writer_aborts_and_protects(tmp_path):
    out = tmp_path / "clip.mp4"
    with pytest.raises(RuntimeError), AtomicVideoWriter(out, fps=5) as writer:
        writer.write(np.zeros((48, 64, 3), np.uint8))
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []
    source = write_video(tmp_path / "in.avi")
    before = source.read_bytes()
    with pytest.raises(FerkitError, match="refusing to overwrite"):
        AtomicVideoWriter(source, fps=5, protect=[source])
    assert source.read_bytes() == before
