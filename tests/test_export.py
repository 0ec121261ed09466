"""ONNX export: ONNX Runtime agrees with torch, the metadata reads back, the CLI wraps it."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from ferkit.cli import main  # noqa: E402
from ferkit.errors import FerkitError  # noqa: E402
from ferkit.labels import EMOTIONS, LABEL_SETS  # noqa: E402
from ferkit.train.config import load_config  # noqa: E402
from ferkit.train.export import (  # noqa: E402
    DEFAULT_LABEL_SET_HEADS,
    export_onnx,
    parse_head_choices,
    resolve_label_set_heads,
)
from ferkit.train.loop import MEAN, STD  # noqa: E402
from ferkit.train.models import create_model  # noqa: E402

HEADS = ("fer2013", "ferplus", "posed")


def tiny_model(heads=HEADS, seed: int = 0):
    """A fresh fernet_xs whose batch-norm statistics are not the identity (as after training)."""
    torch.manual_seed(seed)
    model = create_model("fernet_xs", heads=heads)
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(16, 1, 48, 48) * 1.5 + 0.3)
    return model.eval()


def metadata(path) -> dict:
    return {p.key: json.loads(p.value) for p in onnx.load(str(path)).metadata_props}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = tiny_model()
    path = tmp_path_factory.mktemp("export") / "tiny.onnx"
    result = export_onnx(model, path, architecture="fernet_xs",
                         training={"config": {"model": {"name": "fernet_xs"}}, "epoch": 2})
    return model, path, result


def test_onnx_runtime_matches_torch(exported):
    model, path, result = exported
    assert result["max_abs_diff"] < 1e-5
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["faces"]
    assert [o.name for o in session.get_outputs()] == [f"probs_{h}" for h in HEADS]
    for batch in (1, 7):  # the batch axis is dynamic
        x = np.random.default_rng(batch).normal(size=(batch, 1, 48, 48)).astype(np.float32)
        got = session.run(None, {"faces": x})
        with torch.no_grad():
            logits = model(torch.from_numpy(x))
        for head, probs in zip(HEADS, got, strict=True):
            assert probs.shape == (batch, len(EMOTIONS))
            expected = torch.softmax(logits[head], dim=1).numpy()
            np.testing.assert_allclose(probs, expected, atol=1e-4, rtol=0)
            np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_metadata_reads_back(exported):
    _, path, result = exported
    meta = metadata(path)
    assert meta == {k: json.loads(v) for k, v in result["metadata"].items()}
    assert meta["emotions"] == list(EMOTIONS)
    assert meta["heads"] == list(HEADS)
    assert meta["outputs"] == {h: f"probs_{h}" for h in HEADS}
    assert meta["label_set_heads"] == DEFAULT_LABEL_SET_HEADS
    assert (meta["input_name"], meta["input_size"]) == ("faces", 48)
    assert (meta["mean"], meta["std"]) == (MEAN, STD)
    assert meta["architecture"] == "fernet_xs"
    assert meta["training"]["epoch"] == 2


def test_export_leaves_no_temporary_files(exported):
    _, path, _ = exported
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


@pytest.mark.parametrize(("heads", "chosen", "expected"), [
    (HEADS, None, DEFAULT_LABEL_SET_HEADS),
    (HEADS, {"seed5": "ferplus"}, {**DEFAULT_LABEL_SET_HEADS, "seed5": "ferplus"}),
    (("ferplus",), None, dict.fromkeys(LABEL_SETS, "ferplus")),
    (("posed",), None, dict.fromkeys(LABEL_SETS, "posed")),
    (("fer2013", "posed"), None, {"seed5": "fer2013", "fer2013": "fer2013",
                                  "ferplus": "fer2013"}),
])
def test_label_set_heads(heads, chosen, expected):
    assert resolve_label_set_heads(heads, chosen) == expected


@pytest.mark.parametrize(("chosen", "message"), [
    ({"seed5": "nohead"}, "no head 'nohead'"),
    ({"seed7": "ferplus"}, "unknown label set"),
])
def test_label_set_heads_errors(chosen, message):
    with pytest.raises(FerkitError, match=message):
        resolve_label_set_heads(HEADS, chosen)


def test_parse_head_choices():
    assert parse_head_choices(["seed5=ferplus", " fer2013 = posed"]) == {
        "seed5": "ferplus", "fer2013": "posed"}
    with pytest.raises(FerkitError, match="LABELSET=HEAD"):
        parse_head_choices(["seed5"])


def _checkpoint(tmp_path, heads=HEADS):
    """A checkpoint shaped like Trainer.state(), for a fresh fernet_xs."""
    config = load_config(None, ["model.name=fernet_xs"])
    model = tiny_model(heads)
    path = tmp_path / "best.pt"
    torch.save({"model": model.state_dict(), "config": config, "heads": list(heads),
                "epoch": 3, "best_epoch": 2, "best_score": 0.5}, path)
    return path, model


def test_export_command(tmp_path, capsys):
    ckpt, model = _checkpoint(tmp_path)
    out = tmp_path / "model.onnx"
    assert main(["export", str(ckpt), "--out", str(out), "--head", "seed5=ferplus"]) == 0
    assert "max |diff|" in capsys.readouterr().out
    meta = metadata(out)
    assert meta["label_set_heads"]["seed5"] == "ferplus"
    assert meta["training"]["best_epoch"] == 2
    assert meta["training"]["config"]["model"]["name"] == "fernet_xs"
    x = np.random.default_rng(0).normal(size=(3, 1, 48, 48)).astype(np.float32)
    got = ort.InferenceSession(str(out)).run(["probs_ferplus"], {"faces": x})[0]
    with torch.no_grad():
        expected = torch.softmax(model(torch.from_numpy(x))["ferplus"], 1).numpy()
    np.testing.assert_allclose(got, expected, atol=1e-4, rtol=0)
    # An earlier export is kept unless --overwrite says otherwise.
    before = out.read_bytes()
    assert main(["export", str(ckpt), "--out", str(out)]) == 1
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert out.read_bytes() == before
    assert main(["export", str(ckpt), "--out", str(out), "--overwrite"]) == 0
    assert metadata(out)["label_set_heads"]["seed5"] != "ferplus"


def test_export_command_errors(tmp_path, capsys):
    assert main(["export", str(tmp_path / "missing.pt"), "--out", str(tmp_path / "a.onnx")]) == 1
    assert "no such checkpoint" in capsys.readouterr().err
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": 1}, foreign)
    assert main(["export", str(foreign), "--out", str(tmp_path / "a.onnx")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ferkit: error:") and "not a ferkit training checkpoint" in err
    ckpt, _ = _checkpoint(tmp_path)
    assert main(["export", str(ckpt), "--out", str(tmp_path / "a.onnx"),
                 "--head", "seed5=nohead"]) == 1
    assert "no head 'nohead'" in capsys.readouterr().err
    assert not (tmp_path / "a.onnx").exists()
    assert main(["export", str(ckpt), "--out", str(tmp_path / "a.onnx"), "--opset", "99"]) == 1
    assert "--opset 99: choose 13 to 20" in capsys.readouterr().err
    # A calibration source that cannot serve fails before the fp32 file is written.
    ckplus = tmp_path / "ck" / "CK+48" / "happy"
    ckplus.mkdir(parents=True)
    cv2.imwrite(str(ckplus / "S010_001_00000001.png"), np.full((48, 48), 128, np.uint8))
    for source, message in ((tmp_path / "nowhere", "no such dataset"),
                            (tmp_path / "ck", "no training-split faces")):
        assert main(["export", str(ckpt), "--out", str(tmp_path / "a.onnx"),
                     "--int8-calibration", str(source)]) == 1
        assert message in capsys.readouterr().err
        assert not (tmp_path / "a.onnx").exists()


class _RunsCode:
    """A pickled payload: unpickling it calls open(marker, "w"), i.e. runs code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path, capsys):
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.pt"
    config = load_config(None, ["model.name=fernet_xs"])
    torch.save({"model": tiny_model(("seed5",)).state_dict(), "config": config,
                "heads": ["seed5"], "payload": _RunsCode(marker)}, evil)
    assert main(["export", str(evil), "--out", str(tmp_path / "a.onnx")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ferkit: error:") and err.count("\n") == 1, err
    assert "refused" in err and "open)" in err
    assert not marker.exists()  # the payload never ran
    assert not (tmp_path / "a.onnx").exists()


def test_every_checkpoint_read_refuses_pickled_code():
    # export, resume, init_from and teachers all read through train.checkpoint.read_checkpoint.
    from pathlib import Path

    import ferkit

    sources = Path(ferkit.__file__).parent.rglob("*.py")
    assert not [p for p in sources if "weights_only=False" in p.read_text()]
