"""Detector specs as every front end takes them ("name:key=value,..."), and the video defaults.

The CLI, the GUI, the server and batch all read video with `VIDEO_DETECTOR` and
`REDETECT_EVERY`; this module imports nothing heavy, so any of them may load it at start.
"""

from __future__ import annotations

from typing import Any

from ferkit.detect import create_detector
from ferkit.errors import FerkitError

#: Video default: BlazeFace in whole-frame passes (no tiles), looking for faces from 28 px wide
#: in frames up to 720 px and from 1/26 of the longer side beyond (49 px at 1280x720). At
#: 640x480 it found all the faces the tiled image default found in bench_pipeline.py, at ~1.4x
#: its speed; the tracker bridges the odd frame the tiles would have saved. A smallest face
#: that grows with the frame keeps the whole-frame search at 720p from reading 2.7x more pixels;
#: max_side=640 was faster still but missed a 60 px face in 720p (bench_stream.py).
#: See docs/BENCHMARKS.md.
VIDEO_DETECTOR = "blazeface:tiles=false,max_side=720"


def parse_detector(spec: str) -> Any:
    """A detector from "name" or "name:key=value,...", e.g. "blazeface:min_face_px=40"."""
    name, _, rest = spec.partition(":")
    options: dict[str, Any] = {}
    for item in filter(None, (part.strip() for part in rest.split(","))):
        key, eq, value = item.partition("=")
        if not eq or not key:
            raise FerkitError(f"bad detector option {item!r} in {spec!r}; use name:key=value")
        options[key.strip()] = _parse_value(value.strip())
    return create_detector(name.strip(), **options)


def _parse_value(value: str) -> Any:
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return {"true": True, "false": False, "none": None}.get(value.lower(), value)


#: Search the whole frame every this many analysed frames, and only around the faces already
#: found in between (BlazeFace); see `ferkit.video.analyze_frames` and docs/BENCHMARKS.md.
REDETECT_EVERY = 5
