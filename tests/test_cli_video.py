"""`ferkit video` and `ferkit webcam`: tracked rows, annotated video, timeline plot, errors."""

from __future__ import annotations

import csv
import io
import itertools
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import media_helpers
import numpy as np
import pytest
from cli_helpers import json_rows, run

from ferkit.imageio import example_path
from ferkit.labels import label_names
from ferkit.rows import columns

torch = pytest.importorskip("torch")

SEED5 = label_names("seed5")
FRAMES, FPS, SIZE_WH = 30, 10.0, (320, 240)


@pytest.fixture(scope="module")
def model(tiny_onnx_model) -> Path:
    return tiny_onnx_model


def pan_frames() -> list[np.ndarray]:
    """The astronaut photo panned across 30 frames at 320x240: the face drifts ~100 px left."""
    photo = cv2.imread(str(example_path("astronaut")))
    frames = []
    for k in range(FRAMES):
        x0 = 8 + 5 * k  # a 448x336 window sliding right over the 512x512 photo
        frames.append(cv2.resize(photo[10:346, x0:x0 + 448], SIZE_WH,
                                 interpolation=cv2.INTER_AREA))
    return frames


def write_video(path: Path, frames, fourcc: str = "mp4v") -> Path:
    return media_helpers.write_video(path, frames, FPS, fourcc)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return write_video(tmp_path_factory.mktemp("video") / "pan.mp4", pan_frames())


def count_frames(path: Path) -> tuple[int, tuple[int, int]]:
    cap = cv2.VideoCapture(str(path))
    size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    return n, size


# -- ferkit video ------------------------------------------------------------------------------
def test_rows_with_a_stable_track_id(capsys, model, clip):
    code, out, err = run(capsys, "video", clip, "--model", model)
    assert code == 0, err
    rows = json_rows(out)
    assert [r["frame"] for r in rows] == list(range(FRAMES))  # one face in every frame
    assert {r["track_id"] for r in rows} == {1}
    assert [r["time_s"] for r in rows] == pytest.approx([k / FPS for k in range(FRAMES)])
    assert list(rows[0])[:3] == ["frame", "time_s", "track_id"]
    assert list(rows[0])[-len(SEED5):] == list(SEED5)
    centres = [(r["x1"] + r["x2"]) / 2 for r in rows]
    assert centres[0] - centres[-1] > 50  # the face really moved, and kept its id
    assert all(sum(r[n] for n in SEED5) == pytest.approx(1, abs=1e-4) for r in rows)
    assert "30 frames analysed, 30 faces in 1 track\n" in err


def test_searching_near_known_faces_matches_a_whole_frame_search(capsys, model, clip):
    code, out, err = run(capsys, "video", clip, "--model", model, "--redetect-every", "1")
    assert code == 0, err
    everywhere = json_rows(out)
    code, out, err = run(capsys, "video", clip, "--model", model, "--redetect-every", "10")
    assert code == 0, err
    near = json_rows(out)
    assert [r["frame"] for r in near] == [r["frame"] for r in everywhere]
    for a, b in zip(near, everywhere, strict=True):
        # Box edges agree to a few pixels on a ~100 px face (a different BlazeFace pass).
        assert max(abs(a[k] - b[k]) for k in ("x1", "y1", "x2", "y2")) < 12, (a, b)


def test_every_csv_out_and_smoothing(tmp_path, capsys, model, clip):
    out = tmp_path / "rows.csv"
    code, stdout, err = run(capsys, "video", clip, "--model", model, "--every", "3", "--csv",
                            "--out", out, "--no-progress")
    assert code == 0, err
    assert stdout == ""
    rows = list(csv.DictReader(out.open(newline="")))
    assert [int(r["frame"]) for r in rows] == list(range(0, FRAMES, 3))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.csv"]  # no temporary files
    raw = [{n: float(r[n]) for n in SEED5} for r in rows]

    alpha = 0.3
    code, stdout, _ = run(capsys, "video", clip, "--model", model, "--every", "3",
                          "--smooth", alpha, "--no-progress")
    smoothed = json_rows(stdout)
    expected = dict(raw[0])
    for got, now in zip(smoothed, raw, strict=True):
        expected = {n: alpha * now[n] + (1 - alpha) * expected[n] for n in SEED5}
        assert {n: got[n] for n in SEED5} == pytest.approx(expected, abs=1e-5)


