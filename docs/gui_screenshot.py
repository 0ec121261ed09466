"""Writes docs/gui.png: `Xvfb :99 & python docs/gui_screenshot.py :99 MODEL.onnx docs/gui.png`."""

from __future__ import annotations

import sys
import tkinter as tk

from PIL import ImageGrab

from ferkit.gui.app import create_app
from ferkit.imageio import example_path


def main(display: str, model: str, out: str) -> None:
    root = tk.Tk(screenName=display, className="ferkit")
    app = create_app(model, source=str(example_path()), output_dir="/tmp/ferkit-gui", root=root)
    assert app.wait_until(lambda: app.faces(), 60), app.status()
    first = app.result
    app.worker.set_settings(app.settings)  # analyse again: the panel shows a warm timing
    assert app.wait_until(lambda: app.result is not first, 30)
    x1, y1, x2, y2 = app.transform.to_view(app.faces()[0].box_xyxy)
    app.canvas.event_generate("<Button-1>", x=round((x1 + x2) / 2), y=round((y1 + y2) / 2))
    app.wait_until(lambda: False, 1)
    x, y = root.winfo_rootx(), root.winfo_rooty()
    box = (x, y, x + root.winfo_width(), y + root.winfo_height())
    ImageGrab.grab(bbox=box, xdisplay=display).save(out, optimize=True)
    print(app.status(), app.fps_label.cget("text"))
    app.close()


if __name__ == "__main__":
    main(*sys.argv[1:4])
