"""A real `ferkit serve` under hostile clients: decompression bombs, slow headers, trickling
and dropped bodies, uploads past the shared byte budget, and a key in a WebSocket URL. The
server must stay responsive to /healthz and to a normal upload, and log one line per drop."""

from __future__ import annotations

import concurrent.futures
import os
import socket
import subprocess
import time

import httpx
import pytest
from clips import jpeg_bomb, png_bomb, write_video
from conftest import Server, start_server, stop_server

TIMEOUT_S = 2  # --client-timeout of these servers


def stop_and_read(server: Server) -> str:
    """Stop the server; everything it printed."""
    server.process.terminate()
    try:
        out, _ = server.process.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        server.process.kill()
        out, _ = server.process.communicate()
    return out.decode(errors="replace")


def peak_rss_mb(server: Server) -> float:
    """The server process's peak resident memory so far (Linux), in MB."""
    with open(f"/proc/{server.process.pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM in /proc status")


def slow_socket(server: Server, first: bytes) -> socket.socket:
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall(first)
    return sock


def closed_within(sock: socket.socket, seconds: float) -> bytes | None:
    """What the server sent before closing `sock` within `seconds` (b"" if nothing), or None
    if it was still open then. Keeps trickling a byte a second meanwhile, as a slow client."""
    deadline = time.monotonic() + seconds
    answer = b""
    sock.settimeout(1.0)
    while time.monotonic() < deadline:
        try:
            sock.sendall(b"x")
        except OSError:  # reset or broken pipe: the server closed it
            return answer
        try:
            data = sock.recv(4096)
        except TimeoutError:
            continue
        except OSError:
            return answer
        if not data:
            return answer
        answer += data
    return None


@pytest.fixture(scope="module")
def guarded():
    """A server with small budgets: one 16 MP bomb decodes at a time beside small photos."""
    srv = start_server("--client-timeout", str(TIMEOUT_S), "--max-image-mp", "16",
                       "--max-mp-in-flight", "20", "--max-concurrent", "4",
                       "--max-upload-mb", "1", "--max-upload-mb-in-flight", "2",
                       "--log-level", "info")
    yield srv
    stop_server(srv)


