"""`ferkit batch` with the local engine on real media: rows, summary, failures, resume, errors."""

from __future__ import annotations

import json
import sys

import pyarrow.parquet as pq
import pytest
from batch_helpers import SEED5, make_media, pan_frames, read_rows, write_video
from cli_helpers import run

from ferkit.batch import BatchSettings, run_batch
from ferkit.batch.local import LocalEngine
from ferkit.batch.plan import InputItem, Job
from ferkit.detect.spec import REDETECT_EVERY, STREAM_PHOTO_DETECTOR, VIDEO_DETECTOR
from ferkit.rows import frame_rows
from ferkit.video import FrameResult, StreamOptions, analyze_video, track_faces

#: What `ferkit batch` runs by default: each kind of input its own detector.
DETECTORS = {"image": STREAM_PHOTO_DETECTOR, "video": VIDEO_DETECTOR}


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    return make_media(tmp_path_factory.mktemp("media"))


@pytest.fixture(scope="module")
def reference(media):
    """What the single-process pipeline says for each readable input, as batch rows."""
    options = StreamOptions(redetect_every=REDETECT_EVERY, threads=1)
    rec, photo_rec = options.recognizer("video"), options.recognizer("image")
    rows = []
    for path in sorted(media.rglob("*")):
        if path.suffix == ".mp4" and path.name != "broken.mp4":
            results = list(analyze_video(path, options, recognizer=rec))
        elif path.suffix in (".jpg", ".png"):  # a photo: one frame, faces numbered 1, 2, ...
            results = list(track_faces([FrameResult(0, 0.0, None, photo_rec.analyze(path))]))
        else:
            continue
        for r in results:
            rows.extend(frame_rows(r, SEED5, input=str(path)))
    return sorted(rows, key=lambda r: (r["input"], r["frame"], r["track_id"]))


@pytest.fixture(scope="module")
def first_run(media, tmp_path_factory):
    """One real run over the folder: 2 processes, the 30-frame video split into 3 jobs
    (8 frames rounded up to 10, a multiple of the default --redetect-every 5)."""
    out = tmp_path_factory.mktemp("run") / "out"
    from ferkit.cli import main

    code = main(["batch", str(media), "--out", str(out), "--workers", "2", "--chunk-frames",
                 "8", "--no-progress"])
    return code, out


def test_rows_equal_the_single_process_pipeline(first_run, reference):
    code, out = first_run
    rows = read_rows(out).to_pylist()
    assert rows == reference
    assert {r["input"].rsplit("/", 1)[-1] for r in rows} == {"pan0.mp4", "astronaut.jpg",
                                                            "camera.png"}
    video = [r for r in rows if r["input"].endswith("pan0.mp4")]
    assert [r["frame"] for r in video] == list(range(30)) and {r["track_id"] for r in video} == {1}
    assert all(sum(r[n] for n in SEED5) == pytest.approx(1, abs=1e-4) for r in rows)
    assert {r["label"] for r in rows if r["input"].endswith("astronaut.jpg")} == {"happy"}


def test_one_file_per_input_and_a_summary(first_run, media):
    _, out = first_run
    names = sorted(p.name for p in (out / "faces").iterdir())
    expected = sorted(InputItem(p, "x").key + ".parquet" for p in
                      [media / "clips" / "pan0.mp4", media / "photos" / "astronaut.jpg",
                       media / "photos" / "nested" / "camera.png"])
    assert names == expected
    summary = {r["input"].rsplit("/", 1)[-1]: r
               for r in pq.read_table(out / "summary.parquet").to_pylist()}
    assert set(summary) == {"pan0.mp4", "astronaut.jpg", "camera.png"}
    clip = summary["pan0.mp4"]
    assert (clip["kind"], clip["frames"], clip["faces"], clip["tracks"]) == ("video", 30, 30, 1)
    assert clip["duration_s"] == pytest.approx(3.0)  # 30 frames at 10 fps
    assert sum(clip[f"share_{n}"] for n in SEED5) == pytest.approx(1)
    assert summary["astronaut.jpg"]["share_happy"] == 1.0


