"""The README's Python examples run as written, in order, in one session, in a folder holding
a photo.jpg and a clip.mp4 of one face."""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import pytest
from media_helpers import write_video

from ferkit.imageio import example_path
from ferkit.model import shipped_model_path

README = Path(__file__).resolve().parents[1] / "README.md"
SNIPPETS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_readme_has_python_snippets():
    assert len(SNIPPETS) >= 8 and any('analyze("photo.jpg")' in s for s in SNIPPETS)


@pytest.mark.skipif(not shipped_model_path().is_file(), reason="the shipped model is not built")
def test_readme_python_examples_run(tmp_path, monkeypatch, capsys):
    photo = cv2.imread(str(example_path("astronaut")))
    cv2.imwrite(str(tmp_path / "photo.jpg"), photo)  # the photo the README names
    frames = [cv2.resize(photo[10:346, 8 + 6 * k:456 + 6 * k], (320, 240)) for k in range(6)]
    write_video(tmp_path / "clip.mp4", frames)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for snippet in SNIPPETS:
        exec(compile(snippet, str(README), "exec"), namespace)  # noqa: S102
    assert namespace["face"].label == "happy"
    assert namespace["result"].index == 4 and namespace["result"].faces[0].track_id == 1
    out = capsys.readouterr().out
    assert out.split()[0] in ("happy", "angry", "sad", "neutral", "surprise")
    assert "cannot" in out  # the ImageError example printed its message
