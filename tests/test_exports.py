"""Exports read back by independent parsers: pympi (ELAN), praatio (Praat), pandas (BORIS,
per-frame table) and openpyxl (BORIS XLSX), at a unicode path."""

from __future__ import annotations

from pathlib import Path

import pytest

from ferkit.episodes import NO_FACE, EpisodeOptions, Recording, segment
from ferkit.exports import export_paths, write_exports
from ferkit.faces import Face

pd = pytest.importorskip("pandas", reason="needs pandas (the dev extra)")
pympi = pytest.importorskip("pympi", reason="needs pympi-ling (the dev extra)")
praatio_textgrid = pytest.importorskip("praatio.textgrid", reason="needs praatio (dev extra)")
pytest.importorskip("openpyxl", reason="needs openpyxl (the xlsx extra)")

LABELS = ("happy", "angry", "sad", "neutral", "surprise")


def probs(label: str, p: float = 0.8) -> dict[str, float]:
    rest = (1 - p) / (len(LABELS) - 1)
    return {name: (p if name == label else rest) for name in LABELS}


def two_faces() -> Recording:
    """40 frames at 10 fps: face 1 happy then sad, away for frames 15-17; face 2 from frame 10,
    neutral with a one-frame flicker."""
    rec = Recording(LABELS)
    for k in range(40):
        faces = []
        if not 15 <= k <= 17:
            faces.append(Face((10, 10, 50, 50), 0.95, scores=probs("happy" if k < 25 else "sad"),
                              track_id=1))
        if k >= 10:
            faces.append(Face((100, 10, 140, 50), 0.8,
                              scores=probs("angry" if k == 20 else "neutral"), track_id=2,
                              head_pose_deg=(12.5, -3.0, 1.25)))
        rec.add(k, k / 10, faces)
    return rec


@pytest.fixture
def media(tmp_path) -> Path:
    folder = tmp_path / "entretiens été"
    folder.mkdir()
    video = folder / "séance 1 — 表情.mp4"
    video.write_bytes(b"not really a video; the exports only link to it")
    return video


def test_every_export_reads_back_with_its_own_parser(media, tmp_path):
    rec = two_faces()
    episodes = segment(rec, EpisodeOptions(min_duration_s=0.5))
    out = tmp_path / "sortie ü"
    written = write_exports(out, rec, episodes, media)
    assert written == export_paths(out, media.stem)

    # ELAN: one tier per face, times in ms, the video linked absolutely and relatively.
    eaf = pympi.Elan.Eaf(str(written["elan"]))
    assert written["elan"].read_bytes().startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert sorted(eaf.get_tier_names()) == ["face 1", "face 2"]
    slots = [eaf.timeslots[f"ts{k}"] for k in range(1, len(eaf.timeslots) + 1)]
    assert slots == sorted(slots)  # numbered in time order, as ELAN writes them
    assert sorted(eaf.get_annotation_data_for_tier("face 1")) == [
        (0, 1500, "happy"), (1500, 1800, NO_FACE), (1800, 2500, "happy"), (2500, 4000, "sad")]
    assert sorted(eaf.get_annotation_data_for_tier("face 2")) == [(1000, 4000, "neutral")]
    (descriptor,) = eaf.media_descriptors
    assert descriptor["MIME_TYPE"] == "video/mp4"
    assert descriptor["MEDIA_URL"] == media.resolve().as_uri()
    from urllib.parse import unquote
    relative = unquote(descriptor["RELATIVE_MEDIA_URL"])
    assert (out / relative).resolve() == media.resolve()
    assert eaf.header["TIME_UNITS"] == "milliseconds"

    # Praat: one interval tier per face over the whole clip, empty where the face is not.
    grid = praatio_textgrid.openTextgrid(str(written["praat"]), includeEmptyIntervals=True)
    assert grid.tierNames == ("face 1", "face 2")
    assert (grid.minTimestamp, grid.maxTimestamp) == (0, pytest.approx(4.0))
    face2 = [(round(i.start, 3), round(i.end, 3), i.label)
             for i in grid.getTier("face 2").entries]
    assert face2 == [(0, 1.0, ""), (1.0, 4.0, "neutral")]
    labels1 = [i.label for i in grid.getTier("face 1").entries]
    assert labels1 == ["happy", NO_FACE, "happy", "sad"]

    # BORIS: the five columns, a start and a stop per episode, TSV and XLSX the same.
    tsv = pd.read_csv(written["boris_tsv"], sep="\t", keep_default_na=False)
    xlsx = pd.read_excel(written["boris_xlsx"], sheet_name="events", keep_default_na=False)
    assert list(tsv.columns) == ["time", "subject", "code", "modifier", "comment"]
    pd.testing.assert_frame_equal(tsv, xlsx, check_dtype=False)
    assert len(tsv) == 2 * len(episodes)
    assert tsv["time"].is_monotonic_increasing
    sad = tsv[(tsv.subject == "face 1") & (tsv.code == "sad")]
    assert list(sad.time) == [2.5, 4.0]
    for (subject, code), events in tsv.groupby(["subject", "code"]):
        assert len(events) % 2 == 0, (subject, code)  # every state event is closed

    # Per-frame table: OpenFace's column names, one row per face per frame of its track.
    frames = pd.read_csv(written["frames"])
    assert list(frames.columns[:5]) == ["frame", "face_id", "timestamp", "confidence",
                                        "success"]
    assert set(LABELS) <= set(frames.columns)
    assert len(frames) == 40 + 30  # face 1 over 40 frames (3 lost), face 2 over 30
    lost = frames[frames.success == 0]
    assert list(zip(lost.frame, lost.face_id, strict=True)) == [(15, 1), (16, 1), (17, 1)]
    assert lost[list(LABELS)].isna().all().all()
    found = frames[frames.success == 1]
    assert found[list(LABELS)].sum(axis=1).round(4).eq(1).all()
    assert frames.loc[(frames.frame == 20) & (frames.face_id == 2), "label"].item() == "angry"
    # Head pose where the detector gave one (face 2), empty where not (face 1).
    pose = frames[frames.success == 1].groupby("face_id")[["yaw_deg", "pitch_deg", "roll_deg"]]
    assert pose.first().loc[2].tolist() == [12.5, -3.0, 1.2] and pose.count().loc[1].sum() == 0

    episodes_table = pd.read_csv(written["episodes"])
    assert len(episodes_table) == len(episodes)
    assert episodes_table.duration_s.sum() == pytest.approx(4.0 + 3.0)


