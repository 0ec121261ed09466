"""`ferkit image`: rows for photos and folders, CSV, annotated copies, and every bad input."""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_helpers import json_rows, run

from ferkit.cli import main
from ferkit.imageio import example_path
from ferkit.labels import label_names
from ferkit.model import shipped_model_path

torch = pytest.importorskip("torch")

SEED5 = label_names("seed5")
#: The face in the shipped 512x512 astronaut photo (x1, y1, x2, y2), drawn by hand.
ASTRONAUT_BOX = (173, 70, 278, 176)


@pytest.fixture(scope="module")
def model(tiny_onnx_model) -> Path:
    return tiny_onnx_model


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return cv2.imread(str(example_path("astronaut")))


def two_faces(astronaut: np.ndarray) -> np.ndarray:
    """A 640x480 frame with the astronaut's head twice, at two sizes."""
    frame = np.full((480, 640, 3), 70, np.uint8)
    head = astronaut[40:260, 110:340]  # 230x220 around the face
    frame[20:240, 20:250] = head
    small = cv2.resize(head, (115, 110), interpolation=cv2.INTER_AREA)
    frame[300:410, 450:565] = small
    return frame


def center_in(row: dict, box) -> bool:
    cx, cy = (row["x1"] + row["x2"]) / 2, (row["y1"] + row["y2"]) / 2
    return box[0] <= cx <= box[2] and box[1] <= cy <= box[3]


# -- good inputs -------------------------------------------------------------------------------
def test_shipped_photos(capsys, model):
    astronaut, camera = example_path("astronaut"), example_path("camera")
    code, out, err = run(capsys, "image", astronaut, camera, "--model", model)
    assert code == 0, err
    rows = json_rows(out)
    by_path = {r["path"]: r for r in rows}
    assert set(by_path) == {str(astronaut), str(camera)}
    face = by_path[str(astronaut)]
    assert center_in(face, ASTRONAUT_BOX) and face["face"] == 0
    assert face["label"] in SEED5
    assert sum(face[n] for n in SEED5) == pytest.approx(1.0, abs=1e-4)
    assert face["label"] == max(SEED5, key=face.__getitem__)


@pytest.mark.parametrize("photo_tta", [False, True])
def test_photos_are_read_as_photo_tta_says_unless_tta_flags(capsys, monkeypatch, model,
                                                            photo_tta):
    from ferkit.recognizer import Recognizer

    monkeypatch.setattr("ferkit.recognizer.PHOTO_TTA", photo_tta)
    photo = example_path("astronaut")
    recognizer = Recognizer(model)
    for flags, tta in (((), photo_tta), (("--no-tta",), False), (("--tta",), True)):
        code, out, err = run(capsys, "image", photo, "--model", model, *flags)
        assert code == 0, err
        (row,) = json_rows(out)
        (face,) = recognizer.analyze(photo, tta=tta)
        assert [row[n] for n in SEED5] == pytest.approx([face.scores[n] for n in SEED5],
                                                        abs=1e-5)
    mirrored, once = (recognizer.analyze(photo, tta=t)[0].scores for t in (True, False))
    assert mirrored != once  # the two readings differ, so the check above tells them apart


def test_generated_frame_with_two_faces(tmp_path, capsys, model, astronaut):
    path = tmp_path / "two.png"
    cv2.imwrite(str(path), two_faces(astronaut))
    code, out, err = run(capsys, "image", path, "--model", model, "--label-set", "ferplus")
    assert code == 0, err
    rows = json_rows(out)
    assert len(rows) == 2
    assert [r["face"] for r in rows] == [0, 1]
    assert any(center_in(r, (20, 20, 250, 240)) for r in rows)
    assert any(center_in(r, (450, 300, 565, 410)) for r in rows)
    assert all(set(label_names("ferplus")) <= set(r) for r in rows)


def test_folders_recursive_csv_and_annotate(tmp_path, capsys, model, astronaut):
    photos = tmp_path / "photos"
    (photos / "a" / "b").mkdir(parents=True)
    cv2.imwrite(str(photos / "top.jpg"), astronaut)
    cv2.imwrite(str(photos / "a" / "b" / "deep.png"), two_faces(astronaut))
    from PIL import Image  # OpenCV writes no GIF; ferkit reads it (its first frame)
    Image.fromarray(astronaut[..., ::-1]).save(photos / "a" / "anim.gif")
    (photos / "a" / "notes.txt").write_text("not a photo, and not named: skipped")
    out_dir = tmp_path / "annotated"
    code, out, err = run(capsys, "image", photos, "--model", model, "--csv",
                         "--annotate", out_dir)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0])[:11] == ["path", "face", "x1", "y1", "x2", "y2", "detector_score",
                                  "yaw_deg", "pitch_deg", "roll_deg", "label"]
    assert list(rows[0])[11:] == list(SEED5)
    counts = {}
    for row in rows:
        counts[Path(row["path"]).name] = counts.get(Path(row["path"]).name, 0) + 1
        assert row["label"] in SEED5
        assert sum(float(row[n]) for n in SEED5) == pytest.approx(1.0, abs=1e-4)
        assert float(row["x2"]) > float(row["x1"])
    assert counts == {"top.jpg": 1, "deep.png": 2, "anim.gif": 1}
    written = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*")
                     if p.is_file())
    assert written == ["a/anim.gif.png", "a/b/deep.png", "top.jpg"]
    assert (out_dir / "a" / "anim.gif.png").read_bytes().startswith(b"\x89PNG")
    drawn = cv2.imread(str(out_dir / "top.jpg"))
    assert drawn.shape == astronaut.shape
    assert not np.array_equal(drawn, astronaut)  # boxes were drawn


