"""`ferkit video --episodes DIR` and `ferkit report`: the shipped model on small clips, the
exports read back by their own parsers, at unicode paths, with --every N, and without faces."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import cv2
import media_helpers
import numpy as np
import pytest
from cli_helpers import run

from ferkit.imageio import example_path

pd = pytest.importorskip("pandas", reason="needs pandas (the dev extra)")
pympi = pytest.importorskip("pympi", reason="needs pympi-ling (the dev extra)")
praatio_textgrid = pytest.importorskip("praatio.textgrid", reason="needs praatio (dev extra)")

FPS = 10.0


def face_frames(n: int = 30, away: range = range(12, 16)) -> list[np.ndarray]:
    """The astronaut photo at 240 px on a grey frame, drifting right; gone in `away`."""
    photo = cv2.resize(cv2.imread(str(example_path("astronaut"))), (240, 240))
    frames = []
    for k in range(n):
        frame = np.full((260, 400, 3), 90, np.uint8)
        if k not in away:
            frame[10:250, 20 + 2 * k:260 + 2 * k] = photo
        frames.append(frame)
    return frames


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("vidéos") / "séance 表情"
    return media_helpers.write_video(folder / "entretien 1.mp4", face_frames(), FPS)


def test_video_episodes_writes_every_export_and_the_report(capsys, clip, tmp_path):
    out = tmp_path / "épisodes"
    code, _, err = run(capsys, "video", clip, "--episodes", out, "--out", tmp_path / "rows.csv",
                       "--csv", "--no-progress", "--redetect-every", "1", "--min-episode", "0.5")
    assert code == 0, err
    stem = clip.stem
    assert sorted(p.name for p in out.iterdir()) == sorted(
        f"{stem}{suffix}" for suffix in (".eaf", ".TextGrid", ".boris.tsv", ".boris.xlsx",
                                         ".frames.csv", ".episodes.csv", ".report.html"))
    frames = pd.read_csv(out / f"{stem}.frames.csv")
    found = frames[frames.success == 1]
    assert sorted(set(found.frame)) == [k for k in range(30) if k not in range(12, 16)]
    assert np.allclose(frames.timestamp, frames.frame / FPS)
    tracks = sorted(set(frames.face_id))
    assert len(tracks) == 1  # the face left for 4 frames and came back on the same track
    lost = frames[frames.success == 0]
    assert list(lost.frame) == [12, 13, 14, 15]

    eaf = pympi.Elan.Eaf(str(out / f"{stem}.eaf"))
    assert list(eaf.get_tier_names()) == ["face 1"]
    annotations = sorted(eaf.get_annotation_data_for_tier("face 1"))
    assert ("no face" in [a[2] for a in annotations])
    assert (annotations[0][0], annotations[-1][1]) == (0, 3000)
    gap = next(a for a in annotations if a[2] == "no face")
    assert gap[:2] == (1200, 1600)
    assert Path(eaf.media_descriptors[0]["MEDIA_URL"]) != clip  # a URL, not a bare path
    assert eaf.media_descriptors[0]["MEDIA_URL"] == clip.resolve().as_uri()

    grid = praatio_textgrid.openTextgrid(str(out / f"{stem}.TextGrid"), includeEmptyIntervals=True)
    assert grid.tierNames == ("face 1",) and grid.maxTimestamp == pytest.approx(3.0)
    boris = pd.read_csv(out / f"{stem}.boris.tsv", sep="\t", keep_default_na=False)
    assert set(boris.subject) == {"face 1"} and len(boris) == 2 * len(annotations)
    report = (out / f"{stem}.report.html").read_text(encoding="utf-8")
    assert report.count('<section class="face"') == 1 and f'href="{quote(stem)}.eaf"' in report


def test_every_n_gives_true_times(capsys, clip, tmp_path):
    out = tmp_path / "out"
    code, _, err = run(capsys, "video", clip, "--episodes", out, "--every", "3",
                       "--no-progress", "--out", tmp_path / "rows.json")
    assert code == 0, err
    frames = pd.read_csv(out / f"{clip.stem}.frames.csv")
    assert set(frames.frame) <= set(range(0, 30, 3))
    assert np.allclose(frames.timestamp, frames.frame / FPS)
    episodes = pd.read_csv(out / f"{clip.stem}.episodes.csv")
    # The last analysed frame (27) lasts one stride, 0.3 s: the episodes end at 3.0 s.
    assert episodes.start_s.min() == 0 and episodes.end_s.max() == pytest.approx(3.0)


def test_a_clip_without_faces_gives_empty_valid_exports(capsys, tmp_path):
    blank = media_helpers.write_video(tmp_path / "vide.mp4",
                                      [np.full((120, 160, 3), 90, np.uint8)] * 8, FPS)
    out = tmp_path / "out"
    code, _, err = run(capsys, "video", blank, "--episodes", out, "--no-progress",
                       "--out", tmp_path / "rows.json")
    assert code == 0, err
    assert list(pympi.Elan.Eaf(str(out / "vide.eaf")).get_tier_names()) == []
    grid = praatio_textgrid.openTextgrid(str(out / "vide.TextGrid"), includeEmptyIntervals=True)
    assert grid.tierNames == () and grid.maxTimestamp == pytest.approx(0.8)
    assert pd.read_csv(out / "vide.boris.tsv", sep="\t").empty
    assert pd.read_csv(out / "vide.frames.csv").empty
    assert 'id="no-faces"' in (out / "vide.report.html").read_text(encoding="utf-8")


def test_report_command_writes_one_page_with_the_exports_inside(capsys, clip, tmp_path):
    report = tmp_path / "rapport.html"
    code, _, err = run(capsys, "report", clip, "--out", report, "--no-progress",
                       "--margin", "0.2")
    assert code == 0, err
    page = report.read_text(encoding="utf-8")
    assert page.count('<section class="face"') == 1
    assert f'download="{clip.stem}.eaf"' in page and "data:application/xml;base64," in page
    assert "<td>0.2</td>" in page  # the settings used are listed
    assert [p.name for p in tmp_path.iterdir()] == ["rapport.html"]  # nothing else written


@pytest.mark.parametrize("argv, message", [
    (["--min-episode", "-1"], "minimum episode duration"),
    (["--margin", "2"], "margin must be in"),
    (["--uncertain-below", "1.5"], "uncertain threshold"),
])
def test_bad_episode_options_are_one_line_errors(capsys, clip, tmp_path, argv, message):
    code, _, err = run(capsys, "video", clip, "--episodes", tmp_path / "out", *argv)
    assert code == 1 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_episodes_into_a_file_is_refused(capsys, clip, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("mine")
    code, _, err = run(capsys, "video", clip, "--episodes", target)
    assert code == 1 and "not a directory" in err and target.read_text() == "mine"


def test_existing_exports_are_kept_unless_overwrite(capsys, clip, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    earlier = out / f"{clip.stem}.TextGrid"
    earlier.write_text("hand-corrected coding")
    not_a_video = tmp_path / f"{clip.stem}.mp4"  # same stem: the same export names
    not_a_video.write_text("no video\n")
    code, _, err = run(capsys, "video", not_a_video, "--episodes", out, "--no-progress")
    assert code == 1 and "already exists" in err and "--overwrite" in err
    assert len(err.strip().splitlines()) == 1
    assert [p.name for p in out.iterdir()] == [earlier.name]
    assert earlier.read_text() == "hand-corrected coding"
    code, _, err = run(capsys, "video", clip, "--episodes", out, "--overwrite",
                       "--no-progress")
    assert code == 0, err
    assert praatio_textgrid.openTextgrid(str(earlier), includeEmptyIntervals=True).tierNames


def test_report_keeps_an_existing_page_unless_overwrite(capsys, clip, tmp_path):
    report = tmp_path / "rapport.html"
    report.write_text("last week's report")
    code, _, err = run(capsys, "report", tmp_path / "missing.mp4", "--out", report,
                       "--no-progress")
    assert code == 1 and "already exists" in err and "--overwrite" in err
    assert report.read_text() == "last week's report"
    code, _, err = run(capsys, "report", clip, "--out", clip, "--overwrite", "--no-progress")
    assert code == 1 and "refusing to overwrite an input" in err
    code, _, err = run(capsys, "report", clip, "--out", report, "--overwrite", "--no-progress")
    assert code == 0, err
    assert 'class="face"' in report.read_text(encoding="utf-8")
