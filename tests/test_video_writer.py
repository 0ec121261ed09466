"""AtomicVideoWriter: H.264 that headless Chromium plays, odd frame sizes, the mp4v fallback."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pytest

from ferkit import video_writer
from ferkit.errors import FerkitError
from ferkit.video import iter_frames, probe_video
from ferkit.video_writer import AtomicVideoWriter

av = pytest.importorskip("av", reason="H.264 output needs PyAV (the video extra)")

_spec = importlib.util.spec_from_file_location(
    "browser_helpers", Path(__file__).parent / "server" / "browser_helpers.py")
browser_helpers = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(browser_helpers)


def moving_square(k: int, size_wh=(96, 64)) -> np.ndarray:
    frame = np.full((size_wh[1], size_wh[0], 3), 40, np.uint8)
    frame[10:30, 5 + 4 * k: 25 + 4 * k] = (0, 200, 255)
    return frame


def write_clip(path: Path, frames: int = 12, size_wh=(96, 64), codec: str | None = None) -> Path:
    with AtomicVideoWriter(path, fps=10, codec=codec) as writer:
        for k in range(frames):
            writer.write(moving_square(k, size_wh))
    return path


def test_h264_by_default(tmp_path):
    path = write_clip(tmp_path / "clip.mp4")
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert stream.codec_context.name == "h264"
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.width, stream.height) == (96, 64)
        decoded = [f.to_ndarray(format="bgr24") for f in container.decode(stream)]
    assert len(decoded) == 12
    # H.264 is lossy: the square is still where it was drawn.
    assert abs(int(decoded[5][20, 35, 2]) - 255) < 40 and decoded[5][50, 80, 2] < 80
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


def test_odd_sizes_are_padded_to_even(tmp_path):
    path = write_clip(tmp_path / "odd.mp4", size_wh=(97, 63))
    assert probe_video(path).size_wh == (98, 64)
    assert len(list(iter_frames(path))) == 12


def test_mp4v_fallback_says_so(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(video_writer, "h264_available", lambda: False)
    path = write_clip(tmp_path / "old.mp4")
    err = capsys.readouterr().err
    assert "mp4v" in err and "ferkit[video]" in err and err.count("\n") == 1
    assert len(list(iter_frames(path))) == 12
    with pytest.raises(FerkitError, match="needs PyAV"):
        AtomicVideoWriter(tmp_path / "x.mp4", fps=10, codec="h264")


PLAY = """async (name) => {
  const video = document.createElement("video");
  video.muted = true;
  document.body.appendChild(video);
  const outcome = new Promise(resolve => {
    video.onerror = () => resolve({error: video.error ? video.error.code : -1});
    video.onended = () => resolve({ended: true, width: video.videoWidth,
                                   height: video.videoHeight, duration: video.duration});
  });
  video.src = name;
  try { await video.play(); } catch (e) { return {error: String(e)}; }
  return await outcome;
}"""


@pytest.mark.skipif(browser_helpers.chromium_path() is None,
                    reason="no chromium on PATH (Debian: apt-get install chromium)")
def test_headless_chromium_plays_the_h264_file_and_not_mp4v(tmp_path):
    pytest.importorskip("playwright", reason="the browser test needs playwright (dev extra)")
    write_clip(tmp_path / "h264.mp4", frames=20)
    write_clip(tmp_path / "mp4v.mp4", frames=20, codec="mp4v")
    (tmp_path / "page.html").write_text("<!doctype html><body></body>")
    with browser_helpers.chromium(None) as browser:
        page = browser.new_page()
        page.goto((tmp_path / "page.html").as_uri())
        played = page.evaluate(PLAY, "h264.mp4")
        refused = page.evaluate(PLAY, "mp4v.mp4")
    assert played == {"ended": True, "width": 96, "height": 64, "duration": pytest.approx(2.0)}
    # MEDIA_ERR_SRC_NOT_SUPPORTED (4), or play() rejected: why mp4v is only the fallback.
    assert "error" in refused


def test_a_folder_that_cannot_be_written_leaves_nothing(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("a file where a folder should be")
    with pytest.raises(FerkitError, match="cannot write"):  # at once, before any frame
        AtomicVideoWriter(blocked / "out.mp4", fps=10).write(moving_square(0))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_an_earlier_file_survives_until_close_and_an_abort_keeps_it(tmp_path):
    path = tmp_path / "take.mp4"
    path.write_bytes(b"the earlier take")
    writer = AtomicVideoWriter(path, fps=10)
    writer.close()  # no frame came: nothing is written
    assert path.read_bytes() == b"the earlier take"
    writer = AtomicVideoWriter(path, fps=10)
    writer.write(moving_square(0))
    hidden = [p.name for p in tmp_path.iterdir() if p.name != "take.mp4"]
    assert len(hidden) == 1 and hidden[0].startswith(".take.mp4.") and \
        hidden[0].endswith(".tmp.mp4")  # OpenCV picks the container by this suffix
    writer.abort()
    assert path.read_bytes() == b"the earlier take"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take.mp4"]


@pytest.mark.parametrize("codec", ["h264", "mp4v"])
def test_the_finished_file_has_the_usual_permissions(tmp_path, codec):
    # The temporary file is private (mkstemp); the finished one reads like any other file.
    umask = os.umask(0o022)
    os.umask(umask)
    path = write_clip(tmp_path / "clip.mp4", frames=3, codec=codec)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask
