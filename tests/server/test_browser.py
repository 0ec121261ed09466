"""The browser page at / in headless Chromium against a real server, with a fake webcam.

Covered: live boxes and labels from a fake camera filming a face, a photo upload, a video job,
the API key field, the label-set selector, and the messages for a missing camera and a bad
photo.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("playwright", reason="the browser test needs playwright (the dev extra)")

from browser_helpers import chromium, chromium_path  # noqa: E402
from clips import write_video, write_y4m  # noqa: E402

from ferkit.imageio import example_path  # noqa: E402

if chromium_path() is None:
    pytest.skip("no chromium on PATH (Debian: apt-get install chromium)", allow_module_level=True)

WAIT_MS = 90_000  # the first frame loads the model; a busy 2-core machine is slow

#: Pixels of a canvas that are not fully transparent (the overlay) or that differ from black.
PAINTED = """id => {
  const c = document.getElementById(id);
  const data = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < data.length; i += 4) {
    if (data[i + 3] > 0 && (data[i] | data[i + 1] | data[i + 2])) n++;
  }
  return {painted: n, width: c.width, height: c.height};
}"""


@pytest.fixture(scope="module")
def camera(tmp_path_factory) -> Path:
    return write_y4m(tmp_path_factory.mktemp("camera") / "face.y4m")


def face_labels(page, list_id: str) -> list[str]:
    return page.eval_on_selector_all(f"#{list_id} .face .label",
                                      "items => items.map(item => item.textContent)")


def test_webcam_photo_and_video_through_a_keyed_server(keyed_server, camera, tmp_path):
    with chromium(camera) as browser:
        page = browser.new_page()
        page.goto(keyed_server.url + "/")  # the page itself needs no key

        # Without the key the stream is refused, and the page says why.
        page.click("#camera-start")
        error = page.wait_for_selector("#live-error:not([hidden])", timeout=WAIT_MS)
        assert "needs an API key" in error.text_content()

        page.fill("#api-key", "s3cret-key")
        page.dispatch_event("#api-key", "change")
        page.wait_for_selector("#live-faces .face .label", timeout=WAIT_MS)
        assert face_labels(page, "live-faces") == ["happy"]
        assert page.is_hidden("#live-error")
        page.wait_for_function("Number(document.body.dataset.liveFrames) >= 2",
                               timeout=WAIT_MS)  # frames keep flowing, one answer at a time
        last = page.evaluate("live.last")
        assert (last["width"], last["height"], last["label_set"]) == (640, 480, "seed5")
        ((x1, y1, x2, y2),) = [face["box_xyxy"] for face in last["faces"]]
        # The fake camera shows the 400 px photo at x 108-532, y 40-440; the face is in its top.
        assert 108 < x1 < x2 < 532 and 40 < y1 < y2 < 260
        overlay = page.evaluate(PAINTED, "overlay")
        assert (overlay["width"], overlay["height"]) == (640, 480)
        assert overlay["painted"] > 500  # a box and a label were drawn over the video

        # Another label set: the stream reconnects and answers in it.
        page.select_option("#label-set", "ferplus")
        page.wait_for_function("live.last && live.last.label_set === 'ferplus'",
                               timeout=WAIT_MS)
        page.wait_for_function(
            "document.querySelectorAll('#live-faces .face .bar-row').length === 8",
            timeout=WAIT_MS)

        page.set_input_files("#photo-file", str(example_path("astronaut")))
        page.wait_for_selector("#photo-faces .face .label", timeout=WAIT_MS)
        assert face_labels(page, "photo-faces") == ["happy"]
        assert page.text_content("#photo-status") == "1 face · 512x512"
        photo = page.evaluate(PAINTED, "photo-canvas")
        assert (photo["width"], photo["height"]) == (512, 512)
        assert photo["painted"] > 0.9 * 512 * 512  # the photo itself, with the box on it

        page.click("#camera-stop")
        assert page.text_content("#live-status") == "camera off"

        # A video file: queued as a job, polled until done, its tracks listed, CSV saved.
        page.fill("#video-every", "2")
        page.set_input_files("#video-file", str(write_video(tmp_path / "clip.mp4")))
        page.wait_for_selector("#video-tracks .track", timeout=WAIT_MS)
        assert page.text_content("#video-status") == "done: 5 frames, 5 faces in 1 track"
        assert page.text_content("#video-tracks") == "Face 1: happy in 5 of its 5 frames"
        with page.expect_download() as download:
            page.click("#video-csv")
        assert download.value.suggested_filename == "clip.csv"
        lines = Path(download.value.path()).read_text().splitlines()
        assert lines[0].startswith("frame,time_s,track_id,face,x1,")
        assert [line.split(",")[0] for line in lines[1:]] == ["0", "2", "4", "6", "8"]
        with page.expect_download() as download:
            page.click("#video-report")  # the job's report, saved with the API key's fetch
        assert download.value.suggested_filename == "clip.report.html"
        report = Path(download.value.path()).read_text(encoding="utf-8")
        assert report.count('<section class="face"') == 1 and 'download="clip.eaf"' in report


def test_no_camera_and_a_bad_photo_give_clear_messages(server, tmp_path):
    not_a_photo = tmp_path / "notes.jpg"
    not_a_photo.write_text("not a photo at all")
    with chromium(camera=None) as browser:
        page = browser.new_page()
        page.goto(server.url + "/")
        page.click("#camera-start")
        error = page.wait_for_selector("#live-error:not([hidden])", timeout=WAIT_MS)
        assert "No camera found" in error.text_content()
        assert page.is_enabled("#camera-start")  # the user may try again

        page.set_input_files("#photo-file", str(not_a_photo))
        error = page.wait_for_selector("#photo-error:not([hidden])", timeout=WAIT_MS)
        assert "not a readable image" in error.text_content()


def test_api_docs_work_offline_and_without_the_key(keyed_server):
    """/docs renders from the package's own Swagger UI files with every other host blocked,
    on a keyed server, and its Authorize dialog takes the key for "Try it out"."""
    outside: list[str] = []

    def only_the_server(route):
        if route.request.url.startswith(keyed_server.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with chromium(camera=None) as browser:
        page = browser.new_page()
        page.route("**/*", only_the_server)
        page.goto(keyed_server.url + "/docs")
        title = page.wait_for_selector(".swagger-ui .info .title", timeout=WAIT_MS)
        assert title.text_content().startswith("ferkit")
        page.wait_for_selector("#operations-default-analyze_v1_analyze_post", timeout=WAIT_MS)

        page.click(".swagger-ui .btn.authorize")
        dialog = page.wait_for_selector(".swagger-ui .auth-container", timeout=WAIT_MS)
        assert "X-API-Key" in dialog.text_content()
        page.fill(".swagger-ui .auth-container input", "s3cret-key")
        page.click(".swagger-ui .auth-container .btn.authorize")
        # Swagger UI now sends the key with every call it makes from this page.
        authorized = page.evaluate("ui.authSelectors.authorized().toJS()")
        assert authorized["ApiKey"]["value"] == "s3cret-key"
    assert outside == []  # nothing was fetched from anywhere else