def test_responsive_under_bombs_and_slow_clients(guarded, photo_bytes):
    url = guarded.url
    assert httpx.post(url + "/v1/analyze", content=photo_bytes, timeout=60).status_code == 200
    baseline_mb = peak_rss_mb(guarded)  # the model is loaded now
    bombs = [png_bomb(4000, 4000), png_bomb(4000, 4000, rgb=False), jpeg_bomb(4000, 4000),
             jpeg_bomb(4000, 4000)]
    assert all(len(b) < 200_000 for b in bombs)  # kilobytes that decode to 16 MP each
    too_large = png_bomb(5000, 5000)  # 25 MP: over the limit
    # 200 slow clients, as in the issue: headers that never finish, bodies that trickle, and
    # bodies that trickle on after the answer (a bad option: 422 before the body is read).
    header = b"POST /v1/analyze HTTP/1.1\r\nHost: x\r\n"
    unread = b"POST /v1/analyze?label_set=zz HTTP/1.1\r\nHost: x\r\n"
    slow = [slow_socket(guarded, header[:20]) for _ in range(140)]
    slow += [slow_socket(guarded, header + b"Content-Length: 30000\r\n\r\n") for _ in range(30)]
    slow += [slow_socket(guarded, unread + b"Content-Length: 30000\r\n\r\n") for _ in range(30)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        started = time.monotonic()
        hostile = [pool.submit(httpx.post, url + "/v1/analyze", content=b, timeout=120)
                   for b in bombs]
        hostile.append(pool.submit(httpx.post, url + "/v1/analyze", timeout=60,
                                   content=too_large))
        normal = pool.submit(httpx.post, url + "/v1/analyze", content=photo_bytes, timeout=120)
        health = []
        while time.monotonic() - started < 1.5 or not health:  # slow clients still connected
            t = time.monotonic()
            assert httpx.get(url + "/healthz", timeout=10).status_code == 200
            health.append(time.monotonic() - t)
            time.sleep(0.1)
        closed = list(pool.map(lambda s: closed_within(s, TIMEOUT_S + 8), slow))
        answers = [f.result() for f in hostile]
        photo = normal.result()
    for sock in slow:
        sock.close()
    assert max(health) < 2.0, health
    assert photo.status_code == 200, photo.text
    assert [f["label"] for f in photo.json()["faces"]] == ["happy"]
    assert all(c is not None for c in closed), "a slow client was still connected"
    # Slow bodies are told why (408), unread ones got their answer; slow headers are closed.
    assert sum(b"408 Request Timeout" in c for c in closed if c) == 30
    assert sum(b"422 Unprocessable" in c for c in closed if c) == 30
    for answer in answers[:4]:  # each bomb decodes in its turn, or waits too long: never 500
        assert answer.status_code in (200, 503), answer.text
    assert answers[4].status_code == 413
    assert "over the 16 MP limit" in answers[4].json()["error"]
    # Decoding and analysing one 16 MP bomb costs about 0.6-1 GB here; with the pixel budget
    # lifted (--max-mp-in-flight 100) the four at once took 2.2 GB above the baseline.
    assert peak_rss_mb(guarded) - baseline_mb < 1400


def test_upload_bytes_in_flight_are_bounded(guarded, photo_bytes):
    # Two bodies of 0.9 MB fill the 2 MB budget; a third is refused before it is read.
    head = b"POST /v1/analyze HTTP/1.1\r\nHost: x\r\nContent-Length: 900000\r\n\r\n"
    holding = [slow_socket(guarded, head + b"\0" * 1000) for _ in range(2)]
    time.sleep(0.5)
    refused = httpx.post(guarded.url + "/v1/analyze", content=b"\0" * 900_000, timeout=30)
    assert refused.status_code == 503, refused.text
    assert "busy with other uploads" in refused.json()["error"]
    assert refused.headers["retry-after"]
    small = httpx.post(guarded.url + "/v1/analyze", content=photo_bytes, timeout=60)
    assert small.status_code == 200, small.text  # what is left still serves small photos
    for sock in holding:
        assert closed_within(sock, TIMEOUT_S + 8) is not None
        sock.close()


def test_logs_one_line_per_dropped_upload_and_masks_keys(photo_bytes):
    from websockets.sync.client import connect

    srv = start_server("--client-timeout", str(TIMEOUT_S), "--log-level", "info",
                       "--api-key", "s3cret-key")
    try:
        head = (b"POST /v1/%s HTTP/1.1\r\nHost: x\r\nX-API-Key: s3cret-key\r\n"
                b"Content-Length: 100000\r\n\r\nabc")
        for route in (b"analyze", b"videos", b"analyze"):
            sock = slow_socket(srv, head % route)
            time.sleep(0.3)
            sock.close()  # the client goes away mid-upload
        ws_url = srv.url.replace("http://", "ws://") + "/v1/stream?api_key=s3cret-key"
        with connect(ws_url):
            pass
    finally:
        output = stop_and_read(srv)
    assert "Traceback" not in output and "Exception" not in output, output
    assert output.count("the client went away during the upload") == 3, output
    assert "s3cret-key" not in output, output
    assert '"WebSocket /v1/stream?api_key=***" [accepted]' in output, output


def test_websocket_origin_check(server):
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    ws_url = server.url.replace("http://", "ws://") + "/v1/stream"
    with connect(ws_url, origin=server.url):  # the server's own page
        pass
    with connect(ws_url):  # not a browser: no Origin
        pass
    with pytest.raises(InvalidStatus) as refused:
        with connect(ws_url, origin="https://evil.example"):
            pass
    assert refused.value.response.status_code == 403

    allowing = start_server("--allow-origin", "https://app.example")
    try:
        ws_url = allowing.url.replace("http://", "ws://") + "/v1/stream"
        with connect(ws_url, origin="https://app.example"):
            pass
        with pytest.raises(InvalidStatus):
            with connect(ws_url, origin="https://evil.example"):
                pass
        # The allowed origin may call the HTTP API from its pages too (CORS).
        preflight = httpx.options(allowing.url + "/v1/analyze", headers={
            "Origin": "https://app.example", "Access-Control-Request-Method": "POST"})
        assert preflight.headers["access-control-allow-origin"] == "https://app.example"
    finally:
        stop_server(allowing)


@pytest.mark.parametrize(("options", "warned"), [
    (("--host", "0.0.0.0"), True),
    (("--host", "0.0.0.0", "--api-key", "k"), False),
    (("--host", "127.0.0.1"), False),
], ids=["any-address", "any-address-with-key", "loopback"])
def test_warning_for_an_open_server_on_the_network(options, warned):
    output = stop_and_read(start_server(*options))
    assert ("without --api-key: anyone who can reach this machine" in output) == warned, output


def test_a_killed_servers_uploads_are_removed_at_the_next_start(tmp_path):
    env = {"TMPDIR": str(tmp_path)}
    video = write_video(tmp_path / "clip.mp4", frames=60).read_bytes()
    first = start_server(env=env)
    for _ in range(3):  # one runs, two wait in the queue as files
        r = httpx.post(first.url + "/v1/videos", content=video, timeout=60)
        assert r.status_code == 202, r.text
    first.process.kill()
    first.process.wait()
    first.process.stdout.close()
    (left,) = tmp_path.glob("ferkit-videos-*")
    assert left.name.startswith(f"ferkit-videos-{first.process.pid}-")
    assert list(left.iterdir())  # uploads the killed server never analysed
    live = tmp_path / f"ferkit-videos-{os.getpid()}-other"  # a running server's: kept
    live.mkdir()
    second = start_server(env=env)
    try:
        assert not left.exists()
        assert live.exists()
    finally:
        stop_server(second)


def test_uploads_in_progress_hold_places_in_the_video_queue(tmp_path):
    # --max-queued-videos counts videos still being received: a client trickling a large
    # video holds the one place, so a second upload is refused before its body is read.
    video = write_video(tmp_path / "clip.mp4", frames=10).read_bytes()
    limited = start_server("--max-queued-videos", "1", "--client-timeout", str(TIMEOUT_S))
    try:
        head = (b"POST /v1/videos HTTP/1.1\r\nHost: x\r\nContent-Type: video/mp4\r\n"
                b"Content-Length: 5000000\r\n\r\n")
        holding = slow_socket(limited, head + video[:1000])
        time.sleep(0.5)
        refused = httpx.post(limited.url + "/v1/videos", content=video, timeout=30)
        assert refused.status_code == 503, refused.text
        assert "queue is full" in refused.json()["error"]
        assert closed_within(holding, TIMEOUT_S + 8) is not None  # the trickler is dropped
        holding.close()
        accepted = httpx.post(limited.url + "/v1/videos", content=video, timeout=30)
        assert accepted.status_code == 202, accepted.text  # and its place is free again
    finally:
        stop_server(limited)
