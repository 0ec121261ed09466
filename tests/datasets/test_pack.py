"""The compact combined-dataset file and `ferkit data pack`, which writes it for `ferkit train`."""

from __future__ import annotations

import numpy as np
import pytest
from cli_helpers import run

from ferkit.datasets import read_source
from ferkit.datasets.combine import HEADS, CombinedDataset, combine, load_combined
from ferkit.errors import DatasetError


def _dataset(face, n: int = 24) -> CombinedDataset:
    """n face-like images plus the hard cases for a lossless codec: noise, black, white."""
    rng = np.random.default_rng(0)
    images = np.stack([face(i) for i in range(n)]
                      + [rng.integers(0, 256, (48, 48), dtype=np.uint8),
                         np.zeros((48, 48), np.uint8), np.full((48, 48), 255, np.uint8)])
    m = len(images)
    targets = {h: np.zeros((m, 8), np.float32) for h in HEADS}
    targets["fer2013"][np.arange(m), np.arange(m) % 7] = 1.0
    targets["ferplus"][::2] = rng.dirichlet(np.ones(8), size=(m + 1) // 2).astype(np.float32)
    split = np.where(np.arange(m) % 4 == 0, "val", "train")
    sources = np.array(["fer2013+ferplus" if i % 2 == 0 else "fer2013" for i in range(m)])
    subjects = np.array([f"S{i:03d}" if i % 3 == 0 else "" for i in range(m)])
    return CombinedDataset(images, split, sources, subjects, targets,
                           {"items": m, "note": "synthetic"})


def _assert_same(a: CombinedDataset, b: CombinedDataset) -> None:
    assert a.images.dtype == b.images.dtype == np.uint8
    np.testing.assert_array_equal(a.images, b.images)
    for name in ("split", "sources", "subjects"):
        assert getattr(a, name).tolist() == getattr(b, name).tolist(), name
    assert a.targets.keys() == b.targets.keys()
    for head in a.targets:
        np.testing.assert_array_equal(a.targets[head], b.targets[head])
    assert a.report == b.report


def test_compact_round_trip_is_exact_and_smaller(tmp_path, face):
    data = _dataset(face)
    data.save(tmp_path / "plain.npz")
    data.save(tmp_path / "packed.npz", compact=True)
    assert not list(tmp_path.glob("*.tmp*"))
    _assert_same(CombinedDataset.load(tmp_path / "packed.npz"), data)
    _assert_same(CombinedDataset.load(tmp_path / "plain.npz"), data)
    plain, packed = ((tmp_path / n).stat().st_size for n in ("plain.npz", "packed.npz"))
    assert packed < 0.85 * plain, (packed, plain)


def test_an_empty_compact_dataset_round_trips(tmp_path, face):
    empty = _dataset(face).subset(np.zeros(27, bool))
    empty.save(tmp_path / "empty.npz", compact=True)
    loaded = CombinedDataset.load(tmp_path / "empty.npz")
    assert loaded.images.shape == (0, 48, 48)


def test_truncated_empty_and_single_array_files_are_dataset_errors(tmp_path, face):
    _dataset(face).save(tmp_path / "full.npz", compact=True)
    whole = (tmp_path / "full.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(whole[: len(whole) // 2])  # an interrupted copy
    (tmp_path / "zero.npz").write_bytes(b"")
    np.save(tmp_path / "array.npy", np.zeros(3))
    for name in ("cut.npz", "zero.npz", "array.npy"):
        with pytest.raises(DatasetError, match=name):
            CombinedDataset.load(tmp_path / name)


@pytest.mark.parametrize("content", [b"not an npz at all\n", b"\x93NUMPY garbage"])
def test_loading_a_file_that_is_not_a_combined_dataset(tmp_path, content):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(DatasetError, match="bad.npz"):
        CombinedDataset.load(path)


def test_loading_an_npz_without_the_datasets_arrays(tmp_path):
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(DatasetError, match="not a combined dataset"):
        CombinedDataset.load(tmp_path / "other.npz")
    with pytest.raises(DatasetError, match="missing.npz"):
        CombinedDataset.load(tmp_path / "missing.npz")


# -- ferkit data pack ----------------------------------------------------------------------


@pytest.fixture
def fer_folder(make, face):
    """A FER2013 folder (JPEGs, as distributed): 16 training and 4 validation faces."""
    items = [("train", ("happy", "sad")[i % 2], f"Training_{i}.jpg", face(i))
             for i in range(16)]
    items += [("test", ("happy", "sad")[i % 2], f"PublicTest_{i}.jpg", face(100 + i))
              for i in range(4)]
    return make.fer2013_folders(items)


def test_pack_writes_the_combined_dataset(fer_folder, tmp_path, capsys):
    out = tmp_path / "packed.npz"
    code, stdout, _ = run(capsys, "data", "pack", f"fer2013={fer_folder}", "--out", out)
    assert code == 0
    assert out.is_file() and not list(tmp_path.glob("*.tmp*"))
    assert "20 faces (16 train, 4 val)" in stdout
    expected = combine(read_source(f"fer2013={fer_folder}"))
    _assert_same(CombinedDataset.load(out), expected)


def test_pack_refuses_to_overwrite(fer_folder, tmp_path, capsys):
    out = tmp_path / "packed.npz"
    out.write_bytes(b"keep me")
    code, stdout, stderr = run(capsys, "data", "pack", str(fer_folder), "--out", out)
    assert code == 1 and not stdout
    assert len(stderr.strip().splitlines()) == 1
    assert "exists" in stderr and str(out) in stderr
    assert out.read_bytes() == b"keep me"


def test_pack_overwrites_only_when_asked(fer_folder, tmp_path, capsys):
    out = tmp_path / "packed.npz"
    out.write_bytes(b"old")
    code, stdout, _ = run(capsys, "data", "pack", str(fer_folder), "--out", out, "--overwrite")
    assert code == 0 and "20 faces" in stdout
    assert len(CombinedDataset.load(out)) == 20


def test_pack_never_writes_into_a_dataset(fer_folder, capsys):
    out = fer_folder / "packed.npz"
    code, _, stderr = run(capsys, "data", "pack", str(fer_folder), "--out", out, "--overwrite")
    assert code == 1 and len(stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_pack_wants_an_npz_name(fer_folder, tmp_path, capsys):
    for name in ("packed.zip", "packed"):
        code, _, stderr = run(capsys, "data", "pack", str(fer_folder), "--out", tmp_path / name)
        assert code == 1
        assert len(stderr.strip().splitlines()) == 1 and ".npz" in stderr
        assert not (tmp_path / name).exists()


def test_training_from_a_packed_file(fer_folder, tmp_path, capsys):
    torch = pytest.importorskip("torch")
    from ferkit.train.config import load_config
    from ferkit.train.loop import Trainer

    packed = tmp_path / "packed.npz"
    assert run(capsys, "data", "pack", str(fer_folder), "--out", packed,
               "--cache-dir", tmp_path / "cache")[0] == 0
    config = load_config(None, [
        "model.name=fernet_xs", f"data.prepared={packed}", "train.epochs=1",
        "train.batch_size=8", "train.threads=1", "train.device=cpu",
        f"data.cache_dir={tmp_path / 'unused-cache'}"])
    assert config["data"]["sources"] == []  # nothing but the packed file to read
    threads = torch.get_num_threads()
    try:
        trainer = Trainer(config, tmp_path / "run")
        best = trainer.run()
    finally:
        torch.set_num_threads(threads)
    assert (len(trainer.train_data), len(trainer.val_data)) == (16, 4)
    assert trainer.heads == ["fer2013"]
    direct = load_combined([str(fer_folder)])
    np.testing.assert_array_equal(trainer.train_data.images,
                                  direct.images[direct.split == "train"])
    assert best.is_file() and (tmp_path / "run" / "last.pt").is_file()
    assert not (tmp_path / "unused-cache").exists()