@pytest.mark.parametrize("spec", ["blazeface:tiles=false", "blazeface:tiles=false,max_side=720",
                                  "haar:min_size=40"])
def test_the_detector_spec_grammar_of_every_front_end(capsys, model, astronaut, tmp_path, spec):
    path = tmp_path / "a.jpg"
    cv2.imwrite(str(path), astronaut)
    code, out, err = run(capsys, "image", path, "--model", model, "--detector", spec)
    assert code == 0, err
    assert len(json_rows(out)) == 1


def test_a_photo_without_faces_still_gets_a_csv_header(capsys, model, tmp_path):
    path = tmp_path / "grey.png"
    cv2.imwrite(str(path), np.full((64, 64, 3), 128, np.uint8))
    code, out, err = run(capsys, "image", path, "--model", model, "--csv")
    assert code == 0 and "no face found" in err
    assert out.splitlines() == [",".join(["path", "face", "x1", "y1", "x2", "y2",
                                          "detector_score", "yaw_deg", "pitch_deg",
                                          "roll_deg", "label", *SEED5])]


def test_annotate_refuses_to_overwrite_an_input(tmp_path, capsys, model, astronaut):
    path = tmp_path / "photo.png"
    cv2.imwrite(str(path), astronaut)
    before = path.read_bytes()
    code, _, err = run(capsys, "image", path, "--model", model, "--annotate", tmp_path)
    assert code == 1
    assert "refusing to overwrite an input" in err
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photo.png"]  # no temporary files


# -- bad inputs --------------------------------------------------------------------------------
def _write(name: str, make):
    def build(folder: Path, astronaut: np.ndarray) -> Path:
        path = folder / name
        make(path, astronaut)
        return path
    return build


def _png16(path, image):
    cv2.imwrite(str(path), image.astype(np.uint16) * 257)


def _rgba(path, image):
    bgra = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    bgra[..., 3] = 180
    bgra[:40, :40, 3] = 0
    cv2.imwrite(str(path), bgra)


