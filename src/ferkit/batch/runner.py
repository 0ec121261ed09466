"""Runs a batch: skips finished inputs, plans jobs, feeds an engine, stitches and writes results."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from ferkit import __version__
from ferkit.batch.plan import (
    DEFAULT_CHUNK_FRAMES,
    BatchSettings,
    InputItem,
    Job,
    chunk_size,
    find_inputs,
    plan_jobs,
)
from ferkit.batch.plan import fingerprint as settings_fingerprint
from ferkit.batch.store import BatchStore, Failure
from ferkit.batch.work import JobResult
from ferkit.detect.spec import parse_detector
from ferkit.errors import FerkitError
from ferkit.labels import label_names
from ferkit.video.io import quiet_ffmpeg
from ferkit.video.pipeline import track_faces


class Engine(Protocol):
    """Where jobs run: a context manager whose `run` yields results as they complete."""

    name: str
    workers: int

    def __enter__(self) -> Engine: ...

    def __exit__(self, exc_type, exc, tb) -> None: ...

    def run(self, jobs: Iterator[Job]) -> Iterator[JobResult]: ...


@dataclass
class _Assembly:
    """The parts of one input that have come back so far (they arrive in any order)."""

    item: InputItem
    parts: int
    results: dict[int, JobResult] = field(default_factory=dict)
    error: str | None = None


@dataclass
class BatchOutcome:
    """What `run_batch` did: the report it wrote (also returned as a dict) and where."""

    report: dict[str, Any]
    report_path: Path

    @property
    def failed(self) -> int:
        return self.report["inputs"]["failed"]


def run_batch(arguments: list[Path], out: Path, settings: BatchSettings, engine: Engine, *,
              chunk_frames: int = DEFAULT_CHUNK_FRAMES, progress: bool = True) -> BatchOutcome:
    """Analyse every input under `arguments` into `out`, skipping inputs already done there.

    Each input is written as soon as all its parts are back, so stopping the run at any
    moment loses only the inputs in flight. Inputs that cannot be read are recorded in the
    report and failures table and the rest go on. FerkitError for problems with the whole
    job (no inputs, `out` unusable or made with other settings, no engine).
    """
    if chunk_frames < 0:
        raise FerkitError(f"--chunk-frames must be 0 (never split) or more, got {chunk_frames}")
    chunk_frames = chunk_size(chunk_frames, settings.redetect_every)
    began = time.monotonic()
    started_at = _now()
    quiet_ffmpeg()  # probing a corrupt video must not spray FFmpeg lines over the progress bars
    items = find_inputs(arguments, out)
    settings.recognizer()  # a bad model or detector fails here, once, not in every worker
    if settings.detector_for("image") != settings.detector_for("video"):
        parse_detector(settings.detector_for("image"))
    identity = settings.identity()
    labels = label_names(settings.label_set)
    store = BatchStore(out, identity, settings_fingerprint(identity), labels,
                       episode_options=settings.episodes)
    store.open()
    try:
        todo = [item for item in items if not store.is_done(item)]
        jobs, failures, expected = _plan(todo, settings, chunk_frames)
    except BaseException:  # Ctrl-C while probing videos: let the next run in
        store.close()
        raise
    counts = {"total": len(items), "done": 0, "skipped": len(items) - len(todo),
              "failed": len(failures)}
    totals = {"frames": 0, "faces": 0, "worker_s": 0.0, "worker_cpu_s": 0.0, "job_frames": 0}
    clock = {"began": began, "engine": time.monotonic(), "work": time.monotonic()}
    interrupted, fatal = False, None
    try:
        with ExitStack() as stack:
            if jobs:  # no engine start (seconds, for Ray) when there is nothing to do
                stack.enter_context(engine)
            clock["work"] = time.monotonic()
            inputs_bar, frames_bar = stack.enter_context(_Bars(len(todo), expected, progress))
            inputs_bar.update(len(failures))
            assemblies = {job.item: _Assembly(job.item, job.parts) for job in jobs}
            for result in engine.run(iter(jobs)) if jobs else ():
                frames_bar.update(len(result.frames))
                totals["worker_s"] += result.seconds
                totals["worker_cpu_s"] += result.cpu_seconds
                totals["job_frames"] += len(result.frames)
                done = _collect(assemblies, result)
                if done is None:
                    continue
                del assemblies[done.item]
                inputs_bar.update(1)
                if done.error is not None:
                    failures.append(Failure(done.item.text, done.item.kind, done.error))
                    counts["failed"] += 1
                    continue
                summary = store.write_input(done.item, _tracked(done, settings))
                counts["done"] += 1
                totals["frames"] += summary.frames
                totals["faces"] += summary.faces
    except KeyboardInterrupt:
        interrupted = True
        raise
    except FerkitError as exc:  # the whole job stopped (no engine, output unwritable)
        fatal = str(exc)
        raise
    finally:
        report = {
            "ferkit": __version__, "started_at": started_at, "finished_at": _now(),
            "interrupted": interrupted, "error": fatal, "settings": identity,
            "fingerprint": store.fingerprint, "engine": engine.name,
            "workers": engine.workers, "chunk_frames": chunk_frames, "inputs": counts,
            **_timings(clock, counts, totals, engine.workers),
            "failures": [f.__dict__ for f in failures],
        }
        try:
            store.write_failures(failures)
            store.write_summary()
            path = store.write_report(report)
        finally:
            store.close()
    return BatchOutcome(report, path)


def _plan(todo: list[InputItem], settings: BatchSettings, chunk_frames: int
          ) -> tuple[list[Job], list[Failure], int | None]:
    """Jobs for `todo` in input order, the inputs that cannot even be opened, and the frames
    to analyse (None when some video does not say how many it has)."""
    jobs: list[Job] = []
    failures: list[Failure] = []
    expected: int | None = 0
    for item in todo:
        try:
            item_jobs, frames = plan_jobs(item, settings.every, chunk_frames)
        except FerkitError as exc:
            failures.append(Failure(item.text, item.kind, str(exc)))
            continue
        jobs.extend(item_jobs)
        expected = None if expected is None or frames is None else expected + frames
    return jobs, failures, expected


def _timings(clock: dict[str, float], counts: dict[str, int], totals: dict[str, float],
             workers: int) -> dict[str, Any]:
    """The report's counts of work done and how fast, over the time after the engine start."""
    now = time.monotonic()
    work_s = now - clock["work"]

    def rate(amount: float, seconds: float, digits: int = 3) -> float | None:
        return round(amount / seconds, digits) if seconds else None

    return {
        "frames": totals["frames"], "faces": totals["faces"],
        "elapsed_s": round(now - clock["began"], 3),
        "engine_start_s": round(clock["work"] - clock["engine"], 3),
        "analysis_s": round(work_s, 3),
        "throughput": {
            "frames_per_s": rate(totals["frames"], work_s),
            "faces_per_s": rate(totals["faces"], work_s),
            "inputs_per_s": rate(counts["done"], work_s),
            "worker_busy_share": rate(totals["worker_s"], work_s * workers),
            # CPU seconds of the workers per analysed frame: the figure that sizes a cluster
            "worker_cpu_s_per_frame": rate(totals["worker_cpu_s"], totals["job_frames"], 4),
        },
    }


