"""AtomicVideoWriter: annotated frames into an H.264 MP4 that browsers play, written atomically."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from ferkit.errors import FerkitError
from ferkit.outputs import AtomicFile, check_outputs

#: The containers both encoders write (H.264 and mp4v alike); WebM takes neither codec.
VIDEO_OUT_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".avi")
#: Those whose index `+faststart` moves to the front, so that browsers start playing at once.
_FASTSTART_SUFFIXES = {".mp4", ".m4v", ".mov"}

#: What to install for H.264 output (PyAV's wheels carry FFmpeg with libx264).
H264_EXTRA = "pip install 'ferkit[video]'"


def h264_available() -> bool:
    """True when PyAV (the `video` extra) is installed, so videos are written as H.264."""
    try:
        import av  # noqa: F401
    except ImportError:
        return False
    return True


class AtomicVideoWriter:
    """Frames into a hidden temporary file beside `path` (an outputs.AtomicFile, made with the
    first frame), renamed onto `path` on close.

    H.264 (yuv420p, `+faststart`) through PyAV when the `video` extra is installed, so the file
    plays in browsers; otherwise OpenCV's MPEG-4 Part 2 (`mp4v`), which most players but no
    browser accept, with a one-line note on stderr saying so. `codec` forces "h264" or "mp4v".
    Refuses to write over any of `protect`; `abort()` removes the temporary file. The frame
    size is taken from the first frame; later frames of another size are resized to it.
    """

    def __init__(self, path: str | os.PathLike, fps: float, *, protect: Sequence[Path] = (),
                 codec: str | None = None) -> None:
        self.path, self._protect = Path(path), list(protect)
        check_outputs([self.path], inputs=self._protect, overwrite=True)
        if self.path.suffix.lower() not in VIDEO_OUT_SUFFIXES:
            raise FerkitError(f"{self.path}: a video is written as "
                              f"{', '.join(VIDEO_OUT_SUFFIXES)}; give one of those endings")
        if codec is None:
            codec = "h264" if h264_available() else "mp4v"
        elif codec == "h264" and not h264_available():
            raise FerkitError(f"H.264 output needs PyAV: {H264_EXTRA}")
        if codec not in ("h264", "mp4v"):
            raise FerkitError(f"unknown video codec {codec!r}; use 'h264' or 'mp4v'")
        self.codec = codec
        self.fps = fps if fps > 0 else 25.0
        self._file: AtomicFile | None = None  # made with the first frame
        self._sink: _PyAVSink | _OpenCVSink | None = None
        self._size: tuple[int, int] | None = None
        self.frames = 0

    def write(self, frame_bgr: np.ndarray) -> None:
        try:
            if self._sink is None:
                self._open(frame_bgr.shape[1], frame_bgr.shape[0])
            if frame_bgr.shape[1::-1] != self._size:
                frame_bgr = cv2.resize(frame_bgr, self._size, interpolation=cv2.INTER_AREA)
            self._sink.write(frame_bgr)
        except FerkitError:
            self.abort()  # no half-written temporary file is left behind
            raise
        self.frames += 1

    def close(self) -> None:
        """Finish the file and move it into place (nothing is written if no frame came)."""
        if self._sink is None:
            return
        sink, self._sink = self._sink, None
        try:
            sink.close()
        except (OSError, FerkitError) as exc:
            self._file.abort()
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
            raise FerkitError(f"{self.path}: cannot write ({reason})") from None
        self._file.commit()

    def abort(self) -> None:
        """Drop what was written so far; `path` is left as it was."""
        if self._sink is not None:
            sink, self._sink = self._sink, None
            try:
                sink.close()
            except Exception:  # noqa: BLE001 - the file is being thrown away anyway
                pass
        if self._file is not None:
            self._file.abort()

    def __enter__(self) -> AtomicVideoWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None or exc_type is KeyboardInterrupt:
            self.close()  # an interrupted recording is kept, up to the last frame
        else:
            self.abort()

    def _open(self, width: int, height: int) -> None:
        # keep_suffix: OpenCV picks the container by the temporary file's suffix
        self._file = AtomicFile(self.path, protect=self._protect, keep_suffix=True)
        self._size = (width, height)
        if self.codec == "h264":
            self._sink = _PyAVSink(self._file.tmp, self.path, self.fps, width, height)
        else:
            print(f"ferkit: note: writing {self.path} as MPEG-4 Part 2 (mp4v), which browsers "
                  f"do not play; for H.264: {H264_EXTRA}", file=sys.stderr)
            self._sink = _OpenCVSink(self._file.tmp, self.path, self.fps, width, height)


class _PyAVSink:
    """H.264 through PyAV's own FFmpeg (libx264); odd sizes are padded to even (yuv420p)."""

    def __init__(self, path: Path, name: Path, fps: float, width: int, height: int) -> None:
        """Write to `path`; errors name `name`, the file the user asked for."""
        import av

        self._pad = (height % 2, width % 2)
        options = {"movflags": "+faststart"} if name.suffix.lower() in _FASTSTART_SUFFIXES else {}
        try:
            self._container = av.open(str(path), "w", options=options)
        except Exception as exc:  # noqa: BLE001 - FFmpeg raises its own error types
            raise FerkitError(f"{name}: cannot write an H.264 video there ({exc})") from None
        try:
            # ultrafast: ~160 frames/s at 640x480 on a busy 2-core CPU (veryfast: ~30, slower
            # than ferkit's analysis), files about mp4v's size; every browser plays it.
            stream = self._container.add_stream(
                "libx264", rate=Fraction(fps).limit_denominator(1001),
                options={"crf": "20", "preset": "ultrafast"})
            stream.width, stream.height = width + self._pad[1], height + self._pad[0]
            stream.pix_fmt = "yuv420p"
        except Exception as exc:  # noqa: BLE001
            self._container.close()
            raise FerkitError(f"{name}: cannot set up H.264 encoding ({exc})") from None
        self._stream = stream

    def write(self, frame_bgr: np.ndarray) -> None:
        import av

        if any(self._pad):
            frame_bgr = cv2.copyMakeBorder(frame_bgr, 0, self._pad[0], 0, self._pad[1],
                                           cv2.BORDER_REPLICATE)
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame_bgr), format="bgr24")
        try:
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except Exception as exc:  # noqa: BLE001
            raise FerkitError(f"cannot encode a video frame ({exc})") from None

    def close(self) -> None:
        try:
            for packet in self._stream.encode():  # flush the encoder's delayed frames
                self._container.mux(packet)
        finally:
            self._container.close()


class _OpenCVSink:
    """OpenCV's mp4v writer: the fallback when PyAV is missing."""

    def __init__(self, path: Path, name: Path, fps: float, width: int, height: int) -> None:
        """Write to `path`; errors name `name`, the file the user asked for."""
        self._writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps,
                                       (width, height))
        if not self._writer.isOpened():
            raise FerkitError(f"{name}: cannot write an mp4v video there")

    def write(self, frame_bgr: np.ndarray) -> None:
        self._writer.write(frame_bgr)

    def close(self) -> None:
        self._writer.release()