def test_annotate_and_plot(tmp_path, capsys, model, clip):
    annotated, plot = tmp_path / "out" / "annotated.mp4", tmp_path / "out" / "timeline.png"
    code, out, err = run(capsys, "video", clip, "--model", model, "--annotate", annotated,
                         "--plot", plot, "--no-progress")
    assert code == 0, err
    assert count_frames(annotated) == (FRAMES, SIZE_WH)
    image = cv2.imread(str(plot))
    assert image is not None and image.shape[0] > 100
    assert sorted(p.name for p in annotated.parent.iterdir()) == ["annotated.mp4", "timeline.png"]


def test_every_gives_a_shorter_annotated_video(tmp_path, capsys, model, clip):
    annotated = tmp_path / "every5.mp4"
    code, _, err = run(capsys, "video", clip, "--model", model, "--every", "5",
                       "--annotate", annotated, "--no-progress")
    assert code == 0, err
    assert count_frames(annotated) == (FRAMES // 5, SIZE_WH)


def test_refuses_to_write_over_the_input(tmp_path, capsys, model, clip):
    source = tmp_path / "in.mp4"
    shutil.copy(clip, source)
    before = source.read_bytes()
    for option in ("--annotate", "--out", "--plot"):
        code, _, err = run(capsys, "video", source, "--model", model, option, source,
                           "--no-progress")
        assert code == 1, option
        assert err.startswith("ferkit: error:") and "refusing to overwrite" in err
        assert source.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]



@pytest.mark.parametrize("option, name", [("--annotate", "old.mp4"), ("--plot", "old.png"),
                                          ("--out", "old.csv")])
def test_an_existing_output_is_kept_unless_overwrite(tmp_path, capsys, model, clip, option,
                                                     name):
    existing = tmp_path / name
    existing.write_bytes(b"an earlier result")
    # The input is not a video: the refusal must come before the video is even opened.
    not_a_video = tmp_path / "notes.mp4"
    not_a_video.write_text("no video\n")
    code, out, err = run(capsys, "video", not_a_video, "--model", model, option, existing,
                         "--no-progress")
    assert code == 1 and out == ""
    assert err.startswith("ferkit: error:") and len(err.strip().splitlines()) == 1
    assert "already exists" in err and "--overwrite" in err
    assert existing.read_bytes() == b"an earlier result"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "notes.mp4"])
    code, _, err = run(capsys, "video", clip, "--model", model, option, existing, "--csv",
                       "--overwrite", "--no-progress")
    assert code == 0, err
    assert existing.read_bytes() != b"an earlier result" and existing.stat().st_size > 100


def test_an_output_whose_folder_is_a_file_is_refused_before_any_work(tmp_path, capsys, model,
                                                                      clip):
    (tmp_path / "notes").write_text("mine")
    code, _, err = run(capsys, "video", clip, "--model", model, "--plot",
                       tmp_path / "notes" / "plot.png")
    assert code == 1 and "notes is a file, not a folder" in err
    assert (tmp_path / "notes").read_text() == "mine"


def test_overwrite_never_replaces_the_input_or_one_file_twice(tmp_path, capsys, model, clip):
    source = tmp_path / "in.mp4"
    shutil.copy(clip, source)
    before = source.read_bytes()
    code, _, err = run(capsys, "video", source, "--model", model, "--annotate", source,
                       "--overwrite", "--no-progress")
    assert code == 1 and "refusing to overwrite an input" in err
    assert source.read_bytes() == before
    code, _, err = run(capsys, "video", source, "--model", model, "--annotate",
                       tmp_path / "same", "--plot", tmp_path / "same", "--no-progress")
    assert code == 1 and "two outputs" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4"]


