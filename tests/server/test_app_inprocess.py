"""Fast in-process checks of the app factory with a fake recognizer, and of `ferkit serve`."""

from __future__ import annotations

import asyncio
import threading

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402

from ferkit.cli import main  # noqa: E402
from ferkit.detect import DEFAULT_DETECTOR  # noqa: E402
from ferkit.faces import Face  # noqa: E402
from ferkit.server.app import create_app  # noqa: E402


class FakeRecognizer:
    """Answers one fixed face and records the thread each analysis ran on."""

    def __init__(self, detector: str):
        self.detector = detector
        self.threads: list[tuple[str, bool]] = []  # (thread name, ran on an event loop)
        self.tta: list[bool] = []  # the `tta` of each analysis

    def analyze(self, image, label_set="seed5", tta=True):
        self.tta.append(tta)
        try:
            asyncio.get_running_loop()
            on_loop = True
        except RuntimeError:
            on_loop = False
        self.threads.append((threading.current_thread().name, on_loop))
        return [Face(box_xyxy=(1.0, 2.0, 5.0, 6.0), detector_score=0.9,
                     scores={"happy": 0.8, "sad": 0.2})]


@pytest.fixture
def made() -> list[FakeRecognizer]:
    return []


def _client(made: list[FakeRecognizer]) -> TestClient:
    def factory(detector: str) -> FakeRecognizer:
        made.append(FakeRecognizer(detector))
        return made[-1]

    return TestClient(create_app(factory, max_upload_bytes=4096))


@pytest.fixture
def client(made) -> TestClient:
    return _client(made)


@pytest.fixture
def png_bytes() -> bytes:
    import cv2
    import numpy as np

    ok, encoded = cv2.imencode(".png", np.zeros((10, 20, 3), np.uint8))
    assert ok
    return encoded.tobytes()


def test_recognizers_are_lazy_one_per_detector_and_shared(client, made, png_bytes):
    assert made == []  # nothing built before the first request
    for _ in range(3):
        assert client.post("/v1/analyze", content=png_bytes).status_code == 200
    assert client.post("/v1/analyze?detector=haar", content=png_bytes).status_code == 200
    assert [r.detector for r in made] == [DEFAULT_DETECTOR, "haar"]
    assert len(made[0].threads) == 3


def test_the_stream_default_before_close_up_is_still_accepted(client, made, png_bytes):
    from ferkit.detect.spec import VIDEO_DETECTOR

    for spec in (VIDEO_DETECTOR, "retinaface:max_side=960,threads=1"):
        response = client.post("/v1/analyze", params={"detector": spec}, content=png_bytes)
        assert response.status_code == 200
    assert [r.detector for r in made] == [VIDEO_DETECTOR, "retinaface:max_side=960,threads=1"]


@pytest.mark.parametrize("photo_tta", [True, False])
def test_photos_are_read_as_photo_tta_says_and_stream_frames_once_unless_asked(
        monkeypatch, made, png_bytes, photo_tta):
    # Both settings of the constant, so that a photo read like a stream frame fails either way.
    monkeypatch.setattr("ferkit.recognizer.PHOTO_TTA", photo_tta)
    client = _client(made)
    for query in ("", "?tta=false", "?tta=true"):
        assert client.post("/v1/analyze" + query, content=png_bytes).status_code == 200
    with client.websocket_connect("/v1/stream") as ws:
        ws.send_bytes(png_bytes)
        assert ws.receive_json()["faces"]
    with client.websocket_connect("/v1/stream?tta=true") as ws:
        ws.send_bytes(png_bytes)
        assert ws.receive_json()["faces"]
    assert made[0].tta == [photo_tta, False, True, False, True]


def test_inference_runs_off_the_event_loop(client, made, png_bytes):
    client.post("/v1/analyze", content=png_bytes)
    ((name, on_loop),) = made[0].threads
    assert not on_loop
    assert name != threading.main_thread().name


def test_response_shape(client, png_bytes):
    body = client.post("/v1/analyze?label_set=fer2013", content=png_bytes).json()
    assert body["label_set"] == "fer2013"
    assert (body["width"], body["height"]) == (20, 10)
    assert body["faces"][0]["label"] == "happy"
    assert body["faces"][0]["box_xyxy"] == [1.0, 2.0, 5.0, 6.0]


def test_declared_content_length_over_limit_is_413(client):
    r = client.post("/v1/analyze", content=b"\0" * 5000)
    assert r.status_code == 413
    assert "too large" in r.json()["error"]


def test_only_a_readable_header_reserves_pixels(client, made, png_bytes, monkeypatch):
    from ferkit.server.limits import PixelBudget

    reserved = []
    reserve = PixelBudget.reserve

    def recording(self, pixels):
        reserved.append(pixels)
        return reserve(self, pixels)

    monkeypatch.setattr(PixelBudget, "reserve", recording)
    r = client.post("/v1/analyze", content=b"hello, not an image")
    assert r.status_code == 415 and "not a readable image" in r.json()["error"]
    assert reserved == []  # refused from its header, before the budget
    assert client.post("/v1/analyze", content=png_bytes).status_code == 200
    assert reserved == [20 * 10]  # what the header announces


