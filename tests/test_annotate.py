"""ferkit.annotate: drawing returns a new image; timelines of tracked faces."""

from __future__ import annotations

import numpy as np

from ferkit.annotate import draw, plot_timeline
from ferkit.faces import Face
from ferkit.outputs import write_figure

LABELS = ("happy", "angry", "sad", "neutral", "surprise")


def probs(*values: float) -> dict[str, float]:
    return dict(zip(LABELS, values, strict=True))


def test_draw_returns_a_new_image():
    image = np.zeros((60, 80, 3), np.uint8)
    out = draw(image, [Face((10, 10, 50, 50), 0.9, scores=probs(1, 0, 0, 0, 0), track_id=2)])
    assert out is not image and out.any() and not image.any()


def test_plot_timeline_png(tmp_path):
    import cv2

    points = [(k / 10, 1 + (k % 2), probs(0.6, 0.1, 0.1, 0.1, 0.1)) for k in range(20)]
    for n, data in enumerate((points, points[:1], [])):
        path = write_figure(tmp_path / f"t{n}.png", plot_timeline(data, LABELS, title="clip"))
        image = cv2.imread(str(path))
        assert path.read_bytes().startswith(b"\x89PNG") and image.shape[0] > 100


def render(fig) -> bytes:
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def _panels_painted(png: bytes, panels: int) -> list[float]:
    """Share of non-white pixels in the middle of each panel's plot area (rough layout)."""
    import cv2

    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_GRAYSCALE)
    height, width = image.shape
    top, bottom = int(height * 0.08), int(height * 0.88)
    band = (bottom - top) / panels
    shares = []
    for k in range(panels):
        y0, y1 = int(top + band * (k + 0.3)), int(top + band * (k + 0.7))
        shares.append(float((image[y0:y1, int(width * 0.2):int(width * 0.7)] < 200).mean()))
    return shares


def test_plot_timeline_gives_no_empty_panel_for_one_frame_tracks():
    import cv2

    steady = [(k / 10, 1, probs(0.6, 0.1, 0.1, 0.1, 0.1)) for k in range(100)]
    blips = [(3.0, 7, probs(0.2, 0.2, 0.2, 0.2, 0.2)), (6.0, 9, probs(0.2, 0.2, 0.2, 0.2, 0.2))]
    png = render(plot_timeline(steady + blips, LABELS))
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    one_panel = cv2.imdecode(np.frombuffer(render(plot_timeline(steady, LABELS)), np.uint8),
                             cv2.IMREAD_COLOR)
    assert image.shape == one_panel.shape  # the blips get no panels of their own
    assert _panels_painted(png, 1)[0] > 0.9
    # Only blips: each is drawn a frame step wide, visibly.
    alone = render(plot_timeline(blips, LABELS))
    assert min(_panels_painted(alone, 2)) > 0.0
def test_without_matplotlib_the_message_names_the_extra(monkeypatch, capsys, tmp_path):
    import sys

    import pytest
    from cli_helpers import run

    from ferkit.errors import FerkitError
    from ferkit.outputs import new_figure

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # as if not installed
    with pytest.raises(FerkitError, match=r"--plot needs matplotlib: pip install 'ferkit\[plot\]'"):
        new_figure("--plot")
    code, out, err = run(capsys, "video", tmp_path / "any.mp4", "--plot", tmp_path / "t.png")
    assert (code, out) == (1, "")
    assert err == "ferkit: error: --plot needs matplotlib: pip install 'ferkit[plot]'\n"
