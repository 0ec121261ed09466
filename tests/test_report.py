"""The per-video HTML report: self-contained, and rendered in headless Chromium with each
face's thumbnail, timelines, shares and episodes table."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from ferkit.episodes import NO_FACE, EpisodeOptions, Recording, segment
from ferkit.faces import Face
from ferkit.imageio import example_path
from ferkit.report import Download, colour_of, render_report

sys.path.insert(0, str(Path(__file__).parent / "server"))
from browser_helpers import chromium, chromium_path  # noqa: E402

LABELS = ("happy", "angry", "sad", "neutral", "surprise")


def probs(label: str, p: float = 0.8) -> dict[str, float]:
    rest = (1 - p) / (len(LABELS) - 1)
    return {name: (p if name == label else rest) for name in LABELS}


def two_faces() -> Recording:
    """A 6 s stream at 10 fps of the astronaut photo twice: face 1 happy then surprise and
    away for 0.5 s, face 2 sad from 1 s on."""
    photo = cv2.imread(str(example_path("astronaut")))
    frame = np.zeros((240, 480, 3), np.uint8)
    frame[:, :240] = frame[:, 240:] = cv2.resize(photo, (240, 240))
    rec = Recording(LABELS)
    for k in range(60):
        faces = []
        if not 30 <= k < 35:
            faces.append(Face((60, 20, 180, 160), 0.9, track_id=1,
                              scores=probs("happy" if k < 40 else "surprise")))
        if k >= 10:
            faces.append(Face((300, 20, 420, 160), 0.8, track_id=2, scores=probs("sad", 0.6)))
        rec.add(k, k / 10, faces, frame)
    return rec


def render(rec: Recording) -> tuple[str, list]:
    episodes = segment(rec, EpisodeOptions())
    page = render_report(rec, episodes, title="séance <1>.mp4",
                         settings={"label set": "seed5", "minimum episode": "1 s"},
                         model={"model file": "fernet.onnx", "sha256": "0123456789ab"},
                         downloads=[Download("x.eaf", "ELAN", data=b"<eaf/>"),
                                    Download("x.frames.csv", "per frame", href="x.frames.csv")])
    return page, episodes


def test_the_report_is_one_self_contained_page():
    page, episodes = render(two_faces())
    assert "<script" not in page
    # No resource from anywhere: every src is inline; the only href to a file is relative.
    assert re.findall(r'src="(?!data:)', page) == []
    assert "http://" not in page and "https://" not in page
    assert page.count('<section class="face"') == 2
    assert page.count('<tr class="episode">') == len(episodes) == 4
    assert "séance &lt;1&gt;.mp4" in page  # escaped, never markup
    assert 'href="data:application/octet-stream;base64,PGVhZi8+"' in page
    assert 'href="x.frames.csv"' in page
    assert "ferkit version" in page and "0123456789ab" in page


def test_a_video_without_faces_says_so():
    rec = Recording(LABELS)
    for k in range(5):
        rec.add(k, k / 10, [])
    page = render_report(rec, [], title="empty.mp4", settings={}, model={})
    assert 'id="no-faces"' in page and '<section class="face"' not in page


@pytest.mark.skipif(chromium_path() is None,
                    reason="no chromium on PATH (Debian: apt-get install chromium)")
def test_the_report_renders_in_chromium(tmp_path):
    pytest.importorskip("playwright", reason="needs playwright (the dev extra)")
    rec = two_faces()
    page_html, episodes = render(rec)
    report = tmp_path / "rapport é.html"
    report.write_text(page_html, encoding="utf-8")
    requests: list[str] = []
    with chromium(None) as browser:
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        page.on("request", lambda r: requests.append(r.url))
        page.goto(report.as_uri())
        faces = page.eval_on_selector_all(
            "section.face", "els => els.map(e => e.querySelector('h2').textContent)")
        assert faces == ["Face 1", "Face 2"]
        thumbs = page.eval_on_selector_all(
            "img.thumb", "els => els.map(e => [e.complete, e.naturalWidth, e.naturalHeight])")
        assert thumbs == [[True, 82, 96]] * 2  # the 120x140 box at 96 px high, decoded
        bands = page.eval_on_selector_all(
            "#face-1 rect.band", "els => els.map(e => e.getBoundingClientRect().width)")
        assert len(bands) == 3 and all(w > 5 for w in bands)  # happy, no face, surprise
        areas = page.eval_on_selector_all("#face-2 polygon.area", "els => els.length")
        assert areas == len(LABELS)
        shares = page.eval_on_selector_all(
            "#face-1 g.share", "els => els.map(e => e.dataset.label)")
        assert shares == ["happy", "surprise", NO_FACE]
        rows = page.eval_on_selector_all("tr.episode", "els => els.length")
        assert rows == len(episodes)
        downloads = page.eval_on_selector_all("#downloads a", "els => els.map(e => e.download)")
        assert downloads == ["x.eaf", "x.frames.csv"]
        shot = page.screenshot(full_page=True)
    assert [u for u in requests if not u.startswith(("file:", "data:"))] == []
    image = cv2.imdecode(np.frombuffer(shot, np.uint8), cv2.IMREAD_COLOR)
    assert image.shape[1] == 1000 and image.shape[0] > 900
    for label in ("happy", "sad", "surprise"):  # each face's colours are painted
        rgb = tuple(int(colour_of(label)[i:i + 2], 16) for i in (1, 3, 5))
        painted = np.all(np.abs(image.astype(int) - rgb[::-1]) <= 3, axis=2).sum()
        assert painted > 2000, label
