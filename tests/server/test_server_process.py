"""A real `ferkit serve` process, driven over HTTP with httpx."""

from __future__ import annotations

import io

import httpx
import numpy as np
import pytest
from clips import png_header
from PIL import Image

from ferkit.labels import LABEL_SETS


def post(server, path="/v1/analyze", **kwargs) -> httpx.Response:
    return httpx.post(server.url + path, timeout=60.0, **kwargs)


def assert_error(response: httpx.Response, status: int, fragment: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert fragment in response.json()["error"]


def test_healthz(server):
    r = httpx.get(server.url + "/healthz")
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


def test_analyze_multipart_example_photo(server, photo_bytes):
    r = post(server, files={"file": ("photo.jpg", photo_bytes, "image/jpeg")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["width"], body["height"], body["label_set"]) == (512, 512, "seed5")
    assert len(body["faces"]) == 1
    face = body["faces"][0]
    assert face["label"] == "happy"
    assert set(face["scores"]) == set(LABEL_SETS["seed5"])
    x1, y1, x2, y2 = face["box_xyxy"]
    assert 0 <= x1 < x2 <= 512 and 0 <= y1 < y2 <= 512


@pytest.mark.parametrize("label_set", ["fer2013", "ferplus"])
def test_analyze_raw_body_with_label_set_and_haar(server, photo_bytes, label_set):
    r = post(server, params={"label_set": label_set, "detector": "haar"}, content=photo_bytes,
             headers={"content-type": "application/octet-stream"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["label_set"] == label_set
    assert len(body["faces"]) == 1
    assert set(body["faces"][0]["scores"]) == set(LABEL_SETS[label_set])
    assert body["faces"][0]["label"] == "happy"


def test_png_without_a_face_gives_no_faces(server):
    buffer = io.BytesIO()
    Image.fromarray(np.full((64, 96, 3), 128, np.uint8)).save(buffer, "PNG")
    r = post(server, content=buffer.getvalue(), headers={"content-type": "image/png"})
    assert r.status_code == 200, r.text
    assert r.json() == {"faces": [], "label_set": "seed5", "width": 96, "height": 64}


def test_content_is_checked_not_the_name(server, photo_bytes):
    # A real JPEG under a misleading name and type is fine; text called .jpg is not.
    r = post(server, files={"file": ("notes.txt", photo_bytes, "text/plain")})
    assert r.status_code == 200, r.text
    r = post(server, files={"file": ("photo.jpg", b"just some text", "image/jpeg")})
    assert_error(r, 415, "not a readable image")


@pytest.mark.parametrize(("kwargs", "status", "fragment"), [
    ({"content": b""}, 400, "empty request"),
    ({"files": {"file": ("empty.jpg", b"", "image/jpeg")}}, 400, "empty"),
    ({"files": {"picture": ("a.jpg", b"\xff\xd8", "image/jpeg")}}, 400, "'file'"),
    ({"content": b"hello, not an image"}, 415, "not a readable image"),
    ({"content": b"\xff\xd8\xff\xe0" + b"\0" * 100}, 415, "not a readable image"),
    ({"content": b"\0" * (1024 * 1024 + 1)}, 413, "too large"),
    ({"files": {"file": ("big.jpg", b"\0" * (1024 * 1024 + 1), "image/jpeg")}}, 413,
     "too large"),
    ({"content": png_header(12_000, 10_000)}, 413, "over the 50 MP limit"),
    ({"content": png_header(30_000, 30_000)}, 413, "too large"),
], ids=["empty-body", "empty-file", "no-file-field", "text", "truncated-jpeg", "too-large-raw",
        "too-large-multipart",
        "120-megapixels", "900-megapixels"])
def test_bad_uploads(server, kwargs, status, fragment):
    assert_error(post(server, **kwargs), status, fragment)


@pytest.mark.parametrize(("params", "fragment"), [
    ({"label_set": "emotions7"}, "unknown label set 'emotions7'"),
    ({"detector": "boxes"}, "unknown detector 'boxes'"),
    ({"detector": "yolo"}, "unknown detector 'yolo'"),
])
def test_bad_options(server, photo_bytes, params, fragment):
    assert_error(post(server, params=params, content=photo_bytes), 422, fragment)


def test_unknown_route_and_method(server):
    assert_error(httpx.get(server.url + "/v1/nothing"), 404, "Not Found")
    assert_error(httpx.get(server.url + "/v1/analyze"), 405, "Method Not Allowed")


def test_openapi_docs(server):
    assert httpx.get(server.url + "/docs").status_code == 200
    spec = httpx.get(server.url + "/openapi.json").json()
    assert {"/v1/analyze", "/v1/videos", "/v1/videos/{job_id}"} <= set(spec["paths"])
    assert "/" not in spec["paths"]  # the browser page is not part of the API


def test_api_key(keyed_server, photo_bytes):
    url = keyed_server.url
    assert httpx.get(url + "/healthz").status_code == 200
    assert_error(httpx.post(url + "/v1/analyze", content=photo_bytes), 401, "API key")
    assert_error(httpx.post(url + "/v1/analyze", content=photo_bytes,
                            headers={"X-API-Key": "wrong"}), 401, "API key")
    assert httpx.get(url + "/docs").status_code == 200  # the docs take the key for "Try it"
    r = httpx.post(url + "/v1/analyze", content=photo_bytes, timeout=60.0,
                   headers={"X-API-Key": "s3cret-key"})
    assert r.status_code == 200, r.text
    assert [f["label"] for f in r.json()["faces"]] == ["happy"]
    r = httpx.post(url + "/v1/analyze", content=photo_bytes, timeout=60.0,
                   headers={"Authorization": "Bearer s3cret-key"})
    assert r.status_code == 200, r.text


def test_browser_page_needs_no_key_but_the_api_does(keyed_server):
    url = keyed_server.url
    page = httpx.get(url + "/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script src="/static/app.js">' in page.text
    for asset, kind in (("app.js", "javascript"), ("style.css", "text/css")):
        r = httpx.get(f"{url}/static/{asset}")
        assert r.status_code == 200 and kind in r.headers["content-type"]
    assert_error(httpx.get(url + "/static/nothing.js"), 404, "Not Found")
    spec = httpx.get(url + "/openapi.json").json()  # public, and it says the API needs a key
    assert spec["components"]["securitySchemes"]["ApiKey"]["name"] == "X-API-Key"
    assert spec["paths"]["/v1/analyze"]["post"]["security"] == [{"ApiKey": []}]
    assert "security" not in spec["paths"]["/healthz"]["get"]


def test_concurrent_requests(server, photo_bytes):
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: post(server, content=photo_bytes), range(6)))
    assert all(r.status_code == 200 for r in responses)
    assert {r.json()["faces"][0]["label"] for r in responses} == {"happy"}
