"""The public API in `ferkit`: every listed name resolves, and `import ferkit` stays cheap."""

from __future__ import annotations

import subprocess
import sys

import pytest

import ferkit


@pytest.mark.parametrize("name", ferkit.__all__)
def test_every_public_name_resolves(name):
    assert getattr(ferkit, name) is not None


def test_unknown_names_raise_attribute_error():
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        ferkit.Nope  # noqa: B018


def test_import_loads_no_opencv_onnx_runtime_or_torch():
    code = ("import sys, ferkit; "
            "print(sorted(m for m in ('cv2', 'onnxruntime', 'torch', 'matplotlib') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"
