"""Display-free app logic: settings, view geometry, face picking, bars, fps, tracking."""

from __future__ import annotations

import itertools

import pytest

from ferkit.errors import FerkitError
from ferkit.faces import Face
from ferkit.gui.state import (
    GUI_DETECTORS,
    SMOOTHING,
    FpsMeter,
    Settings,
    ViewTransform,
    face_at,
    probability_bars,
    selected_face,
)
from ferkit.video.pipeline import StreamOptions


def face(x1, y1, x2, y2, track_id=None, **scores) -> Face:
    return Face((x1, y1, x2, y2), 0.9, scores=scores or None, track_id=track_id)


def test_settings_reject_an_unknown_label_set():
    assert Settings("ferplus", "haar", False).label_set == "ferplus"
    with pytest.raises(FerkitError, match="unknown label set"):
        Settings(label_set="seven")


@pytest.mark.parametrize("image_wh, view_wh, scale, offset", [
    ((200, 100), (400, 400), 2.0, (0, 100)),     # wide image: bands above and below
    ((100, 200), (400, 200), 1.0, (150, 0)),     # tall image: bands left and right
    ((1000, 500), (500, 250), 0.5, (0, 0)),      # exact fit, shrunk
])
def test_view_transform_letterboxes_and_round_trips(image_wh, view_wh, scale, offset):
    t = ViewTransform.fit(image_wh, view_wh)
    assert t.scale == pytest.approx(scale)
    assert (t.offset_x, t.offset_y) == pytest.approx(offset)
    x1, y1, x2, y2 = t.to_view((10, 20, 30, 40))
    assert t.to_image(x1, y1) == pytest.approx((10, 20))
    assert t.to_image(x2, y2) == pytest.approx((30, 40))


def test_face_at_picks_the_smallest_box_under_the_point():
    faces = [face(0, 0, 100, 100), face(40, 40, 60, 60), face(200, 200, 220, 220)]
    assert face_at(faces, 50, 50) == 1
    assert face_at(faces, 10, 10) == 0
    assert face_at(faces, 210, 205) == 2
    assert face_at(faces, 150, 150) is None
    assert face_at([], 1, 1) is None


def test_selected_face_falls_back_to_the_first():
    faces = [face(0, 0, 10, 10, track_id=3), face(20, 0, 30, 10, track_id=7)]
    assert selected_face(faces, 7).track_id == 7
    assert selected_face(faces, None).track_id == 3
    assert selected_face(faces, 99).track_id == 3  # the chosen face left the frame
    assert selected_face([], 7) is None


def test_probability_bars_follow_the_label_set_order():
    f = face(0, 0, 1, 1, happy=0.7, sad=0.2, neutral=0.1)
    assert probability_bars(f, "seed5") == [
        ("happy", 0.7), ("angry", 0.0), ("sad", 0.2), ("neutral", 0.1), ("surprise", 0.0)]
    assert [p for _, p in probability_bars(None, "fer2013")] == [0.0] * 7


def test_fps_meter_over_its_window():
    ticks = itertools.count(0, 0.1)
    meter = FpsMeter(window=5, clock=lambda: next(ticks))
    assert meter.fps == 0.0
    for _ in range(10):
        meter.tick()
    assert meter.fps == pytest.approx(10.0)
    meter.reset()
    assert meter.fps == 0.0


def test_settings_are_stream_options_with_the_app_smoothing():
    # no detector chosen: each kind of source its default, which the app shows first
    assert GUI_DETECTORS[0] is None
    assert Settings().options() == StreamOptions(detector=None, smooth=SMOOTHING)
    assert Settings("fer2013", "haar", False).options() == StreamOptions(
        label_set="fer2013", detector="haar", smooth=1.0)
    with pytest.raises(FerkitError, match="unknown face detector"):
        Settings(detector="nope")
