"""ferkit.video.pipeline: options, the analyzer's schedule, tracking and smoothing, resets."""

from __future__ import annotations

import numpy as np
import pytest
from video_helpers import box_face, probs

from ferkit.errors import FerkitError
from ferkit.faces import Face
from ferkit.video.io import Frame
from ferkit.video.pipeline import StreamAnalyzer, StreamOptions, analyze_frames


# -- the pipeline with a stand-in recognizer ---------------------------------------------------
class ScriptedRecognizer:
    """Returns prepared faces per call, as Recognizer.analyze would, without a model."""

    def __init__(self, per_frame: list[list[Face]]):
        self.per_frame = iter(per_frame)
        self.near: list = []  # the `near` argument of each call
        self.tta: list = []  # the `tta` argument of each call

    def analyze(self, image, label_set="seed5", *, tta=True, near=None):
        self.near.append(near)
        self.tta.append(tta)
        return next(self.per_frame)


def test_analyze_frames_tracks_and_smooths():
    frames = [Frame(k, k / 10, np.zeros((4, 4, 3), np.uint8)) for k in range(3)]
    script = [[box_face(0, 0, scores=probs(1, 0, 0, 0, 0))],
              [box_face(2, 0, scores=probs(0, 1, 0, 0, 0))],
              [box_face(4, 0, scores=probs(0, 1, 0, 0, 0)),
               box_face(200, 0, scores=probs(0, 0, 1, 0, 0))]]
    results = list(analyze_frames(ScriptedRecognizer(script), frames, StreamOptions(smooth=0.5)))
    assert [r.index for r in results] == [0, 1, 2]
    assert [[f.track_id for f in r.faces] for r in results] == [[1], [1], [1, 2]]
    assert [r.faces[0].scores["happy"] for r in results] == pytest.approx([1, 0.5, 0.25])
    assert results[2].faces[1].scores["sad"] == 1.0


def test_redetect_every_searches_near_known_faces_in_between():
    frames = [Frame(k, k / 10, np.zeros((4, 4, 3), np.uint8)) for k in range(7)]
    face = box_face(0, 0, scores=probs(1, 0, 0, 0, 0))
    # Frame 2 loses the face, so frame 3 searches the whole frame again.
    script = [[face], [face], [], [face], [face], [face], [face]]
    recognizer = ScriptedRecognizer(script)
    results = list(analyze_frames(recognizer, frames, StreamOptions(redetect_every=3)))
    assert len(results) == 7
    box = [face.box_xyxy]
    assert recognizer.near == [None, box, box, None, box, box, None]
    every_frame = ScriptedRecognizer(script)
    list(analyze_frames(every_frame, frames, StreamOptions(redetect_every=1)))
    assert every_frame.near == [None] * 7


def test_photos_and_video_frames_each_get_their_detector_unless_one_is_given():
    from ferkit.detect.spec import STREAM_PHOTO_DETECTOR, VIDEO_DETECTOR

    assert StreamOptions().detector_for("video") == VIDEO_DETECTOR
    assert StreamOptions().detector_for("image") == STREAM_PHOTO_DETECTOR
    assert "close_up=false" in VIDEO_DETECTOR and "close_up" not in STREAM_PHOTO_DETECTOR
    given = StreamOptions(detector="haar")
    assert given.detector_for("image") == given.detector_for("video") == "haar"
    with pytest.raises(FerkitError, match="kind must be 'image' or 'video'"):
        StreamOptions().detector_for("photo")


@pytest.mark.parametrize("photo_tta", [True, False])
def test_streams_read_faces_once_unless_told_while_photos_follow_photo_tta(monkeypatch,
                                                                           photo_tta):
    monkeypatch.setattr("ferkit.recognizer.PHOTO_TTA", photo_tta)
    assert StreamOptions().tta_for("video") is False
    assert StreamOptions().tta_for("image") is photo_tta
    assert StreamOptions(tta=True).tta_for("video") is True
    assert StreamOptions(tta=False).tta_for("image") is False
    with pytest.raises(FerkitError, match="kind must be 'image' or 'video'"):
        StreamOptions().tta_for("photo")
    frames = [Frame(k, k / 10, np.zeros((4, 4, 3), np.uint8)) for k in range(2)]
    for options, expected in ((StreamOptions(), [False, False]),
                              (StreamOptions(tta=True), [True, True])):
        recognizer = ScriptedRecognizer([[], []])
        list(analyze_frames(recognizer, frames, options))
        assert recognizer.tta == expected


@pytest.mark.parametrize("options, message", [
    ({"label_set": "seven"}, "unknown label set"),
    ({"detector": "yolo:x=1"}, "unknown face detector 'yolo'"),
    ({"every": 0}, r"--every\) must be 1 or more"),
    ({"smooth": 0}, r"--smooth\) must be in \(0, 1\]"),
    ({"smooth": 1.5}, "--smooth"),
    ({"redetect_every": 0}, "--redetect-every"),
    ({"threads": 0}, "--threads"),
])
def test_stream_options_are_validated_once_where_they_are_made(options, message):
    with pytest.raises(FerkitError, match=message):
        StreamOptions(**options)


def test_stream_options_take_the_spec_grammar_and_a_model_path(tmp_path):
    options = StreamOptions(detector="blazeface:tiles=false", model=tmp_path / "m.onnx")
    assert options.model == str(tmp_path / "m.onnx") and options.redetect_every == 5


def test_analyzer_restarts_its_schedule_and_tracks_on_reset_and_on_a_repeated_frame():
    face = box_face(0, 0, scores=probs(1, 0, 0, 0, 0))
    recognizer = ScriptedRecognizer([[face]] * 8)
    analyzer = StreamAnalyzer(recognizer, StreamOptions(redetect_every=5))
    image = np.zeros((4, 4, 3), np.uint8)
    ids = [analyzer.update(Frame(k, k / 10, image)).faces[0].track_id for k in range(3)]
    analyzer.reset()  # a seek
    ids.append(analyzer.update(Frame(40, 4.0, image)).faces[0].track_id)
    ids.append(analyzer.update(Frame(41, 4.1, image)).faces[0].track_id)
    ids.append(analyzer.update(Frame(41, 4.1, image)).faces[0].track_id)  # the same photo again
    box = [face.box_xyxy]
    assert recognizer.near == [None, box, box, None, box, None]
    assert ids == [1, 1, 1, 1, 1, 1]  # reset gives new tracks, whose ids start again at 1


def test_an_analyzer_without_a_recognizer_only_tracks():
    analyzer = StreamAnalyzer(None, StreamOptions(smooth=0.5))
    result = analyzer.track(3, 0.3, None, [box_face(0, 0, scores=probs(1, 0, 0, 0, 0))])
    assert (result.index, result.faces[0].track_id) == (3, 1)
    with pytest.raises(FerkitError, match="only tracks"):
        analyzer.update(Frame(4, 0.4, np.zeros((4, 4, 3), np.uint8)))


def test_a_printed_frame_result_shows_no_pixels():
    from ferkit.video.pipeline import FrameResult

    text = repr(FrameResult(3, 0.1, np.zeros((480, 640, 3), np.uint8)))
    assert text == "FrameResult(index=3, time_s=0.1, faces=[])"
