"""One clip through `ferkit video`, a server video job, `ferkit batch` and a GUI recording, each
with its defaults (the app's smoothing checkbox off): the same rows, columns and order."""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
from cli_helpers import run
from media_helpers import write_video

from ferkit.imageio import example_path
from ferkit.labels import label_names
from ferkit.rows import columns

LABELS = label_names("seed5")
INTEGERS = {"frame", "track_id", "face"}


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    """Ten frames, 10 fps, of the example photo panning: one face that moves."""
    photo = cv2.imread(str(example_path("astronaut")))
    frames = [cv2.resize(photo[10:346, 8 + 6 * k:456 + 6 * k], (320, 240),
                         interpolation=cv2.INTER_AREA) for k in range(10)]
    return write_video(tmp_path_factory.mktemp("agree") / "pan.mp4", frames)


def parse_csv(text: str) -> tuple[list[str], list[dict]]:
    reader = csv.DictReader(io.StringIO(text))
    return list(reader.fieldnames or []), list(reader)


def assert_same_rows(got: list[dict], expected: list[dict]) -> None:
    """Equal row by row: ids, frames and labels exactly; floats to 1e-5 (worker processes run
    ONNX Runtime on one thread, which may round the last bits differently)."""
    assert len(got) == len(expected) > 0
    for a, b in zip(got, expected, strict=True):
        assert list(a) == list(b)
        for key in a:
            if key in INTEGERS or key == "label":
                assert a[key] == b[key], key
            else:
                assert float(a[key]) == pytest.approx(float(b[key]), abs=1e-5), key


@pytest.fixture(scope="module")
def cli_rows(clip, tmp_path_factory) -> tuple[list[str], list[dict]]:
    from ferkit.cli import main

    out = tmp_path_factory.mktemp("cli") / "rows.csv"
    assert main(["video", str(clip), "--csv", "--out", str(out), "--no-progress"]) == 0
    return parse_csv(out.read_text())


def test_the_cli_writes_the_one_schema(cli_rows):
    header, rows = cli_rows
    assert header == columns(LABELS)
    assert [r["frame"] for r in rows] == [str(k) for k in range(10)]
    assert {r["track_id"] for r in rows} == {"1"}


def test_a_server_video_job_gives_the_cli_rows(clip, cli_rows):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from ferkit.server.app import create_app

    with TestClient(create_app()) as client:
        job = client.post("/v1/videos", files={"file": ("pan.mp4", clip.read_bytes())}).json()
        deadline = time.monotonic() + 120
        while client.get(f"/v1/videos/{job['id']}").json()["status"] not in ("done", "failed"):
            assert time.monotonic() < deadline
            time.sleep(0.1)
        text = client.get(f"/v1/videos/{job['id']}?format=csv").text
    header, rows = parse_csv(text)
    assert header == cli_rows[0]
    assert_same_rows(rows, cli_rows[1])


def test_batch_gives_the_cli_rows_after_its_input_column(clip, cli_rows, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    from ferkit.cli import main

    assert main(["batch", str(clip), "--out", str(tmp_path), "--workers", "1",
                 "--no-progress"]) == 0
    table = pq.read_table(next((tmp_path / "faces").glob("*.parquet")))
    assert table.column_names == ["input", *cli_rows[0]]
    rows = [{k: ("" if v is None else str(v)) for k, v in row.items() if k != "input"}
            for row in table.to_pylist()]
    assert_same_rows(rows, cli_rows[1])


def test_a_gui_recording_gives_the_cli_rows(clip, cli_rows, tmp_path):
    from ferkit.gui.record import Recorder
    from ferkit.gui.state import FrameProcessor, Settings
    from ferkit.gui.worker import Worker
    from ferkit.recognizer import RecognizerPool

    settings = Settings(smoothing=False)
    worker = Worker(FrameProcessor(RecognizerPool()), settings)  # the shipped model
    recorder = Recorder(tmp_path / "rec", 10.0, settings.label_set)
    worker.start_recording(recorder)  # before the source opens: from its first frame
    worker.start()
    try:
        worker.open(str(clip))
        deadline = time.monotonic() + 120
        while not any("end of" in m.text for m in _drain(worker)):
            assert time.monotonic() < deadline
    finally:
        worker.stop_recording()
        worker.stop()
    header, rows = parse_csv(recorder.csv_path.read_text())
    assert header == cli_rows[0]
    assert_same_rows(rows, cli_rows[1])


def _drain(worker) -> list:
    import queue

    try:
        return [worker.messages.get(timeout=0.1)]
    except queue.Empty:
        return []


def test_an_empty_clip_still_gets_a_csv_header(tmp_path, capsys):
    gray = write_video(tmp_path / "gray.mp4", [np.full((48, 64, 3), 90, np.uint8)] * 3)
    code, out, err = run(capsys, "video", gray, "--csv", "--no-progress")
    assert code == 0, err
    assert out.splitlines() == [",".join(columns(LABELS))]
