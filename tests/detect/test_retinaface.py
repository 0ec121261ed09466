"""RetinaFace: anchors, decoding, real faces at several sizes, landmark order, bad inputs."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from detect_helpers import CROWD, TRUTH, compose, iou, photo

from ferkit.detect.retinaface import (
    _MEAN_BGR,
    CLOSE_UP_MAX_SIDE,
    RetinaFaceDetector,
    decode,
    network_batch,
    priors,
)
from ferkit.detect.spec import parse_detector
from ferkit.errors import FerkitError

RAFDB = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "rafdb" / "train"
FER2013 = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "fer2013"


@pytest.fixture(scope="module")
def retinaface():
    return RetinaFaceDetector()


def test_priors_follow_the_model_output_order():
    anchors = priors(64, 96)
    # strides 8, 16, 32 with two sizes per cell: (8*12 + 4*6 + 2*3) cells x 2
    assert anchors.shape == ((8 * 12 + 4 * 6 + 2 * 3) * 2, 4)
    assert anchors[0].tolist() == [4, 4, 16, 16] and anchors[1].tolist() == [4, 4, 32, 32]
    assert anchors[2].tolist() == [12, 4, 16, 16]
    assert anchors[8 * 12 * 2].tolist() == [8, 8, 64, 64]
    assert anchors[-1].tolist() == [80, 48, 512, 512]


def test_decode_scales_offsets_by_the_anchor_and_variances():
    anchor = np.array([[100.0, 50.0, 32.0, 32.0]], np.float32)
    loc = np.array([[1.0, -1.0, 0.0, np.log(2) / 0.2]], np.float32)
    points = np.zeros((1, 10), np.float32)
    points[0, :2] = [2.0, 0.0]
    boxes, pts = decode(loc, points, anchor)
    # centre moves by 0.1 * 32 per unit, width stays 32, height doubles to 64
    assert boxes[0] == pytest.approx([103.2 - 16, 46.8 - 32, 103.2 + 16, 46.8 + 32])
    assert pts[0, 0] == pytest.approx([106.4, 50]) and pts[0, 1] == pytest.approx([100, 50])


@pytest.mark.parametrize("name", ["astronaut", "camera"])
def test_finds_the_face_in_each_shipped_photo(retinaface, name):
    faces = retinaface.detect(photo(name))
    assert len(faces) == 1
    assert iou(faces[0].box_xyxy, TRUTH[name]) > 0.5
    assert faces[0].detector_score > 0.9


def test_finds_every_head_of_a_composed_crowd(retinaface):
    frame, truth = compose(CROWD)
    faces = retinaface.detect(frame)
    for box in truth:
        assert max(iou(f.box_xyxy, box) for f in faces) > 0.4, box
    assert len(faces) == len(truth)


@pytest.mark.skipif(not RAFDB.is_dir(), reason="RAF-DB not in ../shared/datasets/rafdb")
@pytest.mark.parametrize("face_w", [64, 120, 240])
def test_finds_real_rafdb_faces_at_several_sizes(retinaface, face_w):
    # RAF-DB's crops hold the face alone, no hair or shoulders: below ~64 px such cut-outs are
    # found far less often than whole heads (docs/BENCHMARKS.md); the crowd test covers those
    files = sorted(RAFDB.glob("4/*.jpg"))[:6]  # the first six "happy" faces
    background = cv2.resize(photo("astronaut")[:, :170], (640, 480))
    found = 0
    for file in files:
        frame = background.copy()
        face = cv2.resize(cv2.imread(str(file)), (face_w, face_w), interpolation=cv2.INTER_AREA)
        x0, y0 = 320 - face_w // 2, 240 - face_w // 2
        frame[y0:y0 + face_w, x0:x0 + face_w] = face
        truth = (x0, y0, x0 + face_w, y0 + face_w)
        faces = retinaface.detect(frame)
        found += any(iou(f.box_xyxy, truth) > 0.4 for f in faces)
        assert len(faces) <= 1
    assert found >= 5


def test_landmarks_come_as_right_eye_left_eye_nose_right_and_left_mouth(retinaface):
    for image in (photo("astronaut"), np.ascontiguousarray(photo("astronaut")[:, ::-1])):
        (face,) = retinaface.detect(image)
        (rex, rey), (lex, ley), (nx, ny), (rmx, rmy), (lmx, lmy) = face.landmarks
        # the subject's right eye and mouth corner lie on the image's left
        assert rex < nx < lex and rmx < nx < lmx
        # eyes above the nose tip, the nose tip above the mouth corners
        assert max(rey, ley) < ny < min(rmy, lmy)
        x1, y1, x2, y2 = face.box_xyxy
        assert all(x1 <= x <= x2 and y1 <= y <= y2 for x, y in face.landmarks)


def test_a_face_less_image_gives_no_faces(retinaface):
    assert retinaface.detect(photo("astronaut")[250:, :]) == []
    assert retinaface.detect(np.full((240, 320, 3), 128, np.uint8)) == []


def _first_search_finds_nothing(detector, monkeypatch) -> list[tuple[int, int]]:
    """Make the detector's first search of each call come back empty; returns the sizes
    of every image searched."""
    real, searched = detector._run, []

    def run(images, min_score=None):
        searched.append(images[0].shape[:2])
        if len(searched) % 2 == 1:
            return [(np.zeros((0, 4)), np.zeros((0, 5, 2)), np.zeros(0))]
        return real(images, min_score)

    monkeypatch.setattr(detector, "_run", run)
    return searched


def test_close_up_searches_a_small_image_again_framed_and_maps_the_face_back(monkeypatch):
    crop = photo("astronaut")[60:190, 160:290]  # the face, cut tight: 130x130
    (direct,) = RetinaFaceDetector().detect(crop)
    detector = RetinaFaceDetector()
    searched = _first_search_finds_nothing(detector, monkeypatch)
    (framed,) = detector.detect(crop)
    # the second search: a quarter of the side added on each edge (130 + 2 * 32 = 194 px)
    assert searched == [(130, 130), (194, 194)]
    assert iou(framed.box_xyxy, direct.box_xyxy) > 0.8
    assert all(0 <= v <= 130 for v in framed.box_xyxy)
    np.testing.assert_allclose(framed.landmarks, direct.landmarks, atol=6)


def test_close_up_enlarges_tiny_crops_and_is_skipped_when_off_or_for_large_images(monkeypatch):
    tiny = cv2.resize(photo("astronaut")[60:190, 160:290], (48, 48), interpolation=cv2.INTER_AREA)
    detector = RetinaFaceDetector()
    searched = _first_search_finds_nothing(detector, monkeypatch)
    (face,) = detector.detect(tiny)
    assert searched[1] == (192, 192) and all(0 <= v <= 48 for v in face.box_xyxy)

    off = RetinaFaceDetector(close_up=False)
    searched = _first_search_finds_nothing(off, monkeypatch)
    assert off.detect(tiny) == [] and len(searched) == 1
    large = RetinaFaceDetector()
    searched = _first_search_finds_nothing(large, monkeypatch)
    side = CLOSE_UP_MAX_SIDE + 1
    assert large.detect(cv2.resize(photo("astronaut"), (side, side))) == []
    assert len(searched) == 1
    assert parse_detector("retinaface:close_up=false").close_up is False


@pytest.mark.skipif(not FER2013.is_dir(), reason="FER2013 not in ../shared/datasets/fer2013")
def test_close_up_finds_fer2013s_tight_crops():
    from ferkit.datasets.sources import read_source

    faces = [s.image for s in read_source(str(FER2013), splits=("val",))][:150]
    on, off = RetinaFaceDetector(), RetinaFaceDetector(close_up=False)
    found_on = sum(bool(on.detect(face)) for face in faces)
    found_off = sum(bool(off.detect(face)) for face in faces)
    # docs/BENCHMARKS.md: 63 % of PublicTest's 48x48 crops found without, 97 % with
    assert found_on >= 0.95 * len(faces) and found_off < found_on


def test_gray_and_bgra_images_are_accepted(retinaface):
    image = photo("astronaut")
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    bgra = cv2.cvtColor(image, cv2.COLOR_BGR2BGRA)
    assert len(retinaface.detect(gray)) == 1 and len(retinaface.detect(bgra)) == 1


def test_max_side_searches_large_frames_shrunk_and_maps_boxes_back():
    image = cv2.resize(photo("astronaut"), (1536, 1536))
    (big,) = RetinaFaceDetector(max_side=512).detect(image)
    truth = tuple(3 * v for v in TRUTH["astronaut"])
    assert iou(big.box_xyxy, truth) > 0.5


def test_detect_near_finds_the_face_again_inside_its_window(retinaface):
    frame, truth = compose(CROWD)
    near = retinaface.detect_near(frame, [truth[3]])
    assert len(near) == 1 and iou(near[0].box_xyxy, truth[3]) > 0.5
    assert near[0].landmarks is not None and near[0].head_pose_deg is not None
    assert retinaface.detect_near(frame, []) == []


@pytest.mark.parametrize("image, message", [
    (np.zeros((0, 10, 3), np.uint8), "non-empty"),
    (np.zeros((10, 10, 3), np.float32), "uint8"),
    (np.zeros((10, 10, 2), np.uint8), "gray, BGR or BGRA"),
    ("photo.jpg", "non-empty image array"),
])
def test_bad_images_give_one_line_errors(retinaface, image, message):
    with pytest.raises(FerkitError, match=message) as info:
        retinaface.detect(image)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("spec, message", [
    ("retinaface:max_side=8", "max_side must be 32 or more"),
    ("retinaface:min_score=1.5", "min_score must lie between 0 and 1"),
    ("retinaface:near_input=50", "near_input must be a multiple of 32"),
    ("retinaface:colour=red", "unknown option 'colour' for the retinaface detector; it takes "
                              "max_side, min_score"),
    ("retinaface:max_side=big", "max_side must be a whole number or none, got 'big'"),
    ("retinaface:zoom=maybe", "zoom must be true or false, got 'maybe'"),
    ("retinaface:threads=-1", "threads must be 1 or more"),
    ("blazeface:min_score=high", "min_score must be a number or none, got 'high'"),
    ("retinaface:max_side", "use name:key=value"),
    ("yunet", "unknown face detector 'yunet'"),
])
def test_bad_specs_give_one_line_errors(spec, message):
    with pytest.raises(FerkitError, match=message) as info:
        parse_detector(spec)
    assert "\n" not in str(info.value)


def test_detector_name_checks_a_spec_without_building_it(monkeypatch):
    import ferkit.detect.spec as spec

    monkeypatch.setattr(spec, "create_detector", None)  # building would fail loudly
    assert spec.detector_name(" retinaface :max_side=960") == "retinaface"
    assert spec.detector_name("boxes") == "boxes"
    with pytest.raises(FerkitError, match="unknown face detector 'yolo'; choose one of "
                                          "retinaface, blazeface, haar, boxes"):
        spec.detector_name("yolo:x=1")


def test_spec_options_reach_the_detector():
    detector = parse_detector("retinaface:max_side=none,min_score=0.7")
    assert detector.max_side is None and detector.min_score == 0.7


def test_boxes_run_from_brow_to_chin_like_blazefaces(retinaface, blazeface):
    (retina,) = retinaface.detect(photo("astronaut"))
    (blaze,) = blazeface.detect(photo("astronaut"))
    assert iou(retina.box_xyxy, blaze.box_xyxy) > 0.75
    assert abs(retina.box_xyxy[1] - blaze.box_xyxy[1]) < 0.1 * (blaze.box_xyxy[3] -
                                                                blaze.box_xyxy[1])


def test_the_recognizer_crops_with_a_detectors_own_margin(tiny_onnx_model):
    from ferkit.align import DEFAULT_MARGIN
    from ferkit.recognizer import Recognizer

    class Loose:
        name = "loose"
        crop_margin = 0.3

        def detect(self, image_bgr):
            return []

    assert Recognizer(tiny_onnx_model, detector=Loose())._margin == 0.3
    assert Recognizer(tiny_onnx_model, detector="retinaface")._margin == 0.0
    assert Recognizer(tiny_onnx_model, detector="haar")._margin == DEFAULT_MARGIN
    assert Recognizer(tiny_onnx_model, detector=Loose(), margin=0.2)._margin == 0.2


@pytest.mark.parametrize("shape", [(480, 640), (481, 650), (37, 53)])
def test_network_batch_is_the_mean_subtracted_image_padded_as_the_mean_colour(shape):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (*shape, 3), dtype=np.uint8) for _ in range(2)]
    height, width = shape
    ph, pw = -(-height // 32) * 32, -(-width // 32) * 32
    padded = [cv2.copyMakeBorder(im, 0, ph - height, 0, pw - width, cv2.BORDER_CONSTANT,
                                 value=_MEAN_BGR.tolist()) for im in images]
    expected = cv2.dnn.blobFromImages(padded, 1.0, None, _MEAN_BGR.tolist(), swapRB=False)
    np.testing.assert_array_equal(network_batch(images), expected)


def test_network_batch_refuses_what_it_cannot_lay_out():
    grey, bgr = np.zeros((32, 32), np.uint8), np.zeros((32, 32, 3), np.uint8)
    bgra, taller = np.zeros((8, 8, 4), np.uint8), np.zeros((64, 32, 3), np.uint8)
    for images in ([], [grey], [bgr, taller], [bgra]):
        with pytest.raises(FerkitError, match="same-size BGR"):
            network_batch(images)


def test_input_benchmark_checks_both_ways_agree_and_prints_a_row(capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_detect_input.py"
    spec = importlib.util.spec_from_file_location("bench_detect_input", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    image = bench.frame(100, 70)
    np.testing.assert_array_equal(bench.blob_batch([image]), network_batch([image]))
    assert bench.main(["--sizes", "100x70", "--rounds", "2"]) == 0
    row = capsys.readouterr().out.strip().splitlines()[-1]
    assert row.startswith("| 100x70 |") and row.count("|") == 6


def test_face_photos_benchmark_reads_crops_through_the_photo_path(make, face, tmp_path, capsys):
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_face_photos.py"
    spec = importlib.util.spec_from_file_location("bench_face_photos", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    patches = bench.faceless_patches(5)
    assert len(patches) == 5 and all(p.shape[0] == p.shape[1] >= 24 for p in patches)
    make.fer2013_folders([("test", label, f"PublicTest_{i}.jpg", face(i)) for i, label
                          in enumerate(["happy", "sad"])], name="sets/fer2013")
    assert bench.main([str(tmp_path / "sets"), "--empty", "3"]) == 0
    rows = capsys.readouterr().out.strip().splitlines()[2:]
    # one row per detector, each over both faces and the three patches
    assert [r.split(" | ")[:2] for r in rows] == [
        ["| `retinaface`", "fer2013"], ["| `retinaface:close_up=false`", "fer2013"]]
    assert all("/2) |" in r and r.endswith("/3 |") for r in rows)


def test_zoom_finds_small_whole_heads_the_search_alone_misses_and_no_false_faces():
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_detect.py"
    spec = importlib.util.spec_from_file_location("bench_detect", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    frames, backgrounds = bench.multi_face_frames(20)  # the shipped photos' heads, 24-128 px
    found, extra = {}, {}
    for zoom in (False, True):
        detector = RetinaFaceDetector(zoom=zoom)
        hits = extras = 0
        for frame, truth in frames:
            matched, e = bench.match(detector.detect(frame), truth)
            hits += sum(m for m, box in zip(matched, truth, strict=True) if box[2] - box[0] <= 30)
            extras += e
        found[zoom], extra[zoom] = hits, extras
        assert sum(len(detector.detect(bg)) for bg in backgrounds) == 0
    assert found[True] >= found[False] + 5, found  # 24-28 px heads: 12 more of 40 in 40 frames
    assert extra[True] == extra[False] == 0

    # Searched shrunk (max_side), the zoom cuts its windows from the image as given and maps
    # them back: the same frames enlarged twice, searched at their first size, find as many.
    detector = RetinaFaceDetector(max_side=640)
    hits = 0
    for frame, truth in frames:
        big = cv2.resize(frame, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)
        faces = detector.detect(big)
        assert all(0 <= f.box_xyxy[0] < f.box_xyxy[2] <= 1280 for f in faces)
        matched, e = bench.match(faces, [box * 2 for box in truth])
        hits += sum(m for m, box in zip(matched, truth, strict=True) if box[2] - box[0] <= 30)
        assert e == 0
    assert hits >= found[False] + 5, (hits, found)


def test_detector_options_are_checked_in_a_specs_words_and_other_kinds_pass():
    from ferkit.detect import create_detector

    assert create_detector("boxes", boxes=[(0, 0, 10, 10)]).boxes is not None
    assert create_detector("boxes", boxes="0,0,10,10").boxes is not None
    detector = RetinaFaceDetector(max_side=np.int64(640), min_score=np.float32(0.5))
    assert detector.max_side == 640 and detector.min_score == pytest.approx(0.5)
    assert create_detector("retinaface", max_side=np.int64(640), zoom=np.bool_(False)).zoom is False
    with pytest.raises(FerkitError, match="min_score must be a number, got True"):
        create_detector("retinaface", min_score=True)