BAD = {
    # name: (writer, exit code, rows, message on stderr)
    "corrupt jpeg": (_write("cut.jpg", lambda p, a: p.write_bytes(
        cv2.imencode(".jpg", a)[1].tobytes()[:3000])), 1, 0, "corrupt or truncated"),
    "empty file": (_write("empty.png", lambda p, a: p.write_bytes(b"")), 1, 0,
                   "the file is empty"),
    "text file": (_write("notes.jpg", lambda p, a: p.write_text("hello\n")), 1, 0,
                  "not an image file"),
    "missing file": (lambda f, a: f / "nowhere.jpg", 1, 0, "no such file"),
    "16-bit png": (_write("deep.png", _png16), 0, 1, None),
    "rgba png": (_write("alpha.png", _rgba), 0, 1, None),
    "face-less": (_write("wall.png", lambda p, a: cv2.imwrite(
        str(p), np.full((240, 320, 3), 128, np.uint8))), 0, 0, "no face found"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_inputs(tmp_path, capsys, model, astronaut, case):
    make, code, n_rows, message = BAD[case]
    path = make(tmp_path, astronaut)
    got, out, err = run(capsys, "image", path, "--model", model)
    assert got == code, err
    assert len(json_rows(out)) == n_rows
    if message:
        lines = err.splitlines()
        assert message in lines[0] and path.name in lines[0]
        assert all(line.startswith("ferkit:") for line in lines)
    else:
        assert err == ""


@pytest.fixture(scope="module")
def huge(tmp_path_factory) -> Path:
    """A 12000x9000 (108 MP) PNG: over load_image's 100 MP guard."""
    path = tmp_path_factory.mktemp("huge") / "huge.png"
    cv2.imwrite(str(path), np.zeros((9000, 12000), np.uint8), [cv2.IMWRITE_PNG_COMPRESSION, 1])
    return path


def test_huge_image_gives_a_clear_error(capsys, model, huge):
    code, out, err = run(capsys, "image", huge, "--model", model)
    assert code == 1 and out == ""
    assert "12000x9000" in err.splitlines()[0] and "limit" in err.splitlines()[0]


def test_huge_image_raises_no_stray_warning(capsys, model, huge):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert run(capsys, "image", huge, "--model", model)[0] == 1
    assert [str(w.message) for w in caught] == []


def test_one_bad_input_does_not_stop_the_others(tmp_path, capsys, model, astronaut):
    good = tmp_path / "good.jpg"
    cv2.imwrite(str(good), astronaut)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 broken")
    code, out, err = run(capsys, "image", bad, good, "--model", model)
    assert code == 1
    assert [r["path"] for r in json_rows(out)] == [str(good)]
    assert "bad.jpg" in err and "1 of 2 inputs failed" in err


def test_rows_carry_the_head_pose_of_the_default_detector(capsys, model):
    code, out, err = run(capsys, "image", example_path("camera"), "--model", model)
    assert code == 0, err
    (row,) = json_rows(out)
    # the photographer looks into his camera on the image's right: turned to his left
    assert row["yaw_deg"] > 30 and -90 < row["pitch_deg"] < 90 and -90 < row["roll_deg"] < 90


def test_detector_specs_with_options(capsys, model):
    code, out, err = run(capsys, "image", example_path("astronaut"), "--model", model,
                         "--detector", "retinaface:max_side=320,min_score=0.6")
    assert code == 0, err
    assert len(json_rows(out)) == 1
    code, out, err = run(capsys, "image", example_path("astronaut"), "--model", model,
                         "--detector", "blazeface:tiles=false")
    assert code == 0, err
    (row,) = json_rows(out)
    assert row["yaw_deg"] is None  # BlazeFace's six points give no pose
    for spec, message in (("retinaface:max_side=8", "max_side must be 32 or more"),
                          ("yunet", "unknown face detector 'yunet'")):
        code, out, err = run(capsys, "image", example_path("astronaut"), "--model", model,
                             "--detector", spec)
        assert code != 0 and out == "" and message in err, err
        assert len(err.strip().splitlines()) == 1


def test_usage_errors(tmp_path, capsys, model):
    for argv in (("image", "--example", "--label-set", "bogus"), ("image", "--bogus"),
                 ("evaluate", "--data", str(tmp_path), "--label-set", "bogus"), ("bogus",)):
        with pytest.raises(SystemExit) as exit_:
            main(list(argv))
        err = capsys.readouterr().err
        assert exit_.value.code == 2 and len(err.strip().splitlines()) == 1, err
        assert "error:" in err and "--help" in err
    code, _, err = run(capsys, "image", "--model", model)
    assert code == 1 and "give at least one image" in err
    code, _, err = run(capsys, "image", tmp_path, "--model", model)
    assert code == 1 and "no images found" in err
    code, _, err = run(capsys, "image", example_path(), "--model", tmp_path / "none.onnx")
    assert code == 1 and "no such model file" in err


# -- the shipped model -------------------------------------------------------------------------
@pytest.mark.skipif(not shipped_model_path().is_file(),
                    reason=f"the shipped model {shipped_model_path()} is not exported yet")
def test_example_with_the_shipped_model(capsys):
    code, out, err = run(capsys, "image", "--example")
    assert code == 0, err
    rows = json_rows(out)
    assert len(rows) == 1 and center_in(rows[0], ASTRONAUT_BOX)


@pytest.mark.skipif(shipped_model_path().is_file(),
                    reason="the shipped model exists: this checks the message when it does not")
def test_missing_shipped_model_is_one_clear_line(capsys):
    code, out, err = run(capsys, "image", "--example")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "does not exist yet" in err


# -- a real process ----------------------------------------------------------------------------
def ferkit_command() -> list[str]:
    script = Path(sys.executable).with_name("ferkit")
    found = str(script) if script.is_file() else shutil.which("ferkit")
    return [found] if found else [sys.executable, "-m", "ferkit.cli"]


def test_subprocess_reports_errors_without_traceback(tmp_path, model, astronaut):
    good = tmp_path / "good.jpg"
    cv2.imwrite(str(good), astronaut)
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "text.png").write_text("hello")
    env = {**os.environ, "PYTHONWARNINGS": "default"}
    proc = subprocess.run(
        [*ferkit_command(), "image", str(tmp_path), "--csv", "--model", str(model)],
        capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    assert all(line.startswith("ferkit:") for line in proc.stderr.splitlines()), proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert [Path(r["path"]).name for r in rows] == ["good.jpg"]


# -- hostile inputs and colliding outputs (issue 23) -------------------------------------------
def test_extreme_aspect_ratio_gives_no_face_and_the_next_input_runs(tmp_path, capsys, model,
                                                                     astronaut):
    strip = tmp_path / "strip.png"
    cv2.imwrite(str(strip), np.full((1, 4000, 3), 200, np.uint8))  # a 4000x1 PNG, ~95 bytes
    tall = tmp_path / "tall.png"
    cv2.imwrite(str(tall), np.full((30000, 1, 3), 200, np.uint8))
    good = tmp_path / "good.jpg"
    cv2.imwrite(str(good), astronaut)
    code, out, err = run(capsys, "image", strip, tall, good, "--model", model,
                         "--annotate", tmp_path / "out")
    assert code == 0, err
    assert [r["path"] for r in json_rows(out)] == [str(good)]
    assert f"no face found in {strip}" in err and f"no face found in {tall}" in err
    assert cv2.imread(str(tmp_path / "out" / "strip.png")).shape == (1, 4000, 3)


def test_fifo_and_device_are_refused_and_the_next_input_runs(tmp_path, capsys, model, astronaut):
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)
    good = tmp_path / "good.jpg"
    cv2.imwrite(str(good), astronaut)
    code, out, err = run(capsys, "image", fifo, "/dev/zero", good, "--model", model)
    assert code == 1
    assert [r["path"] for r in json_rows(out)] == [str(good)]
    assert err.count("not a regular file") == 2 and "2 of 3 inputs failed" in err


def test_stdin_is_read_when_asked(monkeypatch, capsys, model):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(example_path().read_bytes())))
    code, out, err = run(capsys, "image", "-", "--model", model)
    assert code == 0, err
    rows = json_rows(out)
    assert len(rows) == 1 and rows[0]["path"] == "-" and center_in(rows[0], ASTRONAUT_BOX)


