"""Commands that need an optional extra say which before doing any work (issue 23)."""

from __future__ import annotations

import sys
import time

from cli_helpers import run

from ferkit.imageio import example_path


def test_batch_without_pyarrow_fails_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # import pyarrow raises ImportError
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    out = tmp_path / "results"
    started = time.monotonic()
    code, stdout, err = run(capsys, "batch", example_path(), "--out", out, "--no-progress")
    assert code == 1 and stdout == ""
    assert err.splitlines() == [
        "ferkit: error: ferkit batch writes Parquet and needs pyarrow: pip install 'ferkit[batch]'"]
    assert not out.exists()  # no partial folder
    assert time.monotonic() - started < 30
