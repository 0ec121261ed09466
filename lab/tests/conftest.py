"""The lab's tests use the product tests' factories (a fake FER2013 folder, a tiny model)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[2] / "tests"
sys.path.insert(0, str(TESTS))  # their helper modules (model_helpers, ...)
_spec = importlib.util.spec_from_file_location("ferkit_tests_conftest", TESTS / "conftest.py")
_shared = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_shared)

make, face, tiny_onnx_model = _shared.make, _shared.face, _shared.tiny_onnx_model