def test_only_a_bare_dash_is_stdin(monkeypatch, capsys, model, tmp_path, astronaut):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "-").write_bytes(cv2.imencode(".jpg", astronaut)[1].tobytes())  # named "-"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    code, out, err = run(capsys, "image", "./-", "--model", model)
    assert code == 0, err
    assert [r["path"] for r in json_rows(out)] == ["-"]  # the file; stdin, empty, unread
    code, out, err = run(capsys, "image", "-", "--model", model)
    assert (code, out) == (1, "") and "stdin is empty: pipe an image into it" in err
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"not an image")))
    code, out, err = run(capsys, "image", "-", "--model", model)
    assert (code, out) == (1, "") and err.startswith("ferkit: error: cannot read image stdin: ")
    code, out, err = run(capsys, "image", "-", "-", "--model", model)
    assert (code, out) == (1, "")
    assert err == "ferkit: error: '-' given twice: stdin holds one image\n"


def test_annotated_copies_inside_the_input_folder_are_not_read_again(tmp_path, capsys, model,
                                                                     astronaut):
    photos = tmp_path / "photos"
    photos.mkdir()
    cv2.imwrite(str(photos / "a.jpg"), astronaut)
    for overwrite in ([], ["--overwrite"]):  # a second run over the first one's copies
        code, out, err = run(capsys, "image", photos, "--model", model, "--annotate",
                             photos / "annotated", *overwrite)
        assert code == 0, err
        assert [Path(r["path"]).name for r in json_rows(out)] == ["a.jpg"]
    assert sorted(p.name for p in (photos / "annotated").iterdir()) == ["a.jpg"]


def test_same_names_from_two_folders_keep_their_folders(tmp_path, capsys, model, astronaut):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        cv2.imwrite(str(tmp_path / folder / "x.jpg"), astronaut)
    out_dir = tmp_path / "out"
    code, _, err = run(capsys, "image", tmp_path / "a" / "x.jpg", tmp_path / "b" / "x.jpg",
                       "--model", model, "--annotate", out_dir)
    assert code == 0, err
    written = sorted(p.relative_to(out_dir).as_posix() for p in out_dir.rglob("*"))
    assert written == ["a", "a/x.jpg", "b", "b/x.jpg"]


def test_existing_annotations_are_kept_unless_overwrite(tmp_path, capsys, model, astronaut):
    photo = tmp_path / "photo.jpg"
    cv2.imwrite(str(photo), astronaut)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    (out_dir / "photo.jpg").write_bytes(b"an earlier result")
    code, out, err = run(capsys, "image", photo, "--model", model, "--annotate", out_dir)
    assert code == 1 and out == ""  # refused before any work
    assert "already exists" in err and "--overwrite" in err
    assert (out_dir / "photo.jpg").read_bytes() == b"an earlier result"
    code, out, err = run(capsys, "image", photo, "--model", model, "--annotate", out_dir,
                         "--overwrite")
    assert code == 0, err
    assert cv2.imread(str(out_dir / "photo.jpg")).shape == astronaut.shape