def test_a_corrupt_input_is_reported_and_the_rest_completes(first_run, media):
    code, out = first_run
    assert code == 1  # some input failed
    report = json.loads((out / "report.json").read_text())
    assert report["inputs"] == {"total": 4, "done": 3, "skipped": 0, "failed": 1}
    assert report["frames"] == 32 and report["faces"] == 32
    assert report["engine"] == "local" and report["workers"] == 2
    assert report["chunk_frames"] == 10
    assert report["settings"]["detector"] == DETECTORS
    assert report["throughput"]["frames_per_s"] > 0
    [failure] = report["failures"]
    assert failure["input"] == str(media / "broken.mp4")
    assert "cannot read video" in failure["error"]
    assert pq.read_table(out / "failures.parquet").to_pylist() == [failure]


def test_pandas_reads_the_faces_folder(first_run):
    pd = pytest.importorskip("pandas")
    _, out = first_run
    assert len(pd.read_parquet(out / "faces")) == 32


def test_rerun_skips_finished_inputs_and_other_settings_are_refused(first_run, media, capsys):
    _, out = first_run
    before = {p.name: p.stat().st_mtime_ns for p in (out / "faces").iterdir()}
    code, _, err = run(capsys, "batch", media, "--out", out, "--workers", "1", "--no-progress")
    assert code == 1  # broken.mp4 is retried, and fails again
    report = json.loads((out / "report.json").read_text())
    assert report["inputs"] == {"total": 4, "done": 0, "skipped": 3, "failed": 1}
    assert {p.name: p.stat().st_mtime_ns for p in (out / "faces").iterdir()} == before
    assert "3 already done" in err

    code, _, err = run(capsys, "batch", media, "--out", out, "--label-set", "fer2013")
    assert code == 1
    assert err.strip().splitlines() == [
        f"ferkit: error: {out} holds results made with other settings (changed: label_set); "
        "use another --out or remove it"]

    code, _, err = run(capsys, "batch", media, "--out", out, "--min-episode", "0.5")
    assert code == 1
    assert "other settings (changed: episodes)" in err


def test_episode_options_cut_episodes_as_ferkit_video_episodes_does(media, tmp_path, capsys):
    pd = pytest.importorskip("pandas")
    clip = media / "clips" / "pan0.mp4"
    options = ["--min-episode", "0.3", "--margin", "0.1", "--uncertain-below", "0.6"]
    code, _, err = run(capsys, "batch", clip, "--out", tmp_path / "batch", "--workers", "1",
                       "--no-progress", *options)
    assert code == 0, err
    recorded = json.loads((tmp_path / "batch" / "batch.json").read_text())["settings"]
    assert recorded["episodes"] == {"margin": 0.1, "min_duration_s": 0.3,
                                    "uncertain_below": 0.6}
    code, _, err = run(capsys, "video", clip, "--episodes", tmp_path / "video", "--no-progress",
                       "--out", tmp_path / "rows.json", *options)
    assert code == 0, err
    batch = pd.read_parquet(tmp_path / "batch" / "episodes").drop(columns="input")
    video = pd.read_csv(tmp_path / "video" / "pan0.episodes.csv")
    assert len(video) >= 1
    pd.testing.assert_frame_equal(batch, video, check_dtype=False)