def test_a_clip_without_faces_gives_valid_empty_exports(media, tmp_path):
    rec = Recording(LABELS)
    for k in range(10):
        rec.add(k, k / 10, [])
    written = write_exports(tmp_path / "out", rec, segment(rec), media)
    assert list(pympi.Elan.Eaf(str(written["elan"])).get_tier_names()) == []
    grid = praatio_textgrid.openTextgrid(str(written["praat"]), includeEmptyIntervals=True)
    assert grid.tierNames == () and grid.maxTimestamp == pytest.approx(1.0)
    assert written["praat"].read_text().endswith("tiers? <exists>\nsize = 0\nitem []:\n")
    assert pd.read_csv(written["boris_tsv"], sep="\t").empty
    assert pd.read_excel(written["boris_xlsx"]).columns.tolist() == [
        "time", "subject", "code", "modifier", "comment"]
    frames = pd.read_csv(written["frames"])
    assert frames.empty and list(frames.columns[:5]) == ["frame", "face_id", "timestamp",
                                                         "confidence", "success"]


def test_exports_never_overwrite_the_video(tmp_path):
    from ferkit.errors import FerkitError

    video = tmp_path / "clip.eaf"  # a media file that happens to share the export's name
    video.write_bytes(b"x")
    rec = Recording(LABELS)
    rec.add(0, 0.0, [])
    with pytest.raises(FerkitError, match="refusing to overwrite"):
        write_exports(tmp_path, rec, [], video)
    assert video.read_bytes() == b"x"


def test_without_openpyxl_the_xlsx_is_neither_written_nor_checked(media, tmp_path, monkeypatch,
                                                                  capsys):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "openpyxl" else find_spec(name, *a))
    rec = two_faces()
    written = write_exports(tmp_path / "out", rec, segment(rec), media)
    assert "boris_xlsx" not in written and "boris_xlsx" not in export_paths(tmp_path, "x")
    assert written["boris_tsv"].is_file()
    assert "pip install 'ferkit[xlsx]'" in capsys.readouterr().err


def test_a_full_disk_leaves_the_earlier_exports_whole(media, tmp_path, monkeypatch):
    import errno

    from ferkit.errors import FerkitError

    rec = two_faces()
    out = tmp_path / "out"
    earlier = write_exports(out, rec, segment(rec), media)
    before = {kind: path.read_bytes() for kind, path in earlier.items()}
    write_bytes = Path.write_bytes

    def disk_full_at_praat(self, data):
        if ".TextGrid." in self.name:  # the Praat file's temporary, third of six
            raise OSError(errno.ENOSPC, "No space left on device")
        return write_bytes(self, data)

    monkeypatch.setattr(Path, "write_bytes", disk_full_at_praat)
    with pytest.raises(FerkitError, match="No space left"):
        write_exports(out, rec, segment(rec, EpisodeOptions(min_duration_s=0)), media)
    assert {kind: path.read_bytes() for kind, path in earlier.items()} == before
    assert sorted(out.iterdir()) == sorted(earlier.values())  # no temporary left behind
