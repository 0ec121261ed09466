"""Fast units for the output folder: columns, summaries, atomic files, resume and the lock."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ferkit.batch.plan import InputItem
from ferkit.batch.store import BatchStore, Failure
from ferkit.episodes import EpisodeOptions
from ferkit.errors import FerkitError
from ferkit.faces import Face
from ferkit.rows import columns
from ferkit.video import FrameResult

LABELS = ("happy", "sad")
IDENTITY = {"label_set": "x", "every": 1}


def store_at(root, identity=IDENTITY, fingerprint="f1") -> BatchStore:
    store = BatchStore(root, identity, fingerprint, LABELS)
    store.open()
    return store


def face(x, happy, track):
    return Face((x, 0, x + 10, 10), 0.8, scores={"happy": happy, "sad": 1 - happy},
                track_id=track)


def video_item(tmp_path):
    """An input video (its bytes do not matter to the store) and its work item."""
    source = tmp_path / "in.mp4"
    source.write_bytes(b"v")
    return source, InputItem(source, "video")


def frames():
    return [FrameResult(0, 0.0, None, [face(0, 0.9, 1), face(50, 0.2, 2)]),
            FrameResult(2, 0.5, None, []),
            FrameResult(4, 1.0, None, [face(2, 0.7, 1)])]


def test_rows_and_summary(tmp_path):
    source, item = video_item(tmp_path)
    store = store_at(tmp_path / "out")
    summary = store.write_input(item, frames())
    table = pq.read_table(store.path_for(item))
    assert table.column_names == ["input", *columns(("happy", "sad"))]
    assert table.to_pylist()[1] == {
        "input": str(source), "frame": 0, "time_s": 0.0, "track_id": 2, "face": 1, "x1": 50.0,
        "y1": 0.0, "x2": 60.0, "y2": 10.0, "detector_score": pytest.approx(0.8),
        "yaw_deg": None, "pitch_deg": None, "roll_deg": None, "label": "sad", "happy": 0.2,
        "sad": pytest.approx(0.8)}
    assert table.column("frame").to_pylist() == [0, 0, 4]
    assert (summary.frames, summary.frames_with_faces, summary.faces, summary.tracks,
            summary.duration_s) == (3, 2, 3, 2, 1.5)  # to the last frame's end
    assert summary.shares == pytest.approx({"happy": 2 / 3, "sad": 1 / 3})
    assert store.is_done(item)
    assert [p.name for p in store.faces_dir.iterdir()] == [f"{item.key}.parquet"]  # no temps
    assert store.write_summary() == 1
    assert pq.read_table(tmp_path / "out" / "summary.parquet").to_pylist() == [summary.row()]


def test_the_summary_leaves_out_results_of_an_input_changed_since(tmp_path):
    source, item = video_item(tmp_path)
    store = store_at(tmp_path / "out")
    store.write_input(item, frames())
    source.write_bytes(b"an edited video")  # e.g. a rerun that now fails to read it
    assert not store.is_done(item)
    assert store.write_summary() == 0
    assert store.path_for(item).is_file()  # kept until a rerun replaces it
    source.unlink()  # an input moved away: its result still stands for what it was
    assert store.write_summary() == 1


def test_episodes_and_per_face_shares(tmp_path):
    source, item = video_item(tmp_path)
    store = store_at(tmp_path / "out")
    store.write_input(item, frames())
    episodes = pq.read_table(store.episodes_dir / f"{item.key}.parquet").to_pylist()
    # Face 1: happy in frames 0 and 4, away in frame 2; face 2 only in frame 0 (lasting until
    # the next analysed frame, 0.5 s later).
    assert [(e["face_id"], e["label"], e["start_s"], e["end_s"], e["frames"])
            for e in episodes] == [(1, "happy", 0.0, 0.5, 1), (1, "no face", 0.5, 1.0, 1),
                                   (1, "happy", 1.0, 1.5, 1), (2, "sad", 0.0, 0.5, 1)]
    assert all(e["input"] == str(source) for e in episodes)
    store.write_summary()
    faces = pq.read_table(tmp_path / "out" / "faces_summary.parquet").to_pylist()
    assert [(f["face_id"], f["share_happy"], f["share_sad"], f["share_no_face"])
            for f in faces] == [(1, pytest.approx(2 / 3), 0.0, pytest.approx(1 / 3)),
                                (2, 0.0, 1.0, 0.0)]


def test_episodes_are_cut_with_the_stores_options(tmp_path):
    _, item = video_item(tmp_path)
    store = BatchStore(tmp_path / "out", IDENTITY, "f1", LABELS,
                       episode_options=EpisodeOptions(uncertain_below=0.75))
    store.open()
    store.write_input(item, frames())
    episodes = pq.read_table(store.episodes_dir / f"{item.key}.parquet").to_pylist()
    # Face 1's happy 0.7 in frame 4 is under 0.75: uncertain, not happy.
    assert [(e["face_id"], e["label"], e["start_s"], e["end_s"]) for e in episodes] == [
        (1, "happy", 0.0, 0.5), (1, "no face", 0.5, 1.0), (1, "uncertain", 1.0, 1.5),
        (2, "sad", 0.0, 0.5)]


def test_an_input_with_no_face_is_done_with_zero_rows(tmp_path):
    source = tmp_path / "blank.jpg"
    source.write_bytes(b"i")
    store = store_at(tmp_path / "out")
    item = InputItem(source, "image")
    summary = store.write_input(item, [FrameResult(0, 0.0, None, [])])
    assert pq.read_table(store.path_for(item)).num_rows == 0
    assert summary.faces == 0 and summary.shares == {"happy": 0.0, "sad": 0.0}
    assert store.is_done(item)


def test_a_changed_or_damaged_result_is_not_done(tmp_path):
    source, item = video_item(tmp_path)
    store = store_at(tmp_path / "out")
    store.write_input(item, frames())
    st = source.stat()
    os.utime(source, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # the input was replaced
    assert not store.is_done(item)
    store.write_input(item, frames())
    assert store.is_done(item)
    store.path_for(item).write_bytes(b"PAR1 torn")
    assert not store.is_done(item)


def test_the_settings_lock(tmp_path):
    out = tmp_path / "out"
    store_at(out)
    store_at(out)  # same settings: fine
    assert json.loads((out / "batch.json").read_text())["fingerprint"] == "f1"
    with pytest.raises(FerkitError, match=r"other settings \(changed: every\)"):
        store_at(out, {"label_set": "x", "every": 2}, "f2")
    (tmp_path / "foreign" / "faces").mkdir(parents=True)
    with pytest.raises(FerkitError, match="not a ferkit batch output"):
        store_at(tmp_path / "foreign")
    (tmp_path / "file").write_text("x")
    with pytest.raises(FerkitError, match="is a file"):
        store_at(tmp_path / "file")
    (tmp_path / "project").mkdir()  # a user's folder that happens to hold a report.json
    (tmp_path / "project" / "report.json").write_text("my report")
    with pytest.raises(FerkitError, match="already holds report.json but no batch.json"):
        store_at(tmp_path / "project")
    assert (tmp_path / "project" / "report.json").read_text() == "my report"
    assert not (tmp_path / "project" / "faces").exists()
    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "batch.json").write_text("[1]")
    with pytest.raises(FerkitError, match="not a ferkit batch settings file"):
        store_at(tmp_path / "odd")


def test_stale_temporary_files_are_removed_on_open(tmp_path):
    store = store_at(tmp_path / "out")
    stale = [store.faces_dir / ".clip-0123.parquet.abc123.tmp",
             store.root / ".summary.parquet.x1y2.tmp", store.root / ".report.json.q9.tmp"]
    for path in stale:
        path.write_bytes(b"half")
    kept = store.root / ".hidden-by-the-user"
    kept.write_text("mine")
    store.close()  # the run that left them ended
    store_at(tmp_path / "out")
    assert not any(path.exists() for path in stale) and kept.exists()


def test_failures_table(tmp_path):
    store = store_at(tmp_path / "out")
    store.write_failures([Failure("/x/a.mp4", "video", "truncated")])
    assert pq.read_table(tmp_path / "out" / "failures.parquet").to_pylist() == \
        [{"input": "/x/a.mp4", "kind": "video", "error": "truncated"}]
    store.write_failures([])
    assert pq.read_table(tmp_path / "out" / "failures.parquet").num_rows == 0


@pytest.mark.skipif(sys.platform == "win32", reason="no advisory file locks")
def test_a_second_run_into_the_same_folder_is_refused_until_the_first_ends(tmp_path):
    first = store_at(tmp_path / "out")
    with pytest.raises(FerkitError, match="another ferkit batch is writing to"):
        store_at(tmp_path / "out")
    first.close()
    store_at(tmp_path / "out").close()
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")] == [
        ".ferkit-batch.lock"]  # a dot-file, which readers of the folder skip


@pytest.mark.skipif(sys.platform != "linux", reason="file names of any bytes: Linux only")
def test_a_file_name_that_is_not_utf8_is_written_readably(tmp_path):
    raw = os.fsencode(tmp_path) + b"/clip\xff.mp4"  # e.g. Latin-1 bytes from an old disk
    with open(raw, "wb") as file:
        file.write(b"v")
    item = InputItem(Path(os.fsdecode(raw)), "video")
    store = store_at(tmp_path / "out")
    store.write_input(item, frames())
    store.write_failures([Failure(item.text, "video", f"cannot read video {item.path}")])
    store.write_summary()
    assert store.is_done(item)
    for table in ("summary.parquet", "failures.parquet"):
        [row] = pq.read_table(tmp_path / "out" / table).to_pylist()
        assert row["input"].endswith("/clip\ufffd.mp4")
    assert pq.read_table(tmp_path / "out" / "failures.parquet").column("error")[0].as_py() \
        .endswith("/clip\ufffd.mp4")
    assert set(pq.read_table(store.path_for(item)).column("input").to_pylist()) == {item.text}


@pytest.mark.skipif(sys.platform == "win32", reason="no advisory file locks")
def test_the_lock_is_let_go_when_opening_fails_after_taking_it(tmp_path, monkeypatch):
    import ferkit.batch.store as store_module

    def unwritable(path, data):
        raise FerkitError(f"{path}: cannot write (disk full)")

    monkeypatch.setattr(store_module, "write_json", unwritable)
    with pytest.raises(FerkitError, match="disk full"):
        store_at(tmp_path / "out")
    import fcntl

    with open(tmp_path / "out" / ".ferkit-batch.lock") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # free: no BlockingIOError
