"""The local engine: a spawn-started process pool over this machine's cores, one model each."""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ferkit.batch.plan import BatchSettings, Job
from ferkit.batch.work import JobResult, Worker
from ferkit.errors import FerkitError

#: This process's Worker, when it is a pool process. ProcessPoolExecutor gives a worker no
#: object of its own, only an initializer run once per process, so the recognizer that
#: initializer builds has to live at module level; the driver process never sets it.
_process_worker: Worker | None = None


def _start_worker(settings: BatchSettings) -> None:
    global _process_worker
    _process_worker = Worker(settings)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()


def _exit_with_parent(parent: int, interval_s: float = 1.0) -> None:
    """End this pool process once the driver is gone. A driver killed outright (SIGKILL,
    OOM killer) cannot shut the pool down, and its processes would wait for work forever."""
    while os.getppid() == parent:
        time.sleep(interval_s)
    os._exit(1)


def _ready() -> bool:
    return _process_worker is not None


def _run_job(job: Job) -> JobResult:
    assert _process_worker is not None, "pool started without its initializer"
    return _process_worker.run(job)


def _usable_cores() -> int:
    """The cores this process may run on (a container or taskset may allow fewer than exist)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0)) or 1
    return os.cpu_count() or 1


class LocalEngine:
    """Runs jobs on `workers` processes, at most `in_flight` jobs queued per worker.

    Processes are started with "spawn": a forked child of a driver that has already loaded
    ONNX Runtime (whose threads do not survive a fork) could hang. The bound on queued jobs
    keeps inputs finishing roughly in the order given, so an interrupted run has little
    half-done work, and keeps memory flat however many inputs there are.
    """

    name = "local"

    def __init__(self, settings: BatchSettings, workers: int | None = None, *,
                 in_flight: int = 2) -> None:
        self.settings = settings
        self.workers = max(1, workers or _usable_cores())
        self.in_flight = in_flight
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> LocalEngine:
        self._pool = self._new_pool()
        # Start every process and load its model now (the pool would otherwise start them
        # lazily, on the first jobs), so a broken setup fails before any input is touched
        # and start-up time is not billed to the first inputs.
        for future in [self._pool.submit(_ready) for _ in range(self.workers)]:
            try:
                future.result()
            except BrokenProcessPool:
                self.__exit__(BrokenProcessPool, None, None)
                raise FerkitError("the worker processes could not start; run with "
                                  "--workers 1 to see why") from None
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._pool is not None:
            # On an error or Ctrl-C, do not wait for queued jobs; running ones end with the
            # processes (Ctrl-C reaches the whole process group).
            self._pool.shutdown(wait=exc_type is None, cancel_futures=True)
            self._pool = None

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_start_worker, initargs=(self.settings,))

    def run(self, jobs: Iterable[Job]) -> Iterator[JobResult]:
        """Results of `jobs` in the order they complete.

        A worker that dies (out of memory, killed) breaks the whole pool and every job in
        flight with it: those jobs run again on a fresh pool, once and one at a time, so only
        a job that breaks it on its own is reported as failed."""
        if self._pool is None:
            raise RuntimeError("use LocalEngine as a context manager")
        queue = iter(jobs)
        again: deque[Job] = deque()  # jobs lost with a broken pool, run before new ones
        retried: set[Job] = set()
        pending: dict[Future, Job] = {}
        broken_in_a_row = 0
        while True:
            while len(pending) < self.workers * self.in_flight:
                if again and pending:
                    break  # a job run again runs alone: a second death is its own
                job = again.popleft() if again else next(queue, None)
                if job is None:
                    break
                pending[self._pool.submit(_run_job, job)] = job
            if not pending:
                return
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            lost: list[Job] = []
            for future in done:
                job = pending.pop(future)
                try:
                    result = future.result()
                except BrokenProcessPool:
                    lost.append(job)
                    continue
                broken_in_a_row = 0 if result.error is None else broken_in_a_row
                yield result
            if not lost:
                continue
            # Every job still queued in a broken pool is lost with it.
            lost += pending.values()
            pending.clear()
            fresh = [job for job in lost if job not in retried]
            for job in lost:
                if job in retried:
                    yield JobResult(job, error="a worker process died twice while this input "
                                               "was in flight (out of memory?)")
                else:
                    retried.add(job)
                    again.append(job)
            # A job run again alone that kills its worker is that input's fault: only breaks
            # on fresh jobs say the processes themselves cannot work.
            if fresh:
                broken_in_a_row += 1
                if broken_in_a_row > 2:
                    raise FerkitError("worker processes keep dying; see the messages above")
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = self._new_pool()