def test_one_line_errors(tmp_path, media, capsys, monkeypatch):
    def error(*argv):
        code, _, err = run(capsys, "batch", *argv, "--no-progress")
        assert code == 1 and len(err.strip().splitlines()) == 1, err
        return err.strip()

    (tmp_path / "empty").mkdir()
    assert error(tmp_path / "empty", "--out", tmp_path / "o") == \
        f"ferkit: error: no images or videos found in {tmp_path / 'empty'}"
    assert "no such file or folder" in error(tmp_path / "typo.mp4", "--out", tmp_path / "o")
    (tmp_path / "file").write_text("x")
    assert "is a file, not a folder" in error(media / "photos", "--out", tmp_path / "file")
    assert "cannot write" in error(media / "photos", "--out", tmp_path / "file" / "sub")
    assert "cannot reach a Ray cluster at 127.0.0.1:9" in error(
        media / "photos", "--out", tmp_path / "o", "--engine", "ray",
        "--ray-address", "127.0.0.1:9")
    assert "episode margin must be in [0, 1)" in error(
        media / "photos", "--out", tmp_path / "o", "--margin", "1")
    assert "--ray-address needs --engine ray" in error(
        media / "photos", "--out", tmp_path / "o", "--ray-address", "auto")
    monkeypatch.setitem(sys.modules, "ray", None)  # as if Ray were not installed
    assert error(media / "photos", "--out", tmp_path / "o", "--engine", "ray") == \
        "ferkit: error: --engine ray needs Ray: pip install 'ferkit[scale]'"


def test_a_video_that_breaks_mid_way_fails_in_the_worker_and_leaves_no_result(tmp_path):
    full = write_video(tmp_path / "full.avi", pan_frames(30))
    (tmp_path / "in").mkdir()
    cut = tmp_path / "in" / "cut.avi"  # header intact (says 30 frames), second half gone
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    write_video(tmp_path / "in" / "whole.mp4", pan_frames(12))
    settings = BatchSettings()
    outcome = run_batch([tmp_path / "in"], tmp_path / "out", settings,
                        LocalEngine(settings, 2), chunk_frames=5, progress=False)
    assert outcome.report["inputs"] == {"total": 2, "done": 1, "skipped": 0, "failed": 1}
    [failure] = outcome.report["failures"]
    assert failure["input"] == str(cut) and "truncated" in failure["error"]
    rows = read_rows(tmp_path / "out").to_pylist()
    assert {r["input"] for r in rows} == {str(tmp_path / "in" / "whole.mp4")}
    assert [r["frame"] for r in rows] == list(range(12))


def test_local_engine_keeps_at_most_two_jobs_per_worker_queued(media):
    clip = InputItem(media / "clips" / "pan0.mp4", "video")
    jobs = [Job(clip, k, 10, 3 * k, 3 * k + 3) for k in range(10)]
    pulled, outstanding, results = [], [], []

    def feed():
        for job in jobs:
            pulled.append(job)
            yield job

    with LocalEngine(BatchSettings(), workers=2) as engine:
        for result in engine.run(feed()):
            outstanding.append(len(pulled) - len(results))
            results.append(result)
    assert max(outstanding) <= 2 * 2
    assert sorted(f.index for r in results for f in r.frames) == list(range(30))


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL")
def test_jobs_in_flight_when_a_worker_dies_run_again_and_succeed(media):
    import os
    import signal

    clip = InputItem(media / "clips" / "pan0.mp4", "video")
    jobs = [Job(clip, k, 10, 3 * k, 3 * k + 3) for k in range(10)]
    results = []
    with LocalEngine(BatchSettings(), workers=2) as engine:
        for result in engine.run(iter(jobs)):
            if not results:  # e.g. the kernel's out-of-memory killer, mid-run
                os.kill(next(iter(engine._pool._processes)), signal.SIGKILL)
            results.append(result)
    assert [r.error for r in results] == [None] * 10  # none blamed on the killed worker
    assert sorted(f.index for r in results for f in r.frames) == list(range(30))


def test_only_the_job_that_kills_its_worker_on_its_own_fails(media, monkeypatch):
    import batch_helpers

    from ferkit.batch import local

    clip = InputItem(media / "clips" / "pan0.mp4", "video")
    jobs = [Job(clip, k, 10, 3 * k, 3 * k + 3) for k in range(10)]
    # Spawned processes import the runner by name: the patch reaches them, not its effect.
    monkeypatch.setattr(local, "_run_job", batch_helpers.run_job_dying_on_part_3)
    with LocalEngine(BatchSettings(), workers=2) as engine:
        results = {r.job.part: r for r in engine.run(iter(jobs))}
    assert sorted(results) == list(range(10))
    assert "died twice" in results[3].error
    assert all(r.error is None for part, r in results.items() if part != 3)
