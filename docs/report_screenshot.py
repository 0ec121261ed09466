"""Writes docs/report.png: `python docs/report_screenshot.py docs/report.png` (chromium, RAF-DB).

The video is tools/coding_clip.py's 30 s slideshow of RAF-DB faces (three people side by
side, expressions changing as photos change; ../shared/datasets/rafdb), coded with
`ferkit video clip.mp4 --episodes DIR` at the defaults; the picture is the top of its report.
"""

from __future__ import annotations

import importlib.util
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "server"))
from browser_helpers import chromium  # noqa: E402

from ferkit.cli import main as ferkit  # noqa: E402


def main(out: str) -> None:
    spec = importlib.util.spec_from_file_location("coding_clip", ROOT / "tools" / "coding_clip.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    with tempfile.TemporaryDirectory() as tmp:
        clip = Path(tmp) / "three people (RAF-DB slideshow).mp4"
        tool.make_clip(clip, seconds=30, fps=15, people=3, seed=0)
        coded = Path(tmp) / "coded"
        if ferkit(["video", str(clip), "--episodes", str(coded), "--no-progress",
                   "--out", str(Path(tmp) / "rows.json")]):
            raise SystemExit("ferkit video failed")
        (report,) = coded.glob("*.report.html")
        with chromium(None) as browser:
            page = browser.new_page(viewport={"width": 1000, "height": 1350})
            page.goto(report.as_uri())
            page.screenshot(path=out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "docs" / "report.png"))