def _collect(assemblies: dict[InputItem, _Assembly], result: JobResult) -> _Assembly | None:
    """Add `result` to its input's assembly; the assembly once every part is back."""
    assembly = assemblies[result.job.item]
    assembly.results[result.job.part] = result
    if result.error is not None and assembly.error is None:
        assembly.error = result.error
    return assembly if len(assembly.results) == assembly.parts else None


def _tracked(assembly: _Assembly, settings: BatchSettings):
    """The input's frames in order, tracked and smoothed as one stream, exactly as
    `analyze_video` would over the whole file: parts only ever split the stateless work."""
    frames = (frame for part in sorted(assembly.results)
              for frame in assembly.results[part].frames)
    return track_faces(frames, settings)


class _Bars:
    """Two tqdm bars on stderr, inputs and frames, with rates and ETAs."""

    def __init__(self, inputs: int, frames: int | None, enabled: bool) -> None:
        from tqdm import tqdm

        common = {"file": sys.stderr, "disable": not enabled, "dynamic_ncols": True,
                  "leave": False}
        self.inputs = tqdm(total=inputs, unit="input", desc="inputs", position=0, **common)
        self.frames = tqdm(total=frames or None, unit="frame", desc="frames", position=1,
                           **common)

    def __enter__(self):
        return self.inputs, self.frames

    def __exit__(self, *exc) -> None:
        self.frames.close()
        self.inputs.close()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
