"""A clip with several real people (RAF-DB faces, tools/coding_clip.py) through
`ferkit video --episodes`: all exports opened by their own parsers, agreeing with each other
and with the per-frame table; the report rendered in headless Chromium."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from urllib.parse import unquote

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("FERKIT_DATASETS") or ROOT.parent / "shared" / "datasets")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (DATASETS / "rafdb" / "train_labels.csv").is_file(),
                       reason=f"RAF-DB not found under {DATASETS} (set FERKIT_DATASETS)"),
]
pd = pytest.importorskip("pandas", reason="needs pandas (the dev extra)")
pympi = pytest.importorskip("pympi", reason="needs pympi-ling (the dev extra)")
praatio_textgrid = pytest.importorskip("praatio.textgrid", reason="needs praatio (dev extra)")
pytest.importorskip("openpyxl", reason="needs openpyxl (the xlsx extra)")

SECONDS, FPS, PEOPLE = 12.0, 10.0, 3


def coding_clip():
    spec = importlib.util.spec_from_file_location("coding_clip", ROOT / "tools" / "coding_clip.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def coded(tmp_path_factory):
    """The clip, and `ferkit video --episodes` run on it once."""
    folder = tmp_path_factory.mktemp("réunion")
    clip = folder / "trois personnes.mp4"
    coding_clip().make_clip(clip, seconds=SECONDS, fps=FPS, people=PEOPLE, seed=1,
                            root=DATASETS / "rafdb")
    out = folder / "codage"
    code = run_cli(clip, out)
    assert code == 0
    return clip, out


def run_cli(clip: Path, out: Path) -> int:
    from ferkit.cli import main

    return main(["video", str(clip), "--episodes", str(out), "--no-progress",
                 "--out", str(out.parent / "rows.json")])


def test_every_export_agrees_on_faces_and_times(coded):
    clip, out = coded
    stem = clip.stem
    frames = pd.read_csv(out / f"{stem}.frames.csv")
    faces = sorted(set(frames.face_id))
    assert len(faces) >= PEOPLE  # three people at once (more ids if a track broke)
    # Several people at once. (The detector misses some RAF-DB photos for a while, which is
    # its own matter: this test is about the exports, so it asks for no more than this.)
    at_once = frames[frames.success == 1].groupby("frame").face_id.nunique()
    assert (at_once >= 2).mean() > 0.5 and (at_once == PEOPLE).any()
    tiers = [f"face {i}" for i in faces]
    episodes = pd.read_csv(out / f"{stem}.episodes.csv")

    eaf = pympi.Elan.Eaf(str(out / f"{stem}.eaf"))
    assert sorted(eaf.get_tier_names()) == sorted(tiers)
    assert (out / unquote(eaf.media_descriptors[0]["RELATIVE_MEDIA_URL"])).resolve() == \
        clip.resolve()
    grid = praatio_textgrid.openTextgrid(str(out / f"{stem}.TextGrid"), includeEmptyIntervals=True)
    assert sorted(grid.tierNames) == sorted(tiers)
    assert grid.maxTimestamp == pytest.approx(SECONDS, abs=0.01)
    boris = pd.read_csv(out / f"{stem}.boris.tsv", sep="\t", keep_default_na=False)
    xlsx = pd.read_excel(out / f"{stem}.boris.xlsx", keep_default_na=False)
    pd.testing.assert_frame_equal(boris, xlsx, check_dtype=False)
    for face_id in faces:
        own = episodes[episodes.face_id == face_id].sort_values("start_s")
        expected = [(round(a * 1000), round(b * 1000), label)
                    for a, b, label in zip(own.start_s, own.end_s, own.label, strict=True)]
        assert sorted(eaf.get_annotation_data_for_tier(f"face {face_id}")) == expected
        labelled = [(i.start, i.end, i.label) for i in grid.getTier(f"face {face_id}").entries
                    if i.label]
        assert [(round(a * 1000), round(b * 1000), t) for a, b, t in labelled] == expected
        starts = boris[(boris.subject == f"face {face_id}") & (boris.comment != "")]
        assert list(starts.code) == list(own.label)
        # The track's span in the frame table is where its episodes lie.
        rows = frames[frames.face_id == face_id]
        assert own.start_s.min() == pytest.approx(rows.timestamp.min(), abs=1e-3)
        assert own.frames.sum() == len(rows)
    emotion = episodes[~episodes.label.isin(["no face", "uncertain"])]
    assert set(emotion.label) <= {"happy", "angry", "sad", "neutral", "surprise"}
    assert len(set(emotion.label)) >= 3  # the photos change expression; the episodes follow


@pytest.mark.skipif(sys.platform == "win32", reason="Debian chromium")
def test_the_report_renders_in_chromium(coded):
    sys.path.insert(0, str(ROOT / "tests" / "server"))
    from browser_helpers import chromium, chromium_path

    if chromium_path() is None:
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium)")
    pytest.importorskip("playwright", reason="needs playwright (the dev extra)")
    clip, out = coded
    episodes = pd.read_csv(out / f"{clip.stem}.episodes.csv")
    with chromium(None) as browser:
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        page.goto((out / f"{clip.stem}.report.html").as_uri())
        ids = page.eval_on_selector_all("section.face", "els => els.map(e => e.id)")
        assert ids == [f"face-{i}" for i in sorted(set(episodes.face_id))]
        thumbs = page.eval_on_selector_all("img.thumb", "els => els.map(e => e.naturalWidth)")
        assert len(thumbs) == len(ids) and min(thumbs) > 40
        assert page.eval_on_selector_all("tr.episode", "els => els.length") == len(episodes)
        links = page.eval_on_selector_all("#downloads a", "els => els.map(e => e.href)")
        assert len(links) == 6
        for href in links:  # each links a file written beside the report
            assert Path(unquote(href.removeprefix("file://"))).is_file(), href
        shot = page.screenshot(full_page=True)
    image = cv2.imdecode(np.frombuffer(shot, np.uint8), cv2.IMREAD_COLOR)
    # Colour, not a blank page: the timelines paint large saturated areas.
    saturation = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)[..., 1]
    assert (saturation > 120).sum() > 20_000
