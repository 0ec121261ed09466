"""WebSocket /v1/stream: in-process with a slow fake recognizer, and against a real server."""

from __future__ import annotations

import json
import threading
import time

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi.testclient import TestClient  # noqa: E402
from starlette.websockets import WebSocketDisconnect  # noqa: E402

from ferkit.faces import Face  # noqa: E402
from ferkit.server.app import create_app  # noqa: E402


class GatedRecognizer:
    """Blocks each analysis until the test opens the gate, so frames pile up meanwhile."""

    def __init__(self):
        self.gate = threading.Event()
        self.started = threading.Event()
        self.calls = 0

    def analyze(self, image, label_set="seed5", tta=True):
        self.calls += 1
        self.started.set()
        assert self.gate.wait(10)
        return [Face(box_xyxy=(0.0, 0.0, 4.0, 4.0), detector_score=1.0, scores={"happy": 1.0})]


@pytest.fixture
def png_bytes() -> bytes:
    import cv2
    import numpy as np

    ok, encoded = cv2.imencode(".png", np.zeros((8, 8, 3), np.uint8))
    assert ok
    return encoded.tobytes()


def test_frames_arriving_while_busy_are_dropped(png_bytes):
    recognizer = GatedRecognizer()
    client = TestClient(create_app(lambda detector: recognizer))
    with client.websocket_connect("/v1/stream") as ws:
        ws.send_bytes(png_bytes)  # frame 0: being analysed, held at the gate
        assert recognizer.started.wait(10)
        for _ in range(5):  # frames 1-5 arrive while busy: only the newest survives
            ws.send_bytes(png_bytes)
        ws.send_text("sync")  # frame 6 (an error answer); replaces frame 5 as the newest
        time.sleep(0.3)  # let the reader task take every frame before the gate opens
        recognizer.gate.set()
        first = ws.receive_json()
        second = ws.receive_json()
    assert (first["frame"], first["dropped"], first["faces"][0]["label"]) == (0, 0, "happy")
    assert (second["frame"], second["dropped"]) == (6, 5)
    assert "binary" in second["error"]
    assert recognizer.calls == 1


def test_frames_count_against_the_servers_upload_budget(png_bytes):
    # The budget holds one and a half frames: while stream A's frame is analysed, stream B's
    # frame does not fit and is answered "busy"; once A's is done, B's next frame is analysed.
    size = len(png_bytes)
    recognizer = GatedRecognizer()
    client = TestClient(create_app(lambda detector: recognizer, max_upload_bytes=size,
                                   max_upload_bytes_in_flight=size + size // 2))
    with client.websocket_connect("/v1/stream") as a, client.websocket_connect("/v1/stream") as b:
        a.send_bytes(png_bytes)
        assert recognizer.started.wait(10)
        b.send_bytes(png_bytes)
        busy = b.receive_json()
        assert (busy["frame"], "busy with other uploads" in busy["error"]) == (0, True)
        recognizer.gate.set()
        assert a.receive_json()["faces"][0]["label"] == "happy"
        b.send_bytes(png_bytes)
        answer = b.receive_json()
        assert (answer["frame"], answer["faces"][0]["label"]) == (1, "happy")


def test_bad_frames_get_errors_and_the_stream_goes_on(png_bytes):
    client = TestClient(create_app(lambda detector: GatedRecognizer(), max_upload_bytes=1000))
    with client.websocket_connect("/v1/stream") as ws:
        ws.send_bytes(b"not an image")
        assert "not a readable image" in ws.receive_json()["error"]
        ws.send_bytes(b"\0" * 1001)
        assert "too large" in ws.receive_json()["error"]


def test_bad_options_and_api_key():
    client = TestClient(create_app(lambda detector: GatedRecognizer(), api_key="k"))
    with pytest.raises(WebSocketDisconnect) as info:
        with client.websocket_connect("/v1/stream") as ws:
            ws.receive_json()
    assert info.value.code == 1008
    with client.websocket_connect("/v1/stream?api_key=k&detector=yolo") as ws:
        assert "unknown detector 'yolo'" in ws.receive_json()["error"]


def test_api_key_as_subprotocol_for_browsers(png_bytes):
    client = TestClient(create_app(lambda detector: GatedRecognizer(), api_key="clé k"))
    good = ["ferkit", "ferkit.key." + "clé k".encode().hex()]
    with client.websocket_connect("/v1/stream?detector=yolo", subprotocols=good) as ws:
        assert ws.accepted_subprotocol == "ferkit"  # browsers need one of theirs chosen
        assert "unknown detector" in ws.receive_json()["error"]
    for bad in (["ferkit", "ferkit.key." + b"wrong".hex()], ["ferkit", "ferkit.key.zz"]):
        with pytest.raises(WebSocketDisconnect) as info:
            with client.websocket_connect("/v1/stream", subprotocols=bad) as ws:
                ws.receive_json()
        assert info.value.code == 1008


def test_real_server_stream(server, photo_bytes):
    websockets_sync = pytest.importorskip("websockets.sync.client")
    url = server.url.replace("http://", "ws://") + "/v1/stream?label_set=ferplus"
    with websockets_sync.connect(url, open_timeout=10) as ws:
        for _ in range(3):
            ws.send(photo_bytes)
        answers = []
        while not answers or answers[-1]["frame"] < 2:
            answers.append(json.loads(ws.recv(timeout=60)))
    # Frame 0 itself may be dropped if frame 1 arrives before the server picks it up.
    assert answers[0]["frame"] == answers[0]["dropped"]
    assert sum(1 + a["dropped"] for a in answers) == 3
    for answer in answers:
        assert answer["label_set"] == "ferplus"
        assert [f["label"] for f in answer["faces"]] == ["happy"]
