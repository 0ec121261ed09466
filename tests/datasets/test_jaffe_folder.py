"""Tests for the JAFFE reader and the own-photo folder reader."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from ferkit.datasets import read_folder, read_jaffe
from ferkit.errors import DatasetError


def _jaffe_items(face):
    return [
        ("KA", "AN", 1, 39, face(1, 256), False),
        ("KA", "HA", 2, 30, face(2, 256), False),
        ("KM", "SU", 3, 16, face(3, 256), True),   # palette-mode, as a few real files are
        ("NA", "NE", 1, 202, face(4, 256), False),
        ("UY", "DI", 1, 152, face(5, 256), False),
    ]


def test_jaffe_reads_labels_subjects_and_palette_tiffs(make, face):
    root = make.jaffe(_jaffe_items(face))
    samples = list(read_jaffe(root))  # README_FIRST.txt beside the images is ignored
    assert [s.path.rsplit("/", 1)[1] for s in samples] == [
        "KA.AN1.39.tiff", "KA.HA2.30.tiff", "KM.SU3.16.tiff", "NA.NE1.202.tiff",
        "UY.DI1.152.tiff"]
    assert [s.label for s in samples] == ["angry", "happy", "surprise", "neutral", "disgust"]
    assert [s.subject for s in samples] == ["KA", "KA", "KM", "NA", "UY"]
    assert {s.split for s in samples} == {"all"} and {s.source for s in samples} == {"jaffe"}
    for s, item in zip(samples, _jaffe_items(face), strict=True):
        assert s.image.shape == (256, 256) and s.image.dtype == np.uint8
        # The palette TIFF's grey levels come back as grey levels, not palette indices.
        assert np.abs(s.image.astype(int) - item[4]).max() <= 1


def test_jaffe_wrong_name_names_the_file(make, face):
    root = make.jaffe(_jaffe_items(face))
    (root / "KA.AN1.39.tiff").rename(root / "KA_AN1_39.tiff")
    with pytest.raises(DatasetError, match=r"KA_AN1_39.tiff: expected a JAFFE name"):
        list(read_jaffe(root))


def test_jaffe_unknown_expression_code_names_the_file(make, face):
    root = make.jaffe([("KA", "XX", 1, 39, face(1, 256), False)])
    with pytest.raises(DatasetError, match=r"KA.XX1.39.tiff: unknown emotion name 'XX'"):
        list(read_jaffe(root))


@pytest.mark.filterwarnings("ignore:Corrupt EXIF data")
def test_jaffe_corrupt_tiff_names_the_file(make, face):
    root = make.jaffe(_jaffe_items(face))
    (root / "KA.HA2.30.tiff").write_bytes(b"II*\0garbage")
    with pytest.raises(DatasetError, match=r"cannot read image .*KA.HA2.30.tiff: "):
        list(read_jaffe(root))


def test_jaffe_without_tiffs(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DatasetError, match="no JAFFE .tiff files"):
        list(read_jaffe(tmp_path))


def test_own_folders_accept_any_spelling_and_both_formats(make, face):
    root = make.own([
        ("happy", "me1.jpg", face(1)), ("Anger", "me2.png", face(2)),
        ("surprised", "IMG_0003.JPG", face(3, 120)), ("calm", "x.jpeg", face(4)),
    ])
    (root / "happy" / "notes.txt").write_text("ignored")
    samples = list(read_folder(root))
    assert [s.label for s in samples] == ["angry", "neutral", "happy", "surprise"]
    assert {s.source for s in samples} == {"own"} and {s.split for s in samples} == {"train"}
    assert samples[3].image.shape == (120, 120)
    assert {s.split for s in read_folder(root, split="val")} == {"val"}


def test_own_hidden_folders_and_files_are_not_faces(make, face):
    from ferkit.datasets import detect_kind

    root = make.own([("happy", "a.jpg", face(1)), (".ipynb_checkpoints", "b.jpg", face(2))])
    (root / "happy" / "._a.jpg").write_bytes(b"a macOS resource fork, not an image")
    assert [s.path for s in read_folder(root)] == [str(root / "happy" / "a.jpg")]
    assert detect_kind(root) == "own"


def test_own_unknown_label_folder_names_it(make, face):
    root = make.own([("happy", "a.jpg", face(1)), ("misc", "b.jpg", face(2))])
    with pytest.raises(DatasetError, match=r"own/misc: unknown emotion name 'misc'"):
        list(read_folder(root))


def test_own_corrupt_image_names_it(make, face):
    root = make.own([("happy", "a.jpg", face(1))])
    (root / "happy" / "b.png").write_bytes(b"not an image")
    with pytest.raises(DatasetError, match=r"happy/b.png: not an image file"):
        list(read_folder(root))


def test_own_phone_photos_are_turned_upright_by_their_exif_orientation(make, face, tmp_path):
    from PIL import Image

    root = make.own([("happy", "a.jpg", face(1))])
    wide = np.zeros((40, 80), np.uint8)  # stored landscape; EXIF says: show it turned
    wide[:, :40] = 255
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees clockwise to display
    Image.fromarray(wide).save(root / "happy" / "phone.jpg", exif=exif, quality=95)
    upright = [s.image for s in read_folder(root)][1]
    assert upright.shape == (80, 40)  # as ferkit image and every photo viewer show it
    assert upright[:40].mean() > 200 and upright[40:].mean() < 50


def test_own_colour_and_alpha_images_become_gray(make, face):
    from PIL import Image

    root = make.own([("happy", "a.jpg", face(1))])
    alpha = np.full((48, 48), 255, np.uint8)
    alpha[:8] = 0  # a transparent band: composited over white, as ferkit image does
    rgba = np.dstack([face(2)] * 3 + [alpha])
    cv2.imwrite(str(root / "happy" / "b.png"), rgba)
    Image.fromarray(face(3)).save(root / "happy" / "c.gif")  # GIF: read, its first frame
    images = [s.image for s in read_folder(root)]
    assert len(images) == 3 and all(image.ndim == 2 for image in images)
    np.testing.assert_allclose(images[1][8:], face(2)[8:], atol=1)
    assert (images[1][:8] == 255).all()
    np.testing.assert_allclose(images[2], face(3), atol=1)


def test_own_without_subfolders(tmp_path):
    with pytest.raises(DatasetError, match="no <emotion>/ subfolders"):
        list(read_folder(tmp_path))


def test_jaffe_portrait_is_cropped_to_the_detected_face(tmp_path):
    import cv2

    from ferkit.imageio import example_path

    # A JAFFE-like 256x256 grey portrait made from the shipped example photo.
    photo = cv2.imread(str(example_path("astronaut")), cv2.IMREAD_GRAYSCALE)
    portrait = cv2.resize(photo[20:300, 90:370], (256, 256), interpolation=cv2.INTER_AREA)
    cv2.imwrite(str(tmp_path / "KA.HA1.29.tiff"), portrait)
    (sample,) = read_jaffe(tmp_path)
    whole = next(read_jaffe(tmp_path, crop=False))
    assert whole.image.shape == (256, 256)
    assert sample.label == "happy"
    height, width = sample.image.shape
    assert height == width and 60 <= height < 200  # the face, not the portrait
