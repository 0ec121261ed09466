"""Shared fixtures: small synthetic faces and factories that write each dataset's real layout."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from ferkit.imageio import example_path, load_image

FER_HEADER = ["Usage", "Image name", "neutral", "happiness", "surprise", "sadness", "anger",
              "disgust", "fear", "contempt", "unknown", "NF"]
FERPLUS_FOLDERS = {"Training": "FER2013Train", "PublicTest": "FER2013Valid",
                   "PrivateTest": "FER2013Test"}


def make_face(seed: int, size: int = 48) -> np.ndarray:
    """A distinct grayscale "face": smoothed random texture, so near-duplicate search has detail.

    Different seeds give uncorrelated images; the blur keeps a JPEG copy close to the original.
    """
    rng = np.random.default_rng(seed)
    noise = rng.random((size, size)).astype(np.float32)
    smooth = cv2.GaussianBlur(noise, (0, 0), sigmaX=size / 32)
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min() + 1e-6)
    return (30 + smooth * 190).astype(np.uint8)


def write_image(path: Path, image: np.ndarray, quality: int = 95) -> Path:
    """Write `image` to `path` in the format its suffix names (JPEG at `quality`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix.lower() in (".jpg", ".jpeg") else []
    if not cv2.imwrite(str(path), image, params):
        raise OSError(f"could not write {path}")
    return path


class DatasetFactory:
    """Writes small datasets into `tmp_path` in the exact layouts the real distributions use."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp = tmp_path

    def fer2013_csv(
        self, rows: Iterable[tuple[int, np.ndarray, str]], name: str = "fer2013.csv",
        header: Sequence[str] = ("emotion", "pixels", "Usage"),
    ) -> Path:
        """Kaggle's fer2013.csv: emotion code, space-separated pixels, Usage."""
        path = self.tmp / name
        with path.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            for code, image, usage in rows:
                writer.writerow([code, " ".join(str(int(v)) for v in image.ravel()), usage])
        return path

    def fer2013_folders(
        self, items: Iterable[tuple[str, str, str, np.ndarray]], name: str = "fer2013"
    ) -> Path:
        """msambare layout: (part, class, file name, image) -> `<part>/<class>/<file name>`."""
        root = self.tmp / name
        for part, label, file_name, image in items:
            write_image(root / part / label / file_name, image)
        return root

    def ferplus(
        self, rows: Iterable[tuple[str, str, Sequence[int], np.ndarray | None]],
        name: str = "ferplus", header: Sequence[str] = FER_HEADER,
    ) -> Path:
        """fer2013new.csv plus `data/FER2013<Split>/<name>` PNGs and each folder's label.csv.

        Rows are (Usage, image name, 10 vote counts, image); an image of None writes no PNG,
        as for the real rows whose image name is empty.
        """
        root = self.tmp / name
        root.mkdir(parents=True, exist_ok=True)
        labels: dict[str, list[list[str]]] = {}
        with (root / "fer2013new.csv").open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            for usage, image_name, votes, image in rows:
                writer.writerow([usage, image_name, *votes])
                if image is None or not image_name:
                    continue
                folder = root / "data" / FERPLUS_FOLDERS[usage]
                write_image(folder / image_name, image)
                labels.setdefault(folder.name, []).append(
                    [image_name, "(0, 0, 48, 48)", *map(str, votes)])
        for folder, lines in labels.items():
            with (root / "data" / folder / "label.csv").open("w", newline="") as fh:
                csv.writer(fh).writerows(lines)
        return root

    def ckplus48(
        self, items: Iterable[tuple[str, str, int, int, np.ndarray]], name: str = "ckplus"
    ) -> Path:
        """`CK+48/<class>/S010_004_00000017.png` from (class, subject, sequence, frame, image)."""
        root = self.tmp / name
        for label, subject, seq, frame, image in items:
            write_image(root / "CK+48" / label / f"{subject}_{seq:03d}_{frame:08d}.png", image)
        return root

    def ckplus_original(
        self, sequences: Iterable[tuple[str, int, int, float | str | None]],
        name: str = "ckplus-orig", seed: int = 1000,
    ) -> Path:
        """`cohn-kanade-images/S###/###/*.png` + `Emotion/S###/###/*_emotion.txt`.

        Sequences are (subject, sequence, frame count, code); a float code is written the way
        CK+ writes it ("   6.0000000e+00"), a str verbatim, None writes no emotion file.
        """
        root = self.tmp / name
        for k, (subject, seq, frames, code) in enumerate(sequences):
            folder = root / "cohn-kanade-images" / subject / f"{seq:03d}"
            for f in range(1, frames + 1):
                write_image(folder / f"{subject}_{seq:03d}_{f:08d}.png",
                            make_face(seed + 100 * k + f, 64))
            (root / "Landmarks" / subject / f"{seq:03d}").mkdir(parents=True, exist_ok=True)
            if code is None:
                continue
            text = code if isinstance(code, str) else f"   {code:.7e}\n"
            label = root / "Emotion" / subject / f"{seq:03d}"
            label.mkdir(parents=True, exist_ok=True)
            (label / f"{subject}_{seq:03d}_{frames:08d}_emotion.txt").write_text(text)
        (root / "Emotion").mkdir(parents=True, exist_ok=True)
        return root

    def jaffe(
        self, items: Iterable[tuple[str, str, int, int, np.ndarray, bool]], name: str = "jaffe"
    ) -> Path:
        """`<subject>.<EXPR><n>.<id>.tiff`, from (subject, expr, n, id, image, palette mode)."""
        root = self.tmp / name
        root.mkdir(parents=True, exist_ok=True)
        for subject, expr, n, image_id, image, palette in items:
            img = Image.fromarray(image)
            if palette:  # a few real JAFFE files are palette-mode grayscale
                img = img.convert("P")
            img.save(root / f"{subject}.{expr}{n}.{image_id}.tiff")
        (root / "README_FIRST.txt").write_text("JAFFE")
        return root

    def own(self, items: Iterable[tuple[str, str, np.ndarray]], name: str = "own") -> Path:
        """`<root>/<label>/<file>` from (label folder, file name, image)."""
        root = self.tmp / name
        for label, file_name, image in items:
            write_image(root / label / file_name, image)
        return root


@pytest.fixture
def make(tmp_path: Path) -> DatasetFactory:
    """A DatasetFactory writing into this test's tmp_path."""
    return DatasetFactory(tmp_path)


@pytest.fixture
def face():
    """make_face, for tests that need images."""
    return make_face


@pytest.fixture(scope="session")
def tiny_onnx_model(tmp_path_factory) -> Path:
    """A tiny real ONNX model: an untrained fernet_xs exported the way `ferkit export` does."""
    pytest.importorskip("torch", reason="building the tiny test model needs torch")
    pytest.importorskip("onnx", reason="building the tiny test model needs onnx")
    from model_helpers import export_tiny_model

    path = tmp_path_factory.mktemp("model") / "tiny.onnx"
    export_tiny_model(path)
    return path


@pytest.fixture(scope="session")
def astronaut_small() -> np.ndarray:
    """The shipped example photo at 256x256, so detection stays fast on a busy CPU."""
    return cv2.resize(load_image(example_path()), (256, 256), interpolation=cv2.INTER_AREA)


@pytest.fixture(scope="session")
def video_file(tmp_path_factory, astronaut_small) -> tuple:
    """A 12-frame, 10 fps mp4 of the astronaut drifting right by 2 px per frame."""
    path = tmp_path_factory.mktemp("gui-video") / "drift.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (256, 256))
    if not writer.isOpened():
        pytest.skip("OpenCV cannot write mp4v video here")
    for i in range(12):
        writer.write(np.roll(astronaut_small, 2 * i, axis=1))
    writer.release()
    return path, 12