def test_bad_query_is_rejected_before_building_a_recognizer(client, made, png_bytes):
    assert client.post("/v1/analyze?detector=boxes", content=png_bytes).status_code == 422
    assert made == []


def test_serve_is_a_command_and_checks_its_options(capsys, tmp_path, monkeypatch):
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    assert "--max-upload-mb" in capsys.readouterr().out
    assert main(["serve", "--max-upload-mb", "0"]) == 1
    assert "--max-upload-mb must be a positive finite number" in capsys.readouterr().err
    assert main(["serve", "--max-video-mb", "-1"]) == 1
    assert "--max-video-mb must be a positive finite number" in capsys.readouterr().err
    for bad in ("inf", "nan"):  # argparse's own error: exit status 2, one line
        with pytest.raises(SystemExit, match="2"):
            main(["serve", "--max-upload-mb", bad])
        assert f"give a finite number, not '{bad}'" in capsys.readouterr().err
    assert main(["serve", "--max-queued-videos", "0"]) == 1
    assert "--max-queued-videos must be at least 1" in capsys.readouterr().err
    assert main(["serve", "--model", "/nonexistent/model.onnx"]) == 1
    assert "no model file" in capsys.readouterr().err
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"not a model")
    import uvicorn

    def serve(*args, **kwargs):
        raise AssertionError("started serving a model that does not load")

    monkeypatch.setattr(uvicorn, "run", serve)
    assert main(["serve", "--model", str(corrupt), "--port", "0"]) == 1  # before serving
    err = capsys.readouterr().err
    assert "corrupt.onnx" in err and "serving on" not in err and len(err.splitlines()) == 1
    for option in ("--max-image-mp", "--max-mp-in-flight", "--max-upload-mb-in-flight",
                   "--client-timeout"):
        assert main(["serve", option, "0"]) == 1
        assert f"{option} must be a positive finite number" in capsys.readouterr().err
    assert main(["serve", "--max-image-mp", "60", "--max-mp-in-flight", "50"]) == 1
    assert "--max-mp-in-flight must be at least --max-image-mp" in capsys.readouterr().err
    assert main(["serve", "--max-upload-mb-in-flight", "10"]) == 1
    assert "at least --max-upload-mb" in capsys.readouterr().err
    for origin in ("example.org", "https://example.org/", "https://example.org/app"):
        assert main(["serve", "--allow-origin", origin]) == 1
        assert "give an origin such as https://example.org" in capsys.readouterr().err


@pytest.mark.parametrize(("limits", "message"), [
    ({"max_upload_bytes": 0}, "max_upload_bytes must be a positive finite number"),
    ({"client_timeout_s": -1.0}, "client_timeout_s must be a positive finite number"),
    ({"client_timeout_s": float("nan")}, "client_timeout_s must be a positive finite number"),
    ({"max_queued_videos": 0}, "max_queued_videos must be at least 1"),
    ({"max_image_pixels": 100, "max_pixels_in_flight": 50},
     "max_pixels_in_flight must be at least max_image_pixels"),
    ({"max_upload_bytes": 100, "max_upload_bytes_in_flight": 99},
     "max_upload_bytes_in_flight must be at least max_upload_bytes"),
])
def test_create_app_names_a_limit_that_makes_no_sense(limits, message):
    from ferkit.errors import FerkitError

    with pytest.raises(FerkitError, match=message):
        create_app(FakeRecognizer, **limits)


def test_a_bug_is_a_json_500_not_a_traceback(png_bytes):
    class Broken:
        def analyze(self, image, label_set="seed5", tta=True):
            raise ZeroDivisionError("bug")

    client = TestClient(create_app(lambda detector: Broken()), raise_server_exceptions=False)
    r = client.post("/v1/analyze", content=png_bytes)
    assert r.status_code == 500
    assert r.json() == {"error": "internal server error"}


def test_serve_reports_a_busy_port_in_one_line(capsys):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main(["serve", "--port", str(port)]) == 1
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err


def test_at_most_max_concurrent_analyses_run_at_once(png_bytes):
    import concurrent.futures
    import time

    lock = threading.Lock()
    running = [0, 0]  # now, peak

    class Slow:
        def analyze(self, image, label_set="seed5", tta=True):
            with lock:
                running[0] += 1
                running[1] = max(running)
            time.sleep(0.2)
            with lock:
                running[0] -= 1
            return []

    client = TestClient(create_app(lambda detector: Slow(), max_concurrent=2))
    with client, concurrent.futures.ThreadPoolExecutor(5) as workers:
        codes = list(workers.map(
            lambda _: client.post("/v1/analyze", content=png_bytes).status_code, range(5)))
    assert codes == [200] * 5
    assert running[1] == 2


def test_multipart_files_over_one_megabyte_are_fine(made, png_bytes):
    # Starlette's form parser caps non-file parts at 1 MB; files up to our own limit must pass.
    client = TestClient(create_app(lambda detector: made.append(FakeRecognizer(detector))
                                   or made[-1], max_upload_bytes=4 * 1024 * 1024))
    padded = png_bytes + b"\0" * (2 * 1024 * 1024)
    r = client.post("/v1/analyze", files={"file": ("big.png", padded, "image/png")})
    assert r.status_code == 200, r.text
