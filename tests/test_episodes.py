"""Segmentation of tracked faces into emotion episodes: hysteresis, minimum duration, gaps."""

from __future__ import annotations

import pytest

from ferkit.episodes import (
    NO_FACE,
    UNCERTAIN,
    EpisodeOptions,
    Recording,
    emotion_shares,
    segment,
)
from ferkit.errors import FerkitError
from ferkit.faces import Face

LABELS = ("happy", "angry", "sad", "neutral", "surprise")


def probs(label: str, p: float = 0.8) -> dict[str, float]:
    """`label` at probability `p`, the rest spread evenly."""
    rest = (1 - p) / (len(LABELS) - 1)
    return {name: (p if name == label else rest) for name in LABELS}


def face(track_id: int, scores: dict[str, float], x: float = 10.0) -> Face:
    return Face((x, 10, x + 40, 50), 0.9, scores=scores, track_id=track_id)


def recording(per_frame: list[list[Face]], fps: float = 10.0, every: int = 1,
              times: list[float] | None = None) -> Recording:
    """A Recording of frames 0, every, 2 * every, ... at `fps` (or at the given `times`)."""
    rec = Recording(LABELS)
    for k, faces in enumerate(per_frame):
        index = k * every
        rec.add(index, times[k] if times else index / fps, faces)
    return rec


def summary(episodes) -> list[tuple[int, str, float, float, int]]:
    return [(e.track_id, e.label, round(e.start_s, 3), round(e.end_s, 3), e.frames)
            for e in episodes]


def test_one_frame_flicker_does_not_split_an_episode():
    frames = [[face(1, probs("happy"))] for _ in range(30)]
    frames[12] = [face(1, probs("angry", 0.9))]  # wins by far more than the margin
    episodes = segment(recording(frames), EpisodeOptions(margin=0.1, min_duration_s=0.5))
    assert summary(episodes) == [(1, "happy", 0.0, 3.0, 30)]
    # Without the minimum duration the odd frame is its own episode: the option is what
    # removes it, not something else.
    split = segment(recording(frames), EpisodeOptions(margin=0.1, min_duration_s=0))
    assert [e.label for e in split] == ["happy", "angry", "happy"]
    assert split[1].frames == 1 and split[1].mean_probability == pytest.approx(0.9)


def test_hysteresis_keeps_the_label_until_a_rival_wins_by_the_margin():
    close = {"happy": 0.42, "angry": 0.46, "sad": 0.04, "neutral": 0.04, "surprise": 0.04}
    frames = [[face(1, probs("happy", 0.6))]] * 5 + [[face(1, close)]] * 20
    held = segment(recording(frames), EpisodeOptions(margin=0.1, min_duration_s=0))
    assert [(e.label, e.frames) for e in held] == [("happy", 25)]
    assert held[0].mean_probability == pytest.approx((5 * 0.6 + 20 * 0.42) / 25)
    free = segment(recording(frames), EpisodeOptions(margin=0.0, min_duration_s=0))
    assert [(e.label, e.frames) for e in free] == [("happy", 5), ("angry", 20)]


def test_a_real_change_longer_than_the_minimum_is_kept():
    frames = [[face(1, probs("happy"))]] * 20 + [[face(1, probs("sad"))]] * 20
    episodes = segment(recording(frames), EpisodeOptions(min_duration_s=1.0))
    assert summary(episodes) == [(1, "happy", 0.0, 2.0, 20), (1, "sad", 2.0, 4.0, 20)]


def test_a_face_that_leaves_and_returns_gets_a_no_face_gap_never_a_label():
    frames = ([[face(1, probs("happy"))]] * 10 + [[]] * 3 + [[face(1, probs("happy"))]] * 10)
    episodes = segment(recording(frames), EpisodeOptions(min_duration_s=1.0))
    assert summary(episodes) == [(1, "happy", 0.0, 1.0, 10), (1, NO_FACE, 1.0, 1.3, 3),
                                 (1, "happy", 1.3, 2.3, 10)]
    assert episodes[1].mean_probability is None and episodes[1].is_gap
    # A short emotion run between gaps is kept: there is no neighbour to merge it into.
    lonely = [[face(1, probs("happy"))]] * 10 + [[]] + [[face(1, probs("sad"))]] + [[]] + \
        [[face(1, probs("happy"))]] * 10
    labels = [e.label for e in segment(recording(lonely), EpisodeOptions(min_duration_s=1))]
    assert labels == ["happy", NO_FACE, "sad", NO_FACE, "happy"]


