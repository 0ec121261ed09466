"""ferkit.video: frame streams and their errors, IoU tracking, EMA smoothing, writers, plots."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from ferkit.errors import FerkitError, ImageError
from ferkit.faces import Face
from ferkit.video import (
    AtomicVideoWriter,
    IoUTracker,
    ScoreSmoother,
    TrackerConfig,
    analyze_frames,
    describe_source,
    ema,
    greedy_match,
    iou_matrix,
    iter_frames,
    plot_timeline,
    prefetch,
    probe_video,
)

LABELS = ("happy", "angry", "sad", "neutral", "surprise")


def write_video(path: Path, frames: int = 10, size_wh=(64, 48), fps: float = 10.0,
                fourcc: str = "MJPG") -> Path:
    """A small video whose frame k is filled with grey level 20 * k (k < 12)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, size_wh)
    assert writer.isOpened()
    for k in range(frames):
        writer.write(np.full((size_wh[1], size_wh[0], 3), (20 * k) % 256, np.uint8))
    writer.release()
    return path


def box_face(x: float, y: float, w: float = 40, scores=None) -> Face:
    return Face((x, y, x + w, y + w), 0.9, scores=scores)


def probs(*values: float) -> dict[str, float]:
    return dict(zip(LABELS, values, strict=True))


# -- frame streams -----------------------------------------------------------------------------
def test_iter_frames_every_nth_with_times(tmp_path):
    path = write_video(tmp_path / "v.avi", frames=10, fps=10)
    got = list(iter_frames(path, every=3))
    assert [i for i, _, _ in got] == [0, 3, 6, 9]
    assert [t for _, t, _ in got] == pytest.approx([0.0, 0.3, 0.6, 0.9])
    for index, _, frame in got:
        assert frame.shape == (48, 64, 3) and frame.dtype == np.uint8
        assert abs(int(frame.mean()) - 20 * index) <= 3  # the right frame, not a neighbour
    info = probe_video(path)
    assert (info.fps, info.frame_count, info.size_wh, info.is_camera) == (10, 10, (64, 48), False)


def test_iter_frames_max_frames_and_early_close(tmp_path):
    path = write_video(tmp_path / "v.avi", frames=10)
    assert [i for i, _, _ in iter_frames(path, 2, max_frames=3)] == [0, 2, 4]
    stream = iter_frames(path)
    next(stream)
    stream.close()  # a consumer that stops early releases the capture without an error


def test_prefetch_yields_everything_in_order_then_the_error():
    def items():
        yield from range(5)
        raise ImageError("bad tail")

    got = []
    with pytest.raises(ImageError, match="bad tail"):
        for item in prefetch(items(), depth=2):
            got.append(item)
    assert got == [0, 1, 2, 3, 4]
    assert list(prefetch([])) == []


def test_prefetch_runs_ahead_in_another_thread_and_closing_stops_it():
    import threading

    produced, closed = [], threading.Event()

    def items():
        try:
            for i in range(1000):
                produced.append(threading.current_thread().name)
                yield i
        finally:
            closed.set()

    stream = prefetch(items(), depth=2)
    assert next(stream) == 0
    assert closed.wait(0) is False
    stream.close()
    assert closed.wait(5)  # the source generator was closed, by the producer thread
    assert set(produced) == {"ferkit-prefetch"} and len(produced) < 10


def test_prefetched_video_frames_are_the_same_frames(tmp_path):
    path = write_video(tmp_path / "v.avi", frames=12)
    plain = list(iter_frames(path, 2))
    ahead = list(prefetch(iter_frames(path, 2)))
    assert [i for i, _, _ in ahead] == [i for i, _, _ in plain] == [0, 2, 4, 6, 8, 10]
    assert all(np.array_equal(a[2], b[2]) for a, b in zip(ahead, plain, strict=True))


