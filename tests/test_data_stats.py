"""Tests for dataset statistics (ferkit.datasets.stats) and the `ferkit data stats` command."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from ferkit import cli
from ferkit.datasets import stats


@pytest.fixture
def two_sources(make, face):
    """A FER2013 folder set and its FER+ relabelling, sharing faces, plus CK+48."""
    fer = make.fer2013_folders([
        ("train", "happy", "Training_1.jpg", face(1)),
        ("train", "happy", "Training_2.jpg", face(1)),      # byte-identical copy
        ("train", "sad", "Training_3.jpg", face(2)),
        ("train", "sad", "Training_4.jpg", face(3)),        # train copy of a val face
        ("test", "sad", "PublicTest_5.jpg", face(3)),
        ("train", "happy", "Training_6.jpg", face(4)),      # conflicting labels
        ("train", "angry", "Training_7.jpg", face(4)),
    ])
    ferplus = make.ferplus([
        ("Training", "fer0000000.png", [0, 9, 1, 0, 0, 0, 0, 0, 0, 0], face(1)),
        ("Training", "fer0000001.png", [0, 0, 0, 0, 0, 0, 0, 0, 2, 8], face(5)),
        ("PublicTest", "fer0028638.png", [0, 0, 0, 10, 0, 0, 0, 0, 0, 0], face(3)),
    ])
    ck = make.ckplus48([("happy", "S010", 1, 1, face(6)), ("anger", "S011", 2, 3, face(7))])
    return [str(fer), str(ferplus), str(ck)]


def test_class_counts_per_class_and_split(two_sources):
    fer, ferplus, ck = stats.read_sources(two_sources)
    assert fer.name == "fer2013" and fer.kind == "fer2013"
    counts = stats.class_counts(fer.samples)
    assert counts["classes"] == {
        "happy": {"train": 3, "val": 0}, "sad": {"train": 2, "val": 1},
        "angry": {"train": 1, "val": 0}}
    assert counts["splits"] == {"train": 6, "val": 1} and counts["total"] == 7
    plus = stats.class_counts(ferplus.samples)
    assert plus["classes"]["excluded"] == {"train": 1, "val": 0}  # not a face
    assert stats.class_counts(ck.samples)["splits"] == {"all": 2}


def test_exact_duplicates(two_sources):
    fer = stats.read_sources(two_sources[:1])[0]
    assert stats.exact_duplicates(fer.samples) == {
        "groups": 3, "images_in_groups": 6, "groups_with_conflicting_labels": 1}


def test_collect_stats_per_source_and_combined(two_sources):
    sources = stats.read_sources(two_sources)
    result = stats.collect_stats(sources)
    fer = result["sources"][0]["combined"]
    assert fer["duplicate_groups_within_source"] == {"fer2013": 3}
    assert fer["train_copies_of_val_faces_removed"] == 1
    assert fer["conflicting_label_groups_dropped"] == 1
    assert fer["items_by_split"] == {"train": 2, "val": 1}
    both = result["combined"]
    assert both["same_face_in_several_sources"] == 2  # faces 1 and 3
    assert both["items_by_sources"]["fer2013+ferplus"] == {"train": 1, "val": 1}
    assert both["items"] == sum(sum(v.values()) for v in both["items_by_sources"].values())
    json.dumps(result)  # JSON-ready

    text = stats.format_table(result)
    assert "== " + two_sources[0] + " (fer2013): 7 images" in text
    assert "train copies of val faces removed: 1" in text
    assert "same face in several sources: 2 groups" in text
    assert "excluded" in text


def test_single_source_has_no_combined_section(two_sources):
    result = stats.collect_stats(stats.read_sources(two_sources[2:]))
    assert "combined" not in result and len(result["sources"]) == 1


def test_cache_dir_is_reused(two_sources, tmp_path, monkeypatch):
    sources = stats.read_sources(two_sources[:2])
    first = stats.collect_stats(sources, cache_dir=tmp_path / "cache")
    assert len(list((tmp_path / "cache").glob("combined-*.npz"))) == 3  # 2 sources + both
    monkeypatch.setattr("ferkit.datasets.combine.combine",
                        lambda *a, **k: pytest.fail("cache not used"))
    assert stats.collect_stats(sources, cache_dir=tmp_path / "cache") == first


def test_sample_grid_png(two_sources, tmp_path):
    sources = stats.read_sources(two_sources)
    rows = stats.pick_samples(sources, per_class=2)
    assert [title for title, _, _ in rows] == [
        "fer2013 · happy", "fer2013 · sad", "fer2013 · angry", "ferplus · happy",
        "ferplus · sad", "ckplus · happy", "ckplus · angry"]
    assert [len(faces) for _, _, faces in rows] == [2, 2, 1, 1, 1, 1, 1]
    path = stats.sample_grid(sources, tmp_path / "out" / "samples.png", per_class=2)
    image = cv2.imread(str(path))
    assert image is not None and image.shape[0] > 400 and image.shape[1] > 300
    assert image.std() > 10  # faces and labels, not a blank canvas
    assert [p.name for p in path.parent.iterdir()] == ["samples.png"]  # no temp file left


def test_pick_samples_is_deterministic(two_sources):
    sources = stats.read_sources(two_sources)
    a = stats.pick_samples(sources, per_class=1, seed=3)
    b = stats.pick_samples(sources, per_class=1, seed=3)
    for (_, _, fa), (_, _, fb) in zip(a, b, strict=True):
        np.testing.assert_array_equal(fa[0], fb[0])


@pytest.fixture
def only_data_command(monkeypatch):
    # Other subcommands may need extras that are not installed here.
    monkeypatch.setattr(cli, "COMMANDS", ("data",))


def test_cli_table_and_files(two_sources, tmp_path, capsys, only_data_command):
    out = tmp_path / "stats-out"
    assert cli.main(["data", "stats", *two_sources, "--out", str(out), "--per-class", "3"]) == 0
    captured = capsys.readouterr()
    assert "== all sources combined" in captured.out
    assert "sample grid:" in captured.out
    assert "reading" in captured.err
    assert (out / "samples.png").is_file()
    saved = json.loads((out / "stats.json").read_text())
    assert saved["samples_png"] == str(out / "samples.png")
    # An earlier report is kept unless asked, and refused before the data are read.
    (out / "stats.json").write_text("my notes")
    assert cli.main(["data", "stats", *two_sources, "--out", str(out)]) == 1
    captured = capsys.readouterr()
    assert "already exists (and 1 more); pass --overwrite" in captured.err
    assert "reading" not in captured.err and (out / "stats.json").read_text() == "my notes"
    assert cli.main(["data", "stats", *two_sources, "--out", str(out), "--overwrite"]) == 0


def test_cli_json(two_sources, tmp_path, capsys, only_data_command):
    assert cli.main(["data", "stats", two_sources[0], "--json", "--out", str(tmp_path)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["sources"][0]["counts"]["total"] == 7


def test_cli_without_out_prints_and_writes_nothing(two_sources, tmp_path, capsys,
                                                  only_data_command, monkeypatch):
    monkeypatch.chdir(tmp_path)
    before = sorted(tmp_path.rglob("*"))
    for _ in range(2):  # as often as asked: there is no earlier output to protect
        assert cli.main(["data", "stats", two_sources[2]]) == 0
        assert "(--out DIR also draws a sample grid" in capsys.readouterr().out
    assert sorted(tmp_path.rglob("*")) == before


def test_cli_out_inside_a_dataset_is_refused(two_sources, capsys, only_data_command):
    out = Path(two_sources[2]) / "stats"
    assert cli.main(["data", "stats", two_sources[2], "--out", str(out)]) == 1
    assert "inside the dataset" in capsys.readouterr().err
    assert not out.exists()


def test_cli_wrong_layout_is_one_line(make, face, tmp_path, capsys, only_data_command):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert cli.main(["data", "stats", str(empty), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"ferkit: error: {empty}: not a known dataset layout "
                   "(FER2013, FER+, CK+, RAF-DB, JAFFE, own: <emotion>/ subfolders)"]
    assert not (tmp_path / "o").exists()


def test_cli_malformed_dataset_is_one_line(make, face, tmp_path, capsys, only_data_command):
    root = make.fer2013_folders([("train", "happy", "Training_1.jpg", face(1))])
    (root / "train" / "happy" / "Training_2.jpg").write_bytes(b"broken")
    assert cli.main(["data", "stats", str(root), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("ferkit: error: ") and "Training_2.jpg" in err[-1]
    assert "Traceback" not in "\n".join(err)


def test_cli_unwritable_out(two_sources, tmp_path, capsys, only_data_command):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert cli.main(["data", "stats", two_sources[2], "--out", str(blocker / "sub")]) == 1
    assert "cannot write" in capsys.readouterr().err


def test_cli_needs_an_action(capsys, only_data_command):
    with pytest.raises(SystemExit) as exc:
        cli.main(["data"])
    assert exc.value.code == 2


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_cli_progress_bars_on_a_terminal(two_sources, tmp_path, monkeypatch,
                                         only_data_command):
    terminal = _Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    assert cli.main(["data", "stats", *two_sources, "--out", str(tmp_path / "o")]) == 0
    shown = terminal.getvalue()
    for phase in (f"reading {two_sources[0]}", "reading faces", "finding duplicates"):
        assert phase in shown, phase
