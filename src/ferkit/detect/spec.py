"""Detector specs as every front end takes them ("name:key=value,..."), and the video defaults.

The CLI, the GUI, the server and batch all read video with `VIDEO_DETECTOR` and
`REDETECT_EVERY`; this module imports nothing heavy, so any of them may load it at start.
"""

from __future__ import annotations

from typing import Any

from ferkit.detect import DEFAULT_DETECTOR, DETECTORS, create_detector
from ferkit.errors import FerkitError

#: Video default: the image default (RetinaFace) searching frames shrunk to 960 px on the longer
#: side, so a whole-frame search of a 720p frame costs about what BlazeFace's untiled 720p pass
#: did while finding more faces (benchmarks/bench_scenes.py, bench_stream.py); between those
#: searches `detect_near` follows the faces found. One ONNX Runtime thread: the stream's
#: decoder and classifier use the other core. No `close_up` second search: a video frame is
#: rarely a face cut tight to its edges, and a small face-less frame would pay it every frame.
#: See docs/BENCHMARKS.md.
VIDEO_DETECTOR = f"{DEFAULT_DETECTOR}:max_side=960,threads=1,close_up=false"
#: Photos where a front end reads photos and videos alike (`ferkit batch`, the GUI): the image
#: default (searched at full size; face crops searched again) on one ONNX Runtime thread, since
#: batch workers fill the cores and the GUI's worker is one thread.
STREAM_PHOTO_DETECTOR = f"{DEFAULT_DETECTOR}:threads=1"


def detector_name(spec: str) -> str:
    """The detector a spec names ("retinaface:max_side=960" -> "retinaface"), checked without
    building it: FerkitError naming the choices when it is none of DETECTORS."""
    name = str(spec).partition(":")[0].strip()
    if name not in DETECTORS:
        raise FerkitError(f"unknown face detector {name!r}; choose one of "
                          f"{', '.join(DETECTORS)}")
    return name


def parse_detector(spec: str) -> Any:
    """A detector from "name" or "name:key=value,...", e.g. "retinaface:max_side=640" (the
    grammar `Recognizer(detector=...)`, the CLI, the GUI, the server and batch all take)."""
    name = detector_name(spec)
    rest = spec.partition(":")[2]
    options: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise FerkitError(f"bad detector option {item!r} in {spec!r}; use name:key=value")
        options[key.strip()] = _parse_value(value.strip())
    return create_detector(name, **options)


def _parse_value(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(value.lower(), value)


#: Search the whole frame every this many analysed frames, and only around the faces already
#: found in between (the detector's `detect_near`); see `ferkit.video.StreamAnalyzer.detect`
#: and docs/BENCHMARKS.md.
REDETECT_EVERY = 5