def test_a_face_is_segmented_only_over_its_own_span():
    frames = [[]] * 5 + [[face(1, probs("neutral"))]] * 10 + [[]] * 5
    episodes = segment(recording(frames))
    assert summary(episodes) == [(1, "neutral", 0.5, 1.5, 10)]


def test_low_probability_frames_are_uncertain():
    flat = {name: 0.2 for name in LABELS}
    frames = [[face(1, probs("happy"))]] * 10 + [[face(1, flat)]] * 10
    episodes = segment(recording(frames), EpisodeOptions(uncertain_below=0.3))
    assert [(e.label, e.frames) for e in episodes] == [("happy", 10), (UNCERTAIN, 10)]
    assert segment(recording(frames), EpisodeOptions(uncertain_below=0))[-1].label == "happy"


def test_two_faces_crossing_keep_their_own_episodes():
    # Face 1 moves right and face 2 left; they pass each other at frame 10. The tracker gives
    # the ids; the episodes follow the ids, not the positions.
    frames = []
    for k in range(20):
        frames.append([face(1, probs("happy"), x=10 + 10 * k),
                       face(2, probs("sad" if k < 12 else "surprise"), x=200 - 10 * k)])
    episodes = segment(recording(frames), EpisodeOptions(min_duration_s=0.5))
    assert summary(episodes) == [(1, "happy", 0.0, 2.0, 20), (2, "sad", 0.0, 1.2, 12),
                                 (2, "surprise", 1.2, 2.0, 8)]
    shares = emotion_shares(episodes)
    assert shares[2] == pytest.approx({"sad": 0.6, "surprise": 0.4})


def test_no_faces_gives_no_episodes():
    rec = recording([[]] * 10)
    assert segment(rec) == [] and rec.track_ids == [] and rec.end_s() == pytest.approx(1.0)


def test_every_n_and_variable_frame_rates_give_true_times():
    # --every 3 at 30 fps: analysed frames 0, 3, 6, ... 0.1 s apart.
    strided = segment(recording([[face(1, probs("happy"))]] * 10, fps=30, every=3))
    assert summary(strided) == [(1, "happy", 0.0, 1.0, 10)]
    assert (strided[0].first_frame, strided[0].last_frame) == (0, 27)
    # Variable frame rate: each frame lasts until the next starts; the last for the median.
    times = [0.0, 0.04, 0.08, 0.2, 0.5, 0.54, 0.58, 0.62]
    frames = [[face(1, probs("happy"))]] * 4 + [[face(1, probs("sad"))]] * 4
    episodes = segment(recording(frames, times=times), EpisodeOptions(min_duration_s=0))
    assert summary(episodes) == [(1, "happy", 0.0, 0.5, 4), (1, "sad", 0.5, 0.66, 4)]


def test_frames_out_of_order_and_bad_options_are_refused():
    rec = recording([[face(1, probs("happy"))]] * 2)
    with pytest.raises(FerkitError, match="in order"):
        rec.add(0, 0.0, [])
    for bad in ({"margin": 1.5}, {"min_duration_s": -1}, {"uncertain_below": 1}):
        with pytest.raises(FerkitError):
            EpisodeOptions(**bad)


def test_two_faces_crossing_through_the_real_tracker():
    # Face A walks right, smiling; face B walks left, sad; their boxes overlap around frame 10.
    # The tracker's velocity prediction keeps each id on its own face; episodes follow the ids.
    from ferkit.video import IoUTracker

    tracker = IoUTracker()
    rec = Recording(LABELS)
    for k in range(21):
        a = Face((20 + 12 * k, 40, 80 + 12 * k, 100), 0.9, scores=probs("happy"))
        b = Face((260 - 12 * k, 44, 320 - 12 * k, 104), 0.9, scores=probs("sad"))
        rec.add(k, k / 10, tracker.update([a, b]))
    episodes = segment(rec)
    assert summary(episodes) == [(1, "happy", 0.0, 2.1, 21), (2, "sad", 0.0, 2.1, 21)]
