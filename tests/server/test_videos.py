"""Video jobs: POST /v1/videos, GET /v1/videos/{id}, against a real server and in-process."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import pytest

from ferkit.imageio import example_path

pytest.importorskip("fastapi")

from clips import png_header, write_video  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from ferkit.detect.spec import VIDEO_DETECTOR  # noqa: E402
from ferkit.faces import Face  # noqa: E402
from ferkit.server.app import create_app  # noqa: E402


def wait_done(get, job_id: str, timeout_s: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        body = get(f"/v1/videos/{job_id}").json()
        if body["status"] in ("done", "failed"):
            return body
        assert body["status"] in ("queued", "running")
        time.sleep(0.1)
    pytest.fail(f"video job {job_id} not finished after {timeout_s} s: {body}")


def assert_error(response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert fragment in response.json()["error"]


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "astronaut.mp4")


def test_video_job_matches_ferkit_video_csv(server, video, tmp_path):
    get = lambda path: httpx.get(server.url + path, timeout=30.0)  # noqa: E731
    r = httpx.post(server.url + "/v1/videos", params={"label_set": "ferplus", "every": 2},
                   files={"file": ("clip.mp4", video.read_bytes(), "video/mp4")}, timeout=30.0)
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/v1/videos/{job['id']}"
    assert job["status"] in ("queued", "running")
    assert (job["frames_total"], job["filename"], job["every"], job["redetect_every"],
            job["detector"]) == (5, "clip.mp4", 2, 5, VIDEO_DETECTOR)  # `ferkit video`'s defaults

    body = wait_done(get, job["id"])
    assert body["status"] == "done", body
    assert (body["progress"], body["frames_done"], body["tracks"]) == (1.0, 5, 1)
    assert [row["frame"] for row in body["rows"]] == [0, 2, 4, 6, 8]
    assert {row["label"] for row in body["rows"]} == {"happy"}
    assert {row["track_id"] for row in body["rows"]} == {1}
    assert set(body["rows"][0]) >= {"time_s", "x1", "y2", "detector_score", "contempt"}

    csv_response = get(f"/v1/videos/{job['id']}?format=csv")
    assert csv_response.status_code == 200
    assert csv_response.headers["content-type"].startswith("text/csv")
    # The same video through `ferkit video --csv` with the same options: the same bytes.
    out = tmp_path / "cli.csv"
    subprocess.run([sys.executable, "-m", "ferkit.cli", "video", str(video), "--csv",
                    "--label-set", "ferplus", "--every", "2", "--no-progress", "--out", str(out)],
                   check=True, capture_output=True)
    assert csv_response.content == out.read_bytes()


def test_raw_body_upload_and_a_video_without_faces(server, tmp_path):
    path = tmp_path / "gray.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5.0, (64, 48))
    for _ in range(3):
        writer.write(np.full((48, 64, 3), 128, np.uint8))
    writer.release()
    r = httpx.post(server.url + "/v1/videos", content=path.read_bytes(), timeout=30.0)
    assert r.status_code == 202, r.text
    body = wait_done(lambda p: httpx.get(server.url + p, timeout=30.0), r.json()["id"])
    assert (body["status"], body["frames_done"], body["rows"], body["faces"]) == \
        ("done", 3, [], 0)
    csv_text = httpx.get(server.url + f"/v1/videos/{body['id']}?format=csv").text
    assert csv_text.strip() == ("frame,time_s,track_id,face,x1,y1,x2,y2,detector_score,"
                                "yaw_deg,pitch_deg,roll_deg,label,"
                                "happy,angry,sad,neutral,surprise")


@pytest.mark.parametrize(("kwargs", "status", "fragment"), [
    ({"content": b""}, 400, "empty request"),
    ({"files": {"file": ("a.mp4", b"", "video/mp4")}}, 400, "empty"),
    ({"files": {"video": ("a.mp4", b"\0\0", "video/mp4")}}, 400, "'file'"),
    ({"content": b"hello, this is text and not a video " * 20}, 415, "not a video"),
    ({"files": {"file": ("clip.mp4", example_path().read_bytes(), "video/mp4")}}, 415,
     "still image (JPEG)"),
    ({"content": b"YUV4MPEG2 W12000 H10000 F10:1 Ip A1:1 C420jpeg\nFRAME\n" + b"\0" * 1000},
     413, "12000x10000, over the 100 MP limit"),
    ({"content": png_header(30_000, 30_000)}, 413, "huge still image"),
    ({"params": {"label_set": "emotions"}, "content": b"x"}, 422, "unknown label set"),
    ({"params": {"detector": "boxes"}, "content": b"x"}, 422, "unknown detector"),
    ({"params": {"every": 0}, "content": b"x"}, 422, "every"),
    ({"params": {"redetect_every": "x"}, "content": b"x"}, 422, "redetect_every"),
], ids=["empty-body", "empty-file", "no-file-field", "text", "jpeg", "120-megapixel-frames",
        "png-bomb", "label-set", "detector", "every-0", "redetect-every-x"])
def test_bad_uploads(server, kwargs, status, fragment):
    assert_error(httpx.post(server.url + "/v1/videos", timeout=30.0, **kwargs), status,
                 fragment)


def test_unknown_job_and_bad_format(server, video):
    assert_error(httpx.get(server.url + "/v1/videos/nope"), 404, "no video job 'nope'")
    assert_error(httpx.get(server.url + "/v1/videos/nope?format=xml"), 422, "unknown format")


def test_a_truncated_video_fails_with_one_line(server, tmp_path):
    # MJPEG in AVI decodes up to the cut, then stops well short of the frames it declares.
    path = write_video(tmp_path / "cut.avi", frames=30, fourcc="MJPG", size=96)
    data = path.read_bytes()
    r = httpx.post(server.url + "/v1/videos", content=data[:len(data) // 3], timeout=30.0)
    assert r.status_code == 202, r.text
    body = wait_done(lambda p: httpx.get(server.url + p, timeout=30.0), r.json()["id"])
    assert body["status"] == "failed"
    assert "truncated" in body["error"] and "\n" not in body["error"]
    assert "/tmp" not in body["error"] and "ferkit-videos" not in body["error"]
    assert "rows" not in body
    assert_error(httpx.get(server.url + f"/v1/videos/{body['id']}?format=csv"), 409, "failed")


def test_api_key_applies(keyed_server, video):
    url = keyed_server.url
    assert_error(httpx.post(url + "/v1/videos", content=video.read_bytes()), 401, "API key")
    assert_error(httpx.get(url + "/v1/videos/x"), 401, "API key")
    r = httpx.post(url + "/v1/videos", content=video.read_bytes(), timeout=30.0,
                   headers={"X-API-Key": "s3cret-key"})
    assert r.status_code == 202, r.text
    assert_error(httpx.get(url + f"/v1/videos/{r.json()['id']}", headers={"X-API-Key": "no"}),
                 401, "API key")


class GatedRecognizer:
    """Holds every frame at a gate so that the queue fills up while the first video runs."""

    def __init__(self):
        self.gate = threading.Event()
        self.started = threading.Event()

    def analyze(self, image, label_set="seed5", **options):
        self.started.set()
        assert self.gate.wait(30)
        return [Face(box_xyxy=(0.0, 0.0, 8.0, 8.0), detector_score=1.0, scores={"happy": 1.0})]


def test_the_queue_is_bounded_and_uploads_are_deleted(video):
    recognizer = GatedRecognizer()
    app = create_app(lambda detector: recognizer, max_queued_videos=1)
    upload_dir = app.state.videos.upload_dir
    data = video.read_bytes()
    with TestClient(app) as client:
        running = client.post("/v1/videos?every=5", content=data)
        assert running.status_code == 202
        assert recognizer.started.wait(10)  # the worker took it: the queue is empty again
        queued = client.post("/v1/videos?every=5", content=data)
        assert queued.status_code == 202
        assert queued.json()["status"] == "queued"
        full = client.post("/v1/videos", content=data)
        assert_error(full, 503, "queue is full")
        assert full.headers["retry-after"] == "30"
        assert len(list(upload_dir.iterdir())) == 2  # the refused upload is gone already
        status = client.get(f"/v1/videos/{running.json()['id']}").json()
        assert (status["status"], status["frames_total"], status["frames_done"],
                status["progress"]) == ("running", 2, 0, 0.0)

        recognizer.gate.set()
        for job in (running, queued):
            body = wait_done(client.get, job.json()["id"], 30)
            assert (body["status"], body["frames_done"], body["faces"]) == ("done", 2, 2)
        assert list(upload_dir.iterdir()) == []  # each upload deleted once analysed
    assert not upload_dir.exists()  # and the folder at shutdown


def test_shutdown_fails_waiting_jobs_and_removes_their_files(video):
    recognizer = GatedRecognizer()
    app = create_app(lambda detector: recognizer, max_queued_videos=2)
    with TestClient(app) as client:
        first = client.post("/v1/videos", content=video.read_bytes()).json()["id"]
        assert recognizer.started.wait(10)
        second = client.post("/v1/videos", content=video.read_bytes()).json()["id"]
        # Open the gate once shutdown has begun: the running frame ends, and no other starts.
        threading.Timer(1.0, recognizer.gate.set).start()
        jobs = app.state.videos
    assert not jobs.upload_dir.exists()
    assert (jobs.get(first).status, jobs.get(second).status) == ("failed", "failed")
    assert "shut down while analysing" in jobs.get(first).error
    assert "shut down before analysing" in jobs.get(second).error


def test_large_uploads_are_refused_while_streaming(video):
    app = create_app(lambda detector: GatedRecognizer(), max_video_bytes=1000)
    with TestClient(app) as client:
        assert_error(client.post("/v1/videos", content=video.read_bytes()), 413, "too large")

        def chunks():  # no Content-Length: the limit must be enforced as the body arrives
            yield video.read_bytes()[:800]
            yield video.read_bytes()[800:1600]

        assert_error(client.post("/v1/videos", content=chunks()), 413, "too large")
        assert_error(client.post("/v1/videos", files={"file": ("a.mp4", video.read_bytes())}),
                     413, "too large")
        assert list(app.state.videos.upload_dir.iterdir()) == []


def test_finished_jobs_are_forgotten_beyond_a_count_or_a_row_budget(tmp_path):
    from ferkit.server.jobs import DONE, VideoJob, VideoJobs
    from ferkit.video import StreamOptions

    jobs = VideoJobs(lambda detector: None, keep_finished=3, keep_rows=100)
    for k, rows in enumerate([10, 10, 10, 10, 60, 50, 200]):
        job = VideoJob(f"j{k}", tmp_path / f"j{k}", StreamOptions(), rows=[{}] * rows)
        jobs._jobs[job.id] = job
        jobs._finish(job, DONE)
        kept = [j for j in ("j0", "j1", "j2", "j3", "j4", "j5", "j6") if jobs.get(j)]
        if k == 3:
            assert kept == ["j1", "j2", "j3"]  # three finished jobs at most
        if k == 5:
            assert kept == ["j5"]  # 50 + 60 rows are over the budget of 100
    assert kept == ["j6"]  # the newest is kept even when it alone is over the budget
