"""The real app under a private Xvfb: an image, then a video; clicks, keys, saves, errors."""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from ferkit.datasets.folder import read_folder
from ferkit.labels import label_names
from ferkit.video import iter_frames


@pytest.fixture
def app(xvfb, tiny_model, tmp_path):
    import tkinter as tk

    from ferkit.gui.app import create_app

    root = tk.Tk(screenName=xvfb, className="ferkit")
    app = create_app(tiny_model, output_dir=tmp_path / "out", collect_dir=tmp_path / "own",
                     root=root, threads=1)
    yield app
    app.close()


def key(app, keysym: str) -> None:
    app.canvas.focus_force()
    app.canvas.event_generate("<KeyPress>", keysym=keysym)
    app.root.update()


def test_image_then_video(app, astronaut_small, video_file, tmp_path):
    image = tmp_path / "astronaut.png"
    cv2.imwrite(str(image), astronaut_small)
    app.open_source(image)
    assert app.wait_until(lambda: app.faces(), 60), app.status()

    # what the window shows: one face, its bars in label-set order summing to 1
    [face] = app.faces()
    bars = app.bars()
    assert [n for n, _ in bars] == list(label_names("seed5"))
    assert sum(p for _, p in bars) == pytest.approx(1, abs=1e-4)
    assert dict(bars) == pytest.approx(face.scores)
    assert app.transform is not None and app.canvas.itemcget(app._image_item, "image")

    # click the face in the view to select it; click beside it to let go
    x1, y1, x2, y2 = app.transform.to_view(face.box_xyxy)
    app.canvas.event_generate("<Button-1>", x=round((x1 + x2) / 2), y=round((y1 + y2) / 2))
    app.root.update()
    assert app.selected_track == face.track_id and "selected face" in app.status()
    app.canvas.event_generate("<Button-1>", x=round(x1) - 5, y=round(y2) + 5)
    assert app.selected_track is None

    # collect mode: key 4 picks "sad", c saves the crop where read_folder finds it
    key(app, "4")
    assert app.emotion_var.get() == "sad"
    key(app, "c")
    samples = list(read_folder(tmp_path / "own"))
    assert [s.label for s in samples] == ["sad"], app.status()

    # snapshot: the annotated frame, full size
    key(app, "s")
    [snap] = (tmp_path / "out").glob("snapshot-*.png")
    assert cv2.imread(str(snap)).shape == astronaut_small.shape

    # another label set: the image is analysed again, bars follow
    app.label_set_box.set("ferplus")
    app.label_set_box.event_generate("<<ComboboxSelected>>")
    assert app.wait_until(lambda: len(app.faces()[0].scores) == 8, 30)
    assert [n for n, _ in app.bars()] == list(label_names("ferplus"))

    # errors show in the window; the app keeps going
    app.open_source(tmp_path / "missing.mp4")
    assert app.wait_until(lambda: "no such file" in app.status(), 10)
    app.open_source("9")
    assert app.wait_until(lambda: "camera" in app.status() and "opening" not in app.status(), 20)
    assert app.faces()  # the last frame stays on screen

    # the video: plays with a face per frame, recording on, to its end
    path, count = video_file
    app.open_source(path)
    assert app.wait_until(lambda: app.result.source_kind == "video", 30), app.status()
    key(app, "r")
    assert app.worker.recording
    assert app.wait_until(lambda: "end of drift.mp4" in app.status(), 60), app.status()
    assert app.result.frame.index == count - 1 and len(app.faces()) == 1
    assert app.play_button.cget("text") == "Play"
    key(app, "r")
    [video] = (tmp_path / "out").glob("recording-*.mp4")
    with video.with_suffix(".csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert rows and {r["face"] for r in rows} == {"0"}
    assert len({r["track_id"] for r in rows}) == 1  # one face, tracked through the drift

    # seek while paused: that frame is shown; space plays on to the end
    app.seek_var.set(4)
    app.seek_scale.event_generate("<ButtonRelease-1>")
    assert app.wait_until(lambda: app.result.frame.index == 4, 30)
    key(app, "space")
    assert app.wait_until(lambda: app.result.frame.index == count - 1, 30)

    # the detector list: "auto" (each kind of source its default) is no detector spec
    from ferkit.gui.app import AUTO_DETECTOR

    assert app.detector_box.get() == AUTO_DETECTOR and app.result.settings.detector is None
    for choice, spec in (("haar", "haar"), (AUTO_DETECTOR, None)):
        app.detector_box.set(choice)
        app.detector_box.event_generate("<<ComboboxSelected>>")
        assert app.settings.detector == spec


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed")
def test_ferkit_gui_command_snapshot_and_quit(xvfb, tiny_model, tmp_path, astronaut_small):
    image = tmp_path / "astronaut.png"
    cv2.imwrite(str(image), astronaut_small)
    env = {**os.environ, "DISPLAY": xvfb}
    proc = launch_gui(tiny_model, image, tmp_path / "out", env)
    try:
        window = ferkit_window(env)
        deadline = time.monotonic() + 60
        while not list((tmp_path / "out").glob("snapshot-*.png")):
            assert time.monotonic() < deadline and proc.poll() is None, "no snapshot saved"
            press(env, window, "s")
            time.sleep(0.5)
        subprocess.run(["xdotool", "key", "ctrl+q"], env=env, timeout=10)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        output = proc.communicate()[0]
    [snap] = (tmp_path / "out").glob("snapshot-*.png")
    assert cv2.imread(str(snap)).shape == astronaut_small.shape, output


@pytest.mark.parametrize("argv, message", [
    (["--detector", "blazeface:nope=1"], "unknown option 'nope' for the blazeface detector"),
    (["--model", "missing.onnx"], "no such model file"),
    ([], "cannot open a window"),  # DISPLAY unset
])
def test_ferkit_gui_fails_in_one_line(tiny_model, argv, message):
    # A subprocess: once a process has had a Tk window, Tk finds a display without $DISPLAY.
    pytest.importorskip("tkinter", reason="this Python has no tkinter")
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    done = subprocess.run([sys.executable, "-m", "ferkit.cli", "gui", "--model", str(tiny_model),
                           *argv], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.startswith("ferkit: error:") and message in done.stderr
    assert done.stderr.count("\n") == 1


@pytest.mark.skipif(shutil.which("xdotool") is None, reason="xdotool is not installed")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_ferkit_gui_finalises_a_recording_on_a_signal(xvfb, tiny_model, tmp_path, signum,
                                                      astronaut_small):
    # A 20 s clip, so the recording is still running when the signal comes.
    clip = tmp_path / "long.mp4"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (256, 256))
    for i in range(200):
        writer.write(np.roll(astronaut_small, i, axis=1))
    writer.release()
    env = {**os.environ, "DISPLAY": xvfb}
    out = tmp_path / "out"
    proc = launch_gui(tiny_model, clip, out, env)
    try:
        window = ferkit_window(env)
        deadline = time.monotonic() + 60
        while len(rows_in(out)) < 5:  # the CSV grows frame by frame while recording
            assert time.monotonic() < deadline and proc.poll() is None, "no recording started"
            if not rows_in(out) and not list(out.glob(".recording-*.csv.*.tmp")):
                press(env, window, "r")
            time.sleep(0.5)
        proc.send_signal(signum)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        output = proc.communicate()[0]
    assert "Traceback" not in output, output
    [video] = out.glob("recording-*.mp4")
    assert len(list(iter_frames(video))) >= 5, output
    assert not list(out.glob(".*tmp*")), "the temporary file was left behind"


def rows_in(folder) -> list[str]:
    """The recording's rows: its CSV grows frame by frame under a hidden temporary name and
    takes its own name when the recording ends."""
    found = list(folder.glob("recording-*.csv")) or list(folder.glob(".recording-*.csv.*.tmp"))
    return found[0].read_text().splitlines()[1:] if found else []


def launch_gui(model, source, out, env) -> subprocess.Popen:
    """`ferkit gui` on `source`, as a user starts it, its output captured."""
    return subprocess.Popen(
        [sys.executable, "-m", "ferkit.cli", "gui", "--model", str(model), "--source",
         str(source), "--output", str(out), "--threads", "1"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def ferkit_window(env) -> str:
    """The id of the ferkit window, once it is shown."""
    found = subprocess.run(["xdotool", "search", "--sync", "--name", "^ferkit$"], env=env,
                           capture_output=True, text=True, timeout=60)
    return found.stdout.split()[0]


def press(env, window, key: str) -> None:
    """Focus the window and press `key` in it."""
    subprocess.run(["xdotool", "windowfocus", "--sync", window], env=env, timeout=10)
    subprocess.run(["xdotool", "key", key], env=env, timeout=10)
