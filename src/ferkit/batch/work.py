"""A batch worker: its recognizers, made once, turning each Job into the faces of its frames."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, replace

from ferkit.batch.plan import BatchSettings, Job
from ferkit.errors import FerkitError
from ferkit.recognizer import Recognizer, RecognizerPool
from ferkit.video.io import iter_frames
from ferkit.video.pipeline import FrameResult, detect_frames


@dataclass(frozen=True)
class JobResult:
    """What a worker sends back for a Job: its frames in order, or the error that stopped it."""

    job: Job
    frames: tuple[FrameResult, ...] = ()  # detected, not yet tracked; no pixels
    error: str | None = None
    seconds: float = 0.0  # the worker's wall time on this job
    cpu_seconds: float = 0.0  # its process's CPU time (all threads: decoding, ONNX Runtime)


class Worker:
    """Holds the recognizers for many jobs (one model; a detector per kind of input where
    their specs differ): loading them costs far more than one frame, so each worker process
    or Ray actor builds them once."""

    def __init__(self, settings: BatchSettings) -> None:
        from ferkit.video.io import quiet_ffmpeg

        quiet_ffmpeg()  # a corrupt file is reported once, in the failures table
        self.settings = settings
        # One per detector spec, all sharing one model.
        self._recognizers = RecognizerPool(model=settings.model, threads=settings.threads)
        for kind in ("image", "video"):  # built now: a worker that cannot start says so at once
            self.recognizer(kind)

    def recognizer(self, kind: str) -> Recognizer:
        """The recognizer for `kind` ("image" or "video") inputs."""
        return self._recognizers.get(self.settings.detector_for(kind))

    def ready(self) -> bool:
        """True once constructed; lets a Ray driver surface a failed start before any work."""
        return True

    def run(self, job: Job) -> JobResult:
        """Detect and classify every analysed frame of `job`. Errors come back as values so
        one bad input never takes the worker (and the other inputs) down with it."""
        began, began_cpu = time.perf_counter(), time.process_time()
        frames, error = (), None
        try:
            frames = tuple(self._frames(job))
        except FerkitError as exc:
            error = str(exc)
        except Exception as exc:  # a decoder or model crash on one odd file: record, go on
            error = f"{type(exc).__name__}: {exc}"
        return JobResult(job, frames, error, seconds=time.perf_counter() - began,
                         cpu_seconds=time.process_time() - began_cpu)

    def _frames(self, job: Job) -> Iterator[FrameResult]:
        s = self.settings
        if job.item.kind == "image":
            faces = self.recognizer("image").analyze(job.item.path, s.label_set,
                                                     tta=s.tta_for("image"))
            yield FrameResult(0, 0.0, None, faces)
            return
        frames = iter_frames(job.item.path, s.every, start=job.start, stop=job.stop)
        for result in detect_frames(self.recognizer("video"), frames, s):
            yield replace(result, frame_bgr=None)  # pixels stay in the worker
