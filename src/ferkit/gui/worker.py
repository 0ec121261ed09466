"""The app's worker thread: reads frames, runs recognition and recording, queues results."""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass

from ferkit.errors import FerkitError
from ferkit.gui.record import Recorder
from ferkit.gui.state import FpsMeter, FrameProcessor, Result, Settings
from ferkit.video.io import Frame, FrameSource, open_source


@dataclass(frozen=True)
class Message:
    """A line for the app's status bar; `error` marks problems (shown in red)."""

    text: str
    error: bool = False


class Worker:
    """Owns the current source off the Tk thread; the display polls `results` and `messages`.

    `results` keeps only the newest few frames (older ones are dropped when the display falls
    behind), so the display never waits and capture never blocks on the display. All public
    methods are safe to call from the Tk thread.
    """

    def __init__(self, processor: FrameProcessor, settings: Settings | None = None,
                 *, keep: int = 2, opener=open_source):
        self.processor = processor
        self._opener = opener
        self._pending: str | int | None = None
        self.results: queue.Queue[Result] = queue.Queue(maxsize=keep)
        self.messages: queue.Queue[Message] = queue.Queue()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._source: FrameSource | None = None
        self._retired: list[FrameSource] = []
        self._settings = settings or Settings()
        self._playing = True
        self._seek: int | None = None
        self._dirty = False
        self._new_tracks = False
        self._last: Frame | None = None
        self._recorder: Recorder | None = None
        self._clock: tuple[float, float] | None = None  # (wall time, frame time) of play start
        self._fps = FpsMeter()
        self._thread = threading.Thread(target=self._run, name="ferkit-gui-worker", daemon=True)

    # -- controls (any thread) -------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        with self._lock:
            # Closing a file mid-read crashes the process: a thread still reading (a stalled
            # camera) closes its source itself when it ends.
            if not self._thread.is_alive():
                self._retire(self._source)
                self._source = None
                self._close_retired()
            if self._recorder is not None:
                self._recorder.close()
                self._recorder = None

    def open(self, spec: str | int) -> None:
        """Open a camera index or a file on the worker thread (opening a camera can take
        seconds); failure arrives as an error Message, success as frames."""
        with self._lock:
            self._pending = spec
        self._wake.set()

    def set_source(self, source: FrameSource | None) -> None:
        with self._lock:
            self._retire(self._source)
            self._source, self._last, self._seek = source, None, None
            self._playing, self._dirty, self._clock = True, True, None
            self._new_tracks = True
        self._wake.set()

    def set_settings(self, settings: Settings) -> None:
        with self._lock:
            self._settings, self._dirty = settings, True
        self._wake.set()

    def set_playing(self, playing: bool) -> None:
        with self._lock:
            self._playing, self._clock = playing, None
        self._wake.set()

    @property
    def playing(self) -> bool:
        return self._playing

    @property
    def source(self) -> FrameSource | None:
        return self._source

    def seek(self, index: int) -> None:
        with self._lock:
            self._seek, self._clock = int(index), None
        self._wake.set()

    def start_recording(self, recorder: Recorder) -> None:
        with self._lock:
            if self._recorder is not None:
                self._recorder.close()
            self._recorder = recorder
            self._dirty = True  # a still image or paused video records its current frame
        self._wake.set()

    def stop_recording(self) -> Recorder | None:
        with self._lock:
            recorder, self._recorder = self._recorder, None
        if recorder is not None:
            recorder.close()
        return recorder

    @property
    def recording(self) -> bool:
        return self._recorder is not None

    # -- the thread ------------------------------------------------------------------------
    def _retire(self, source: FrameSource | None) -> None:
        if source is not None:
            self._retired.append(source)

    def _close_retired(self) -> None:
        for old in self._retired:
            old.close()
        self._retired.clear()

    def _say(self, text: str, error: bool = False) -> None:
        self.messages.put(Message(text, error))

    def _run(self) -> None:
        try:
            self._loop()
        finally:  # the reading thread closes what it reads, even after stop() gave up waiting
            with self._lock:
                self._retire(self._source)
                self._source = None
                self._close_retired()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                pending, self._pending = self._pending, None
            if pending is not None:
                self._open_pending(pending)
            with self._lock:
                self._close_retired()
                source, settings = self._source, self._settings
                seek, dirty, playing, last = self._seek, self._dirty, self._playing, self._last
                self._seek, self._dirty = None, False
                new_tracks, self._new_tracks = self._new_tracks or seek is not None, False
            if new_tracks:
                self.processor.reset()
            if source is None:
                self._idle()
                continue
            try:
                frame = self._next_frame(source, seek, dirty, playing, last)
            except FerkitError as exc:
                self._drop(source, str(exc))
                continue
            except Exception as exc:  # a broken driver or decoder must not end the app
                self._drop(source, f"{source.name}: {type(exc).__name__}: {exc}")
                continue
            if frame is None:
                self._idle()
                continue
            try:
                analysed, annotated, infer_ms = self.processor.process(frame, settings, source.kind)
            except Exception as exc:
                with self._lock:
                    if self._source is source:
                        self._last = frame
                self._say(f"cannot analyse {source.name}: {exc}", error=True)
                self._idle()
                continue
            with self._lock:
                if self._source is not source:
                    continue  # the user switched sources meanwhile
                self._last = frame
                recorder = self._recorder
            result = Result(analysed, annotated, settings, source.name, source.kind,
                            source.frame_count, infer_ms, self._fps.tick())
            if recorder is not None:
                try:
                    recorder.write(annotated, analysed)
                except (FerkitError, OSError) as exc:  # e.g. the disk is full
                    self._say(f"recording stopped: {exc}", error=True)
                    try:
                        self.stop_recording()
                    except (FerkitError, OSError) as stop_exc:
                        self._say(f"the recording could not be kept: {stop_exc}", error=True)
            self._post(result)
            if source.kind == "video" and playing and seek is None:
                self._pace(frame, source.fps)

    def _open_pending(self, spec: str | int) -> None:
        try:
            source = self._opener(spec)
        except FerkitError as exc:
            self._say(str(exc), error=True)
            return
        except Exception as exc:
            self._say(f"cannot open {spec}: {type(exc).__name__}: {exc}", error=True)
            return
        self.set_source(source)
        self._say(f"opened {source.name}")

    def _next_frame(self, source: FrameSource, seek: int | None, dirty: bool, playing: bool,
                    last: Frame | None) -> Frame | None:
        if source.kind == "image":
            return source.read() if dirty or last is None else None
        if seek is not None and source.seekable:
            source.seek(seek)
            return self._read_or_end(source)
        if playing or last is None:
            return self._read_or_end(source)
        return last if dirty else None

    def _read_or_end(self, source: FrameSource) -> Frame | None:
        frame = source.read()
        if frame is None:
            with self._lock:
                if self._source is source:
                    self._playing = False
            self._say(f"end of {source.name}")
        return frame

    def _drop(self, source: FrameSource, text: str) -> None:
        with self._lock:
            if self._source is source:
                self._retire(source)
                self._source = None
        self._say(text, error=True)

    def _idle(self) -> None:
        self._wake.wait(0.1)
        self._wake.clear()

    def _pace(self, frame: Frame, fps: float) -> None:
        """Sleep until the next frame is due, so files play no faster than real time."""
        now = time.perf_counter()
        with self._lock:
            if self._clock is None or now - (self._clock[0] + frame.time_s - self._clock[1]) > 0.5:
                self._clock = (now, frame.time_s)
            due = self._clock[0] + frame.time_s - self._clock[1] + 1 / fps
        if due > now:
            self._wake.wait(due - now)
            self._wake.clear()

    def _post(self, result: Result) -> None:
        while True:
            try:
                self.results.put_nowait(result)
                return
            except queue.Full:
                try:
                    self.results.get_nowait()
                except queue.Empty:
                    pass
