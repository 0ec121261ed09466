"""lab/tools/carry_run.py: a run packed into small files, unpacked on another machine and
resumed, ends where the uninterrupted run ends (within the moments' bfloat16 rounding)."""

import importlib.util
from pathlib import Path

import pytest
import torch
from test_train_smoke import _train, _weights, write_fer2013_layout

from ferkit.errors import FerkitError

_spec = importlib.util.spec_from_file_location(
    "carry_run", Path(__file__).parents[1] / "tools" / "carry_run.py")
carry_run = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(carry_run)


def test_a_packed_run_resumes_on_another_machine_as_if_never_stopped(tmp_path):
    data = write_fer2013_layout(tmp_path / "data")
    cache = tmp_path / "cache"
    threads = torch.get_num_threads()
    try:
        _train(data, cache, tmp_path / "full", "--epochs", "2")
        _train(data, cache, tmp_path / "here", "--epochs", "2", "--set", "train.stop_after=1")
        written = carry_run.pack(tmp_path / "here", tmp_path / "carry")
        # The next machine has the carried files and nothing else.
        carry_run.unpack(tmp_path / "carry", tmp_path / "there")
        with pytest.raises(FerkitError, match="exists"):
            carry_run.unpack(tmp_path / "carry", tmp_path / "there")
        _train(data, cache, tmp_path / "there", "--epochs", "2", "--resume")
    finally:
        torch.set_num_threads(threads)

    assert {p.name for p in written} >= {"weights.pt", "moments.pt", "metrics.csv"}
    assert "optimizer" not in torch.load(tmp_path / "carry" / "weights.pt", weights_only=True)
    before = torch.load(tmp_path / "here" / "last.pt", weights_only=True)["optimizer"]
    after = torch.load(tmp_path / "there" / "last.pt", weights_only=True)
    assert after["epoch"] == 2
    full, resumed = _weights(tmp_path / "full" / "last.pt"), after["model"]
    stopped = _weights(tmp_path / "here" / "last.pt")
    assert any(not torch.equal(stopped[k], full[k]) for k in full)  # it did train on
    for key in full:
        assert torch.allclose(full[key].float(), resumed[key].float(), rtol=1e-2, atol=1e-3), key
    assert len((tmp_path / "there" / "metrics.csv").read_text().splitlines()) == 3
    assert (tmp_path / "there" / "best.pt").is_file()
    assert before["param_groups"][0]["lr"] != after["optimizer"]["param_groups"][0]["lr"]