def _truncated(tmp_path: Path) -> Path:
    full = write_video(tmp_path / "full.avi", frames=30, size_wh=(160, 120))
    data = full.read_bytes()
    path = tmp_path / "truncated.avi"
    path.write_bytes(data[: len(data) // 2])
    return path


def _truncated_mp4(tmp_path: Path) -> Path:
    full = write_video(tmp_path / "full.mp4", frames=30, size_wh=(160, 120), fourcc="mp4v")
    path = tmp_path / "truncated.mp4"
    path.write_bytes(full.read_bytes()[:2000])
    return path


BAD_VIDEOS = {
    "missing": (lambda t: t / "missing.mp4", "no such file"),
    "empty": (lambda t: (t / "empty.mp4", (t / "empty.mp4").write_bytes(b""))[0],
              "the file is empty"),
    "text": (lambda t: (t / "notes.mp4", (t / "notes.mp4").write_text("hello\n"))[0],
             "not a video"),
    "folder": (lambda t: t, "is a directory"),
    "truncated mp4": (_truncated_mp4, "truncated"),
    "truncated avi": (_truncated, "truncated"),
}


@pytest.mark.parametrize("case", list(BAD_VIDEOS))
def test_bad_video_files_raise_image_error_naming_the_file(tmp_path, case):
    make, message = BAD_VIDEOS[case]
    path = make(tmp_path)
    with pytest.raises(ImageError, match=message) as info:
        for _ in iter_frames(path):
            pass
    text = str(info.value)
    assert str(path.name) in text and "\n" not in text


def test_missing_camera():
    with pytest.raises(ImageError, match="^no camera at index 99$"):
        list(iter_frames(99))
    with pytest.raises(ImageError, match="no camera at index 98"):
        probe_video("98")


def test_describe_source(tmp_path):
    assert describe_source(0) == (0, "camera 0", True)
    assert describe_source("2") == (2, "camera 2", True)
    clip = tmp_path / "clip.mp4"
    assert describe_source(clip) == (str(clip), str(clip), False)


def test_every_must_be_positive(tmp_path):
    with pytest.raises(FerkitError, match="every"):
        next(iter_frames(write_video(tmp_path / "v.avi"), every=0))


# -- tracking ----------------------------------------------------------------------------------
def test_iou_matrix_and_greedy_match():
    a = np.array([[0, 0, 10, 10], [100, 100, 110, 110]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [200, 200, 210, 210]])
    iou = iou_matrix(a, b)
    np.testing.assert_allclose(iou, [[1, 1 / 3, 0], [0, 0, 0]])
    assert iou_matrix(np.zeros((0, 4)), b).shape == (0, 3)
    assert greedy_match(iou, 0.3) == [(0, 0)]
    # Best pair first; each row and column used once.
    assert greedy_match(np.array([[0.5, 0.9], [0.8, 0.6]]), 0.3) == [(0, 1), (1, 0)]
    assert greedy_match(np.array([[0.2]]), 0.3) == []


def test_moving_face_keeps_its_id_and_new_faces_get_new_ids():
    tracker = IoUTracker()
    ids = []
    for frame in range(30):
        faces = [box_face(10 + 4 * frame, 20 + frame)]
        if frame >= 10:  # a second face walks in at frame 10
            faces.append(box_face(300 - 3 * frame, 200))
        if frame >= 20:  # and a third at frame 20, listed first this time
            faces.insert(0, box_face(150, 300))
        ids.append([f.track_id for f in tracker.update(faces)])
    assert ids[:10] == [[1]] * 10
    assert ids[10:20] == [[1, 2]] * 10
    assert ids[20:] == [[3, 1, 2]] * 10
    assert tracker.active_ids == {1, 2, 3}


def test_track_survives_short_gaps_and_expires_after_max_missed():
    tracker = IoUTracker(TrackerConfig(max_missed=2))
    assert [f.track_id for f in tracker.update([box_face(0, 0)])] == [1]
    tracker.update([])
    tracker.update([])  # missed twice: still alive
    assert [f.track_id for f in tracker.update([box_face(2, 0)])] == [1]
    for _ in range(3):  # missed three times: gone
        tracker.update([])
    assert tracker.active_ids == frozenset()
    assert [f.track_id for f in tracker.update([box_face(2, 0)])] == [2]  # ids are not reused


def test_prediction_bridges_a_missed_detection_of_a_moving_face():
    def ids(predict: bool) -> list[int]:
        tracker = IoUTracker(TrackerConfig(predict=predict))
        seen = []
        for frame in range(8):  # 20 px a frame for a 40 px face; not detected in frame 4
            faces = [] if frame == 4 else [box_face(20 * frame, 0)]
            seen += [f.track_id for f in tracker.update(faces)]
        return seen

    # After the gap the face is 40 px on, clear of its last box: only the prediction matches.
    assert ids(predict=True) == [1] * 7
    assert ids(predict=False) == [1, 1, 1, 1, 2, 2, 2]


def test_a_one_frame_jump_of_the_box_keeps_the_id():
    # A still 80 px face whose box jumps 22 px in one frame (as at a whole-frame search between
    # near-face searches) and back: the velocity from the jump predicts the next box 44 px off,
    # so only matching against the last box as well keeps the id.
    tracker = IoUTracker(TrackerConfig(iou_threshold=0.5))
    xs = [0, 0, 22, 0, 0]
    assert [tracker.update([box_face(x, 0, w=80)])[0].track_id for x in xs] == [1] * 5


def test_tracker_returns_copies_in_input_order():
    faces = [box_face(0, 0), box_face(100, 0)]
    tracked = IoUTracker().update(faces)
    assert [f.box_xyxy for f in tracked] == [f.box_xyxy for f in faces]
    assert faces[0].track_id is None  # inputs are not modified
    with pytest.raises(FerkitError):
        TrackerConfig(iou_threshold=0)


# -- smoothing ---------------------------------------------------------------------------------
def test_ema_math():
    assert ema(None, {"a": 1.0}, 0.3) == {"a": 1.0}
    assert ema({"a": 0.0, "b": 1.0}, {"a": 1.0, "b": 0.0}, 0.25) == pytest.approx(
        {"a": 0.25, "b": 0.75})


def test_smoother_follows_the_closed_form_per_track():
    alpha = 0.4
    smoother = ScoreSmoother(alpha)
    raw = [probs(1, 0, 0, 0, 0), probs(0, 1, 0, 0, 0), probs(0, 1, 0, 0, 0)]
    expected_happy = [1.0, 1 - alpha, (1 - alpha) ** 2]
    other = Face((0, 0, 1, 1), 1, scores=probs(0, 0, 0, 0, 1), track_id=2)
    for step, scores in enumerate(raw):
        a = Face((0, 0, 1, 1), 1, scores=scores, track_id=1)
        got_a, got_other = smoother.update([a, other])
        assert got_a.scores["happy"] == pytest.approx(expected_happy[step])
        assert sum(got_a.scores.values()) == pytest.approx(1.0)
        assert got_other.scores == other.scores  # tracks do not mix
        assert a.scores == scores  # the input face is left alone


def test_smoothing_off_and_state_dropped_for_ended_tracks():
    face = Face((0, 0, 1, 1), 1, scores=probs(0.5, 0.5, 0, 0, 0), track_id=7)
    assert ScoreSmoother(1.0).update([face]) == [face]
    smoother = ScoreSmoother(0.5)
    smoother.update([face])
    smoother.update([], live_ids=frozenset())
    fresh = Face((0, 0, 1, 1), 1, scores=probs(0, 0, 1, 0, 0), track_id=7)
    assert smoother.update([fresh])[0].scores == fresh.scores  # no memory of the ended track
    untracked = Face((0, 0, 1, 1), 1, scores=probs(1, 0, 0, 0, 0))
    assert smoother.update([untracked]) == [untracked]
    for bad in (0, -0.1, 1.5):
        with pytest.raises(FerkitError, match="alpha"):
            ScoreSmoother(bad)


# -- the pipeline with a stand-in recognizer ---------------------------------------------------
class ScriptedRecognizer:
    """Returns prepared faces per call, as Recognizer.analyze would, without a model."""

    def __init__(self, per_frame: list[list[Face]]):
        self.per_frame = iter(per_frame)
        self.near: list = []  # the `near` argument of each call

    def analyze(self, image, label_set="seed5", *, tta=False, near=None):
        self.near.append(near)
        return next(self.per_frame)


def test_analyze_frames_tracks_and_smooths():
    frames = [(k, k / 10, np.zeros((4, 4, 3), np.uint8)) for k in range(3)]
    script = [[box_face(0, 0, scores=probs(1, 0, 0, 0, 0))],
              [box_face(2, 0, scores=probs(0, 1, 0, 0, 0))],
              [box_face(4, 0, scores=probs(0, 1, 0, 0, 0)),
               box_face(200, 0, scores=probs(0, 0, 1, 0, 0))]]
    results = list(analyze_frames(ScriptedRecognizer(script), iter(frames), smooth=0.5))
    assert [r.index for r in results] == [0, 1, 2]
    assert [[f.track_id for f in r.faces] for r in results] == [[1], [1], [1, 2]]
    assert [r.faces[0].scores["happy"] for r in results] == pytest.approx([1, 0.5, 0.25])
    assert results[2].faces[1].scores["sad"] == 1.0


def test_redetect_every_searches_near_known_faces_in_between():
    frames = [(k, k / 10, np.zeros((4, 4, 3), np.uint8)) for k in range(7)]
    face = box_face(0, 0, scores=probs(1, 0, 0, 0, 0))
    # Frame 2 loses the face, so frame 3 searches the whole frame again.
    script = [[face], [face], [], [face], [face], [face], [face]]
    recognizer = ScriptedRecognizer(script)
    results = list(analyze_frames(recognizer, iter(frames), redetect_every=3))
    assert len(results) == 7
    box = [face.box_xyxy]
    assert recognizer.near == [None, box, box, None, box, box, None]
    every_frame = ScriptedRecognizer(script)
    list(analyze_frames(every_frame, iter(frames)))
    assert every_frame.near == [None] * 7
    with pytest.raises(FerkitError, match="redetect_every"):
        analyze_frames(every_frame, iter(frames), redetect_every=0)


# -- writing -----------------------------------------------------------------------------------
def test_atomic_video_writer(tmp_path):
    out = tmp_path / "out" / "clip.mp4"
    with AtomicVideoWriter(out, fps=5) as writer:
        for k in range(6):
            writer.write(np.full((48, 64, 3), 30 * k, np.uint8))
    assert sorted(p.name for p in out.parent.iterdir()) == ["clip.mp4"]
    info = probe_video(out)
    assert info.size_wh == (64, 48)
    assert len(list(iter_frames(out))) == 6


def test_atomic_video_writer_aborts_and_protects(tmp_path):
    out = tmp_path / "clip.mp4"
    with pytest.raises(RuntimeError), AtomicVideoWriter(out, fps=5) as writer:
        writer.write(np.zeros((48, 64, 3), np.uint8))
        raise RuntimeError("stop")
    assert list(tmp_path.iterdir()) == []
    source = write_video(tmp_path / "in.avi")
    before = source.read_bytes()
    with pytest.raises(FerkitError, match="refusing to overwrite"):
        AtomicVideoWriter(source, fps=5, protect=[source])
    assert source.read_bytes() == before


def test_plot_timeline_png():
    points = [(k / 10, 1 + (k % 2), probs(0.6, 0.1, 0.1, 0.1, 0.1)) for k in range(20)]
    for data in (points, points[:1], []):
        png = plot_timeline(data, LABELS, title="clip")
        image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
        assert png.startswith(b"\x89PNG") and image is not None and image.shape[0] > 100


def _panels_painted(png: bytes, panels: int) -> list[float]:
    """Share of non-white pixels in the middle of each panel's plot area (rough layout)."""
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    height, width = image.shape
    top, bottom = int(height * 0.08), int(height * 0.88)
    band = (bottom - top) / panels
    shares = []
    for k in range(panels):
        y0, y1 = int(top + band * (k + 0.3)), int(top + band * (k + 0.7))
        shares.append(float((image[y0:y1, int(width * 0.2):int(width * 0.7)] < 200).mean()))
    return shares


def test_plot_timeline_gives_no_empty_panel_for_one_frame_tracks():
    steady = [(k / 10, 1, probs(0.6, 0.1, 0.1, 0.1, 0.1)) for k in range(100)]
    blips = [(3.0, 7, probs(0.2, 0.2, 0.2, 0.2, 0.2)), (6.0, 9, probs(0.2, 0.2, 0.2, 0.2, 0.2))]
    png = plot_timeline(steady + blips, LABELS)
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    one_panel = cv2.imdecode(np.frombuffer(plot_timeline(steady, LABELS), np.uint8),
                             cv2.IMREAD_COLOR)
    assert image.shape == one_panel.shape  # the blips get no panels of their own
    assert _panels_painted(png, 1)[0] > 0.9
    # Only blips: each is drawn a frame step wide, visibly.
    alone = plot_timeline(blips, LABELS)
    assert min(_panels_painted(alone, 2)) > 0.0
