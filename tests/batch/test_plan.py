"""Fast units: finding inputs, manifests, job ranges, fingerprints, and exact frame ranges."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from batch_helpers import write_video

from ferkit.batch.plan import (
    BatchSettings,
    InputItem,
    chunk_size,
    find_inputs,
    media_kind,
    plan_jobs,
)
from ferkit.batch.plan import fingerprint as settings_fingerprint
from ferkit.episodes import EpisodeOptions
from ferkit.errors import FerkitError, ImageError
from ferkit.faces import Face
from ferkit.recognizer import PHOTO_TTA
from ferkit.video import Frame, FrameResult, StreamOptions, analyze_frames, iter_frames, track_faces


def numbered_frames(count: int, size_wh=(64, 48)) -> list[np.ndarray]:
    """Frames whose pixels say their own index, to check which frame came back."""
    return [np.full((size_wh[1], size_wh[0], 3), 3 * k % 256, np.uint8) for k in range(count)]


def test_find_inputs_from_files_folders_and_a_manifest(tmp_path):
    (tmp_path / "a" / "deep").mkdir(parents=True)
    for name in ("a/one.jpg", "a/deep/two.PNG", "a/clip.mp4", "a/notes.md", "b.jpg"):
        (tmp_path / name).write_bytes(b"x")
    listed = tmp_path / "lists" / "inputs.txt"
    listed.parent.mkdir()
    listed.write_text("# a comment\n\n../b.jpg\n  ../a/one.jpg  \n../gone.mp4\n"
                      f"{tmp_path / 'a' / 'deep'}\n")
    items = find_inputs([tmp_path / "a", listed, tmp_path / "b.jpg"])
    got = [(item.path.relative_to(tmp_path).as_posix(), item.kind) for item in items]
    # Folder contents sorted, the .md skipped, every file once in first-named order; the
    # manifest's missing file stays as an input (it will fail and be reported).
    assert got == [("a/clip.mp4", "video"), ("a/deep/two.PNG", "image"), ("a/one.jpg", "image"),
                   ("b.jpg", "image"), ("gone.mp4", "video")]
    assert all(item.path.is_absolute() for item in items)


def test_find_inputs_errors(tmp_path):
    with pytest.raises(FerkitError, match="no such file or folder"):
        find_inputs([tmp_path / "typo"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(FerkitError, match="no images or videos found"):
        find_inputs([tmp_path / "empty"])


def test_media_kind_by_suffix_then_by_content(tmp_path, face):
    photo = tmp_path / "photo.data"
    cv2.imwrite(str(tmp_path / "p.png"), face(1))
    photo.write_bytes((tmp_path / "p.png").read_bytes())
    assert media_kind(Path("x.JPG")) == "image"
    assert media_kind(Path("x.MKV")) == "video"
    assert media_kind(photo) == "image"
    assert media_kind(tmp_path / "missing.bin") == "video"


def test_input_keys_are_readable_unique_and_safe(tmp_path):
    a = InputItem(tmp_path / "x" / "my clip (1).mp4", "video")
    b = InputItem(tmp_path / "y" / "my clip (1).mp4", "video")
    assert a.key.startswith("my_clip_1-") and a.key != b.key
    assert a.key == InputItem(a.path, "video").key  # stable across runs
    assert "/" not in a.key and " " not in a.key


def test_chunks_are_whole_multiples_of_the_redetect_cycle():
    assert [chunk_size(n, 5) for n in (0, 1, 5, 8, 300, 301)] == [0, 5, 5, 10, 300, 305]
    assert chunk_size(7, 1) == 7


def test_plan_jobs_splits_videos_into_covering_ranges(tmp_path):
    video = write_video(tmp_path / "v.mp4", numbered_frames(23))
    item = InputItem(video, "video")
    jobs, expected = plan_jobs(item, every=2, chunk_frames=4)  # 8 source frames per job
    assert expected == 12
    assert [(j.part, j.parts, j.start, j.stop) for j in jobs] == \
        [(0, 3, 0, 8), (1, 3, 8, 16), (2, 3, 16, None)]
    assert [(j.start, j.stop) for j in plan_jobs(item, 1, 0)[0]] == [(0, None)]  # 0: no split
    image_jobs, image_frames = plan_jobs(InputItem(tmp_path / "p.jpg", "image"), 1, 4)
    assert image_frames == 1 and [(j.start, j.stop) for j in image_jobs] == [(0, None)]
    (tmp_path / "bad.mp4").write_bytes(b"nope" * 50)
    with pytest.raises(ImageError, match="bad.mp4"):
        plan_jobs(InputItem(tmp_path / "bad.mp4", "video"), 1, 4)


@pytest.mark.parametrize("every", [1, 3])
def test_frame_ranges_concatenate_to_the_whole_pass(tmp_path, every):
    video = write_video(tmp_path / "v.mp4", numbered_frames(25))
    whole = list(iter_frames(video, every))
    pieces = []
    for start, stop in [(0, 7), (7, 14), (14, 21), (21, None)]:
        pieces += list(iter_frames(video, every, start=start, stop=stop))
    assert [(i, t) for i, t, _ in pieces] == [(i, t) for i, t, _ in whole]
    assert all(np.array_equal(a, b) for (_, _, a), (_, _, b) in zip(pieces, whole, strict=True))
    assert [i for i, _, _ in whole] == list(range(0, 25, every))
    # A range starting at the very end is empty, not an error (frame counts are estimates).
    assert list(iter_frames(video, every, start=25)) == []


def test_settings_fingerprint_tracks_what_changes_rows():
    base = settings_fingerprint(BatchSettings().identity())
    assert settings_fingerprint(BatchSettings(threads=4).identity()) == base
    for changed in (BatchSettings(label_set="fer2013"), BatchSettings(every=2),
                    BatchSettings(smooth=0.5), BatchSettings(tta=True),
                        *([BatchSettings(tta=False)] if PHOTO_TTA else []),  # else the default
                    BatchSettings(detector="haar"), BatchSettings(redetect_every=1),
                    BatchSettings(episodes=EpisodeOptions(margin=0.3)),
                    BatchSettings(episodes=EpisodeOptions(min_duration_s=0.5)),
                    BatchSettings(episodes=EpisodeOptions(uncertain_below=0.4))):
        assert settings_fingerprint(changed.identity()) != base
    # Photos read as PHOTO_TTA says, video frames once: what each kind gets is fingerprinted.
    assert BatchSettings().identity()["tta"] == {"image": PHOTO_TTA, "video": False}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("ferkit.recognizer.PHOTO_TTA", True)
        assert BatchSettings().identity()["tta"] == {"image": True, "video": False}
    with pytest.raises(FerkitError, match="every"):
        BatchSettings(every=0)
    with pytest.raises(FerkitError, match="label set"):
        BatchSettings(label_set="nope")


class _Replay:
    """Stands in for a Recognizer in analyze_frames: returns recorded faces per frame."""

    def __init__(self, per_frame):
        self.per_frame = iter(per_frame)

    def analyze(self, image, label_set="seed5", *, tta=False, near=None):
        return next(self.per_frame)


def test_track_faces_is_the_tracking_half_of_analyze_frames():
    def box(x, happy):
        return Face((x, 10, x + 40, 50), 0.9, scores={"happy": happy, "sad": 1 - happy})

    per_frame = [[box(10 + 4 * k, 0.1 * k), box(200 - 3 * k, 0.5)] if k != 4 else []
                 for k in range(9)]
    frames = [Frame(k, k / 10, None) for k in range(9)]
    options = StreamOptions(smooth=0.4)
    expected = [r.faces for r in analyze_frames(_Replay(per_frame), frames, options)]
    got = [r.faces for r in track_faces((FrameResult(k, t, None, f) for (k, t, _), f
                                         in zip(frames, per_frame, strict=True)), options)]
    assert got == expected
    assert {f.track_id for faces in got for f in faces} == {1, 2}