def _truncated(tmp_path: Path, clip: Path) -> Path:
    path = tmp_path / "cut.mp4"
    path.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    return path


def _truncated_avi(tmp_path: Path, clip: Path) -> Path:
    full = write_video(tmp_path / "full.avi", pan_frames(), fourcc="MJPG")
    path = tmp_path / "cut.avi"
    path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    return path


BAD = {
    "empty": (lambda t, c: (t / "empty.mp4", (t / "empty.mp4").write_bytes(b""))[0],
              "the file is empty"),
    "truncated mp4": (_truncated, "truncated"),
    "truncated avi": (_truncated_avi, "truncated"),
    "text": (lambda t, c: (t / "a.mp4", (t / "a.mp4").write_text("no video\n"))[0],
             "not a video"),
    "missing": (lambda t, c: t / "missing.mp4", "no such file"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_videos(tmp_path, capsys, model, clip, case):
    make, message = BAD[case]
    path = make(tmp_path, clip)
    out_file = tmp_path / "rows.jsonl"
    code, _, err = run(capsys, "video", path, "--model", model, "--no-progress",
                       "--out", out_file, "--annotate", tmp_path / "ann.mp4")
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ferkit: error:")
    assert message in lines[0] and path.name in lines[0]
    assert not out_file.exists() and not (tmp_path / "ann.mp4").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_rows_take_the_format_their_file_name_says(tmp_path, capsys, model, clip):
    out = tmp_path / "rows.csv"
    code, _, err = run(capsys, "video", clip, "--model", model, "--every", "10",
                       "--out", out, "--no-progress")
    assert code == 0, err
    assert [int(r["frame"]) for r in csv.DictReader(out.open(newline=""))] == [0, 10, 20]
    code, _, err = run(capsys, "video", clip, "--model", model, "--json", "--out",
                       tmp_path / "other.csv")
    assert code == 1 and "its ending says CSV, but --json was given" in err


@pytest.mark.parametrize(("option", "name", "message"), [
    ("--annotate", "ann.png", "a video is written as .mp4, .m4v, .mov, .mkv, .avi"),
    ("--annotate", "ann", "a video is written as"),
    ("--plot", "plot.txt", "a figure is written as .png, .pdf, .svg, .jpg, .jpeg"),
])
def test_output_endings_are_refused_before_any_row(tmp_path, capsys, model, clip, option,
                                                   name, message):
    code, out, err = run(capsys, "video", clip, "--model", model, option, tmp_path / name)
    assert (code, out) == (1, "")
    assert err.count("\n") == 1 and message in err and str(tmp_path / name) in err
    assert list(tmp_path.iterdir()) == []


def test_a_plot_is_written_in_the_format_its_ending_names(tmp_path, capsys, model, clip):
    plot = tmp_path / "timeline.pdf"
    code, _, err = run(capsys, "video", clip, "--model", model, "--every", "10", "--plot",
                       plot, "--no-progress")
    assert code == 0, err
    assert plot.read_bytes().startswith(b"%PDF")


def test_episode_options_need_episodes_and_a_valid_value(capsys, model, clip):
    code, out, err = run(capsys, "video", clip, "--model", model, "--min-episode", "2.5")
    assert (code, out) == (1, "") and "add it, or leave them out" in err
    code, out, err = run(capsys, "video", clip, "--model", model, "--margin", "-1")
    assert (code, out) == (1, "") and err.count("\n") == 1 and "margin" in err


def test_bad_options(capsys, model, clip):
    code, _, err = run(capsys, "video", clip, "--model", model, "--every", "0")
    assert code == 1 and "--every" in err
    code, _, err = run(capsys, "video", clip, "--model", model, "--smooth", "0")
    assert code == 1 and "--smooth" in err
    code, _, err = run(capsys, "video", clip, "--model", model, "--redetect-every", "0")
    assert code == 1 and "--redetect-every" in err
    code, _, err = run(capsys, "video", clip, "--model", model, "--detector", "blazeface:x")
    assert code == 1 and "bad detector option" in err
    code, _, err = run(capsys, "video", clip, "--model", model, "--detector", "nope")
    assert code == 1 and "unknown face detector" in err


def test_other_detector(capsys, model, clip):
    code, out, err = run(capsys, "video", clip, "--model", model, "--every", "10",
                         "--detector", "blazeface:min_face_px=none,close_up=false",
                         "--no-progress")
    assert code == 0, err
    assert [r["frame"] for r in json_rows(out)] == [0, 10, 20]


# -- ferkit webcam -----------------------------------------------------------------------------
def test_webcam_without_a_camera(capsys, model):
    code, out, err = run(capsys, "webcam", "--camera", "99", "--model", model)
    assert code == 1 and out == ""
    assert err == "ferkit: error: no camera at index 99 (is one connected and free?)\n"


def test_webcam_replays_a_video_path(tmp_path, capsys, model, clip):
    record = tmp_path / "rec.mp4"
    code, out, err = run(capsys, "webcam", "--camera", clip, "--frames", 5, "--model", model,
                         "--record", record)
    assert code == 0, err
    rows = json_rows(out)  # the rows `ferkit video --json` writes: one face per line
    assert [row["frame"] for row in rows] == [0, 1, 2, 3, 4]
    assert {row["track_id"] for row in rows} == {1}
    assert list(rows[0]) == columns(SEED5)
    assert count_frames(record) == (5, SIZE_WH)

    code, out, err = run(capsys, "webcam", "--camera", clip, "--frames", 2, "--csv",
                         "--model", model)
    assert code == 0, err
    assert [int(r["frame"]) for r in csv.DictReader(io.StringIO(out))] == [0, 1]


def test_webcam_record_never_over_the_source(tmp_path, capsys, model, clip):
    source = tmp_path / "cam.mp4"
    shutil.copy(clip, source)
    code, _, err = run(capsys, "webcam", "--camera", source, "--frames", 1, "--model", model,
                       "--record", source)
    assert code == 1 and "refusing to overwrite" in err


# -- a real process ----------------------------------------------------------------------------
def ferkit_command() -> list[str]:
    script = Path(sys.executable).with_name("ferkit")
    found = str(script) if script.is_file() else shutil.which("ferkit")
    return [found] if found else [sys.executable, "-m", "ferkit.cli"]


def test_subprocess(tmp_path, model, clip):
    cut = _truncated(tmp_path, clip)
    runs = {
        "good": [*ferkit_command(), "video", str(clip), "--every", "10", "--model", str(model)],
        "cut": [*ferkit_command(), "video", str(cut), "--model", str(model)],
        "camera": [*ferkit_command(), "webcam", "--camera", "99", "--model", str(model)],
    }
    procs = {name: subprocess.run(cmd, capture_output=True, text=True, timeout=120)
             for name, cmd in runs.items()}
    good = procs["good"]
    assert good.returncode == 0, good.stderr
    assert [json.loads(line)["frame"] for line in good.stdout.splitlines()] == [0, 10, 20]
    for name in ("cut", "camera"):
        proc = procs[name]
        assert proc.returncode == 1
        assert proc.stdout == ""
        assert len(proc.stderr.splitlines()) == 1, proc.stderr  # no FFmpeg or OpenCV noise
        assert proc.stderr.startswith("ferkit: error:") and "Traceback" not in proc.stderr


def test_webcam_keeps_an_existing_recording_unless_overwrite(tmp_path, capsys, model, clip):
    recording = tmp_path / "take1.mp4"
    recording.write_bytes(b"yesterday's session")
    code, _, err = run(capsys, "webcam", "--camera", clip, "--frames", 1, "--model", model,
                       "--record", recording)
    assert code == 1 and "already exists" in err and "--overwrite" in err
    assert recording.read_bytes() == b"yesterday's session"
    code, _, err = run(capsys, "webcam", "--camera", clip, "--frames", 2, "--model", model,
                       "--record", recording, "--overwrite")
    assert code == 0, err
    assert count_frames(recording) == (2, SIZE_WH)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take1.mp4"]


@pytest.mark.parametrize(("stop", "kept"), [(KeyboardInterrupt, True), (MemoryError, False)])
def test_webcam_keeps_a_recording_stopped_by_ctrl_c_only(tmp_path, capsys, model, clip,
                                                         monkeypatch, stop, kept):
    import ferkit.video

    real = ferkit.video.analyze_video

    def stopped_after_three(*args, **kwargs):
        yield from itertools.islice(real(*args, **kwargs), 3)
        raise stop

    monkeypatch.setattr(ferkit.video, "analyze_video", stopped_after_three)
    recording = tmp_path / "live.mp4"
    if kept:
        code, out, err = run(capsys, "webcam", "--camera", clip, "--model", model,
                             "--record", recording)
        assert code == 0, err
        assert len(json_rows(out)) == 3 and count_frames(recording) == (3, SIZE_WH)
    else:
        with pytest.raises(stop):
            run(capsys, "webcam", "--camera", clip, "--model", model, "--record", recording)
        assert not recording.exists()
    assert [p.name for p in tmp_path.iterdir()] == (["live.mp4"] if kept else [])


@pytest.mark.parametrize("command", ["video", "webcam", "batch", "image", "evaluate"])
def test_tta_flags_parse_alike_and_default_to_each_kinds_reading(command):
    from ferkit.cli import build_parser

    needs = {"video": ["x.mp4"], "batch": ["x", "--out", "o"], "image": ["x.jpg"],
             "evaluate": ["--data", "d"], "webcam": []}[command]
    parser = build_parser()
    parsed = [parser.parse_args([command, *needs, *flag]).tta
              for flag in ([], ["--tta"], ["--no-tta"])]
    # None: photos as PHOTO_TTA says (as `ferkit image` and `evaluate` resolve it:
    # test_cli_image, test_evaluation), video frames once (StreamOptions.tta_for).
    assert parsed == [None, True, False]


@pytest.mark.parametrize("argv, fragment", [
    (["video", "x.mp4", "--threads", "0"], "argument --threads: must be 1 or more"),
    (["batch", "x", "--out", "o", "--threads", "0"], "argument --threads: must be 1 or more"),
    (["evaluate", "--data", "d", "--threads", "-1"], "argument --threads: must be 1 or more"),
    (["gui", "--threads", "two"], "argument --threads: not a whole number: 'two'"),
    (["video", "x.mp4", "--smooth", "nan"], "argument --smooth: give a finite number"),
    (["report", "x.mp4", "--min-episode", "inf"], "argument --min-episode: give a finite"),
    (["head", "m.onnx", "--data", "d", "--weight", "nan", "--name", "h", "--out", "o.onnx"],
     "argument --weight: give a finite number"),
    (["head", "m.onnx", "--data", "d", "--weight", "0", "--name", "h", "--out", "o.onnx"],
     "argument --weight: must be above 0"),
    (["head", "m.onnx", "--data", "d", "--l2", "-1", "--name", "h", "--out", "o.onnx"],
     "argument --l2: must be 0 or more"),
])
def test_number_options_mean_the_same_everywhere(capsys, argv, fragment):
    from ferkit.cli import main

    with pytest.raises(SystemExit) as stop:
        main(argv)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and fragment in err and "Traceback" not in err
