"""The Ray engine on a local Ray this module starts once: the same rows as the local engine,
bounded in-flight work, and a long video split across actors."""

from __future__ import annotations

import json

import pytest
from batch_helpers import make_media, read_rows

from ferkit.batch import BatchSettings, run_batch
from ferkit.batch.local import LocalEngine
from ferkit.batch.plan import InputItem, Job

ray = pytest.importorskip("ray", reason="the ray engine needs the scale extra")
from ferkit.batch.ray_engine import RayEngine  # noqa: E402

SETTINGS = BatchSettings()


@pytest.fixture(scope="module")
def local_ray():
    """One Ray for the module (it takes seconds to start); the engine uses it and leaves it."""
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR", object_store_memory=80 * 1024**2)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    return make_media(tmp_path_factory.mktemp("media"), videos=2, frames=24)


def test_both_engines_give_identical_rows(local_ray, media, tmp_path):
    ray_out, local_out = tmp_path / "ray", tmp_path / "local"
    with_ray = run_batch([media], ray_out, SETTINGS, RayEngine(SETTINGS, workers=2),
                         chunk_frames=7, progress=False)
    # The local engine without splitting: stitching chunks must not change a single value.
    with_local = run_batch([media], local_out, SETTINGS, LocalEngine(SETTINGS, workers=1),
                           chunk_frames=0, progress=False)
    assert read_rows(ray_out).equals(read_rows(local_out))
    assert read_rows(ray_out).num_rows == 24 + 25 + 2
    for outcome in (with_ray, with_local):
        assert outcome.report["inputs"] == {"total": 5, "done": 4, "skipped": 0, "failed": 1}
        assert "broken.mp4" in outcome.report["failures"][0]["input"]
    assert with_ray.report["engine"] == "ray" and with_ray.report["workers"] == 2
    assert json.loads((ray_out / "batch.json").read_text()) == \
        json.loads((local_out / "batch.json").read_text())  # same settings, same fingerprint
    assert local_ray.is_initialized()  # the engine leaves a Ray it did not start running


def test_in_flight_work_is_bounded_per_actor(local_ray, media):
    clip = InputItem(media / "clips" / "pan0.mp4", "video")
    jobs = [Job(clip, k, 12, 2 * k, 2 * k + 2) for k in range(12)]
    pulled, outstanding = [], []

    def feed():
        for job in jobs:
            pulled.append(job)
            yield job

    with RayEngine(SETTINGS, workers=2) as engine:
        results = []
        for result in engine.run(feed()):
            outstanding.append(len(pulled) - len(results))
            results.append(result)
    assert max(outstanding) <= 2 * 2  # at most two jobs per actor ever outstanding
    assert sorted(r.job.part for r in results) == list(range(12))
    frames = sorted(f.index for r in results for f in r.frames)
    assert frames == list(range(24)) and all(r.error is None for r in results)
