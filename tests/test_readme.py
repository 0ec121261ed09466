"""The README's Python snippets run as written (in a folder holding a photo.jpg)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import ferkit
from ferkit.imageio import example_path
from ferkit.model import shipped_model_path

README = Path(__file__).resolve().parents[1] / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_readme_has_python_snippets():
    assert SNIPPETS and any('analyze("photo.jpg")' in s for s in SNIPPETS)


@pytest.mark.skipif(not shipped_model_path().is_file(), reason="the shipped model is not built")
@pytest.mark.parametrize("index", range(len(SNIPPETS)))
def test_readme_snippet_runs(tmp_path, index):
    shutil.copy(example_path("astronaut"), tmp_path / "photo.jpg")  # the photo the README names
    package_root = str(Path(ferkit.__file__).resolve().parents[1])  # this ferkit, installed or not
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        p for p in (package_root, os.environ.get("PYTHONPATH")) if p)}
    proc = subprocess.run([sys.executable, "-c", SNIPPETS[index]], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    if 'analyze("photo.jpg")' in SNIPPETS[index]:
        first = proc.stdout.splitlines()[0]
        assert first.split()[0] in ("happy", "angry", "sad", "neutral", "surprise"), first
