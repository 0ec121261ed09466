"""The Ray engine: one long-lived actor per worker, each holding a model, fed with backpressure."""

from __future__ import annotations

import logging
import os
import socket
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from ferkit.batch.plan import BatchSettings, Job
from ferkit.batch.work import JobResult, Worker
from ferkit.errors import FerkitError

#: Seconds to wait for every actor to load its model before giving up on the cluster.
READY_TIMEOUT_S = 300


def import_ray() -> Any:
    """The ray module, or a FerkitError saying how to install it."""
    try:
        import ray
    except ImportError:
        raise FerkitError("--engine ray needs Ray: pip install 'ferkit[scale]'") from None
    return ray


def check_reachable(address: str, timeout_s: float = 5.0) -> None:
    """Fail fast, with one line, when nothing listens at a host:port Ray address (ray.init
    itself retries for a minute and then prints a long traceback)."""
    target = address.removeprefix("ray://")
    host, sep, port = target.rpartition(":")
    if address in ("auto", "local") or not sep:
        return
    if not port.isdigit():
        raise FerkitError(f"bad --ray-address {address!r}: expected host:port, "
                          "ray://host:port or auto")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise FerkitError(f"cannot reach a Ray cluster at {address}: {exc.strerror or exc} "
                          "(start one with `ray start --head`, or check --ray-address)") from None


@contextmanager
def _stderr_to_nowhere(enabled: bool) -> Iterator[None]:
    """While joining a cluster, Ray's C++ client writes a warning line per second of retries
    straight to file descriptor 2 (no logging setting reaches it); ferkit reports the outcome
    in one line instead. Only for joining: a local start spawns daemons that would inherit it.
    """
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


class RayEngine:
    """Runs jobs on `workers` Ray actors (default: one per CPU of the cluster), at most
    `in_flight` outstanding per actor: the next job goes out when `ray.wait` says one is back,
    so the driver's memory and the object store stay flat however many inputs there are.

    With `address` (or RAY_ADDRESS set, as under `ray job submit`) it joins that cluster;
    otherwise it starts a private local Ray with `workers` CPUs and stops it afterwards. A Ray
    already initialised in this process (a notebook, a test) is used and left running.
    """

    name = "ray"

    def __init__(self, settings: BatchSettings, workers: int | None = None,
                 address: str | None = None, *, in_flight: int = 2) -> None:
        self.settings = settings
        self.requested = workers
        self.address = address
        self.in_flight = in_flight
        self.workers = 0
        self._ray: Any = None
        self._started = False
        self._actor_class: Any = None
        self._actors: list[Any] = []

    def __enter__(self) -> RayEngine:
        ray = self._ray = import_ray()
        if not ray.is_initialized():
            self._connect(ray)
        try:
            cluster_cpus = int(ray.cluster_resources().get("CPU", 0))
            self.workers = max(1, min(self.requested or cluster_cpus, cluster_cpus or 1))
            if self.requested and self.workers < self.requested:
                print(f"ferkit: the Ray cluster has {cluster_cpus} CPUs: using "
                      f"{self.workers} workers, not {self.requested}", file=sys.stderr)
            self._actor_class = ray.remote(num_cpus=1)(Worker)
            self._actors = [self._new_actor() for _ in range(self.workers)]
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def _connect(self, ray: Any) -> None:
        options: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False}
        address = self.address or os.environ.get("RAY_ADDRESS")
        if address:
            check_reachable(address)
            where = f"the Ray cluster at {address}"
        else:
            # "local": a private instance even when `ray start` left a cluster on this machine
            # (ray.init() alone would join that one, and refuse the CPU count).
            address = "local"
            options.update(num_cpus=self.requested or os.cpu_count() or 1,
                           include_dashboard=False)
            where = "a local Ray"
        try:
            with _stderr_to_nowhere(address != "local"):
                ray.init(address=address, **options)
        except Exception as exc:  # Ray raises several types here; all mean "no cluster"
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            hint = ""
            if address != "local" and "RAY_AUTH_MODE" not in os.environ:
                hint = (" (a cluster started by `ray start` wants its token: set "
                        "RAY_AUTH_MODE=token, see docs/BATCH.md)")
            raise FerkitError(f"cannot start or join {where}: {first}{hint}") from None
        self._started = True

    def _new_actor(self) -> Any:
        """An actor with its model loaded, or FerkitError saying why it could not load one."""
        ray = self._ray
        actor = self._actor_class.remote(self.settings)
        try:
            ray.get(actor.ready.remote(), timeout=READY_TIMEOUT_S)
        except ray.exceptions.GetTimeoutError:
            raise FerkitError(f"a Ray worker did not start within {READY_TIMEOUT_S} s "
                              "(no free CPU in the cluster?)") from None
        except ray.exceptions.RayError as exc:
            cause = getattr(exc, "cause", None) or exc
            raise FerkitError(f"a Ray worker could not load the model: {cause}") from None
        return actor

    def __exit__(self, exc_type, exc, tb) -> None:
        ray = self._ray
        for actor in self._actors:
            ray.kill(actor)
        self._actors = []
        if self._started:
            ray.shutdown()
            self._started = False

    def run(self, jobs: Iterable[Job]) -> Iterator[JobResult]:
        """Results of `jobs` in the order they complete."""
        ray = self._ray
        if not self._actors:
            raise RuntimeError("use RayEngine as a context manager")
        queue = iter(jobs)
        load = [0] * len(self._actors)
        pending: dict[Any, tuple[int, Any, Job]] = {}
        while True:
            while min(load) < self.in_flight:
                job = next(queue, None)
                if job is None:
                    break
                slot = load.index(min(load))  # the least busy actor
                actor = self._actors[slot]
                pending[actor.run.remote(job)] = (slot, actor, job)
                load[slot] += 1
            if not pending:
                return
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                slot, actor, job = pending.pop(ref)
                load[slot] -= 1
                try:
                    yield ray.get(ref)
                except ray.exceptions.RayActorError as exc:
                    # The process died (out of memory, a node lost): this job fails, and so do
                    # the dead actor's other queued jobs; its slot gets one fresh actor.
                    yield JobResult(job, error=f"the Ray worker died: {exc}".splitlines()[0])
                    if self._actors[slot] is actor:
                        ray.kill(actor)
                        self._actors[slot] = self._new_actor()
                except ray.exceptions.RayError as exc:
                    yield JobResult(job, error=str(exc).splitlines()[0])
