"""`ferkit gui`: the desktop app (webcam, image or video; live bars; snapshot, record, collect)."""

from __future__ import annotations

import argparse
from pathlib import Path

from ferkit.commands import threads_count
from ferkit.detect.spec import STREAM_PHOTO_DETECTOR, VIDEO_DETECTOR
from ferkit.errors import FerkitError
from ferkit.labels import LABEL_SETS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("gui", help="desktop app: webcam, image or video with live expressions")
    p.add_argument("--source", metavar="SOURCE",
                   help="camera index (0, 1, ...) or an image or video file to open at start")
    p.add_argument("--model", type=Path, default=None, help="an exported .onnx (default: shipped)")
    p.add_argument("--label-set", default="seed5", choices=sorted(LABEL_SETS),
                   help="emotions to show (default: seed5)")
    p.add_argument("--detector", default=None, metavar="SPEC",
                   help="name[:key=value,...] as for ferkit video (default: per source, "
                        f"as ferkit batch chooses detectors: photos {STREAM_PHOTO_DETECTOR}, "
                        f"video and cameras {VIDEO_DETECTOR}; 'blazeface' tiles for small "
                        "faces, 'haar')")
    p.add_argument("--no-smoothing", dest="smoothing", action="store_false",
                   help="show each frame's own probabilities (default: smoothed over frames)")
    p.add_argument("--output", type=Path, default=Path("ferkit-gui"), metavar="DIR",
                   help="folder for snapshots and recordings (default: ./ferkit-gui)")
    p.add_argument("--collect-dir", type=Path, default=None, metavar="DIR",
                   help="collect mode writes <DIR>/<emotion>/*.png (default: <output>/collected)")
    p.add_argument("--threads", type=threads_count, default=None, help="ONNX Runtime threads")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    try:
        import tkinter  # noqa: F401
    except ImportError:
        raise FerkitError(
            "ferkit gui needs Tk, which this Python lacks: on Debian/Ubuntu install python3-tk "
            "(system Python) or tk-dev before building Python (pyenv)") from None
    from ferkit.gui.app import create_app
    from ferkit.gui.state import Settings

    settings = Settings(args.label_set, args.detector, args.smoothing)
    app = create_app(args.model, source=args.source, settings=settings, output_dir=args.output,
                     collect_dir=args.collect_dir, threads=args.threads)
    stop_on_signals(app)
    try:
        app.root.mainloop()
    finally:
        app.close()  # finalises a recording in progress
    return 0


def stop_on_signals(app) -> None:
    """Ctrl+C and SIGTERM close the app the way its window's close button does.

    Python's default SIGINT raises KeyboardInterrupt inside whichever Tk callback runs, and Tk
    prints and swallows it; SIGTERM would kill the process mid-recording (an MP4 without its
    index). Tk's main loop runs Python handlers between events, so closing from one is safe.
    """
    import signal

    def close(signum, frame) -> None:
        app.root.after(0, app.close)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, close)
