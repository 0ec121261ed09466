"""Streams of frames: reading them (io), tracking faces across them (track), the loop (pipeline)."""

from ferkit.video.io import (
    Frame,
    VideoInfo,
    iter_frames,
    open_source,
    probe_video,
    quiet_ffmpeg,
)
from ferkit.video.pipeline import (
    FrameResult,
    StreamAnalyzer,
    StreamOptions,
    analyze_frames,
    analyze_video,
    track_faces,
)
from ferkit.video.track import IoUTracker, ScoreSmoother, TrackerConfig
from ferkit.video_writer import AtomicVideoWriter  # its own module: codecs, PyAV

__all__ = [
    "AtomicVideoWriter", "Frame", "FrameResult", "IoUTracker", "ScoreSmoother", "StreamAnalyzer",
    "StreamOptions", "TrackerConfig", "VideoInfo", "analyze_frames", "analyze_video",
    "iter_frames", "open_source", "probe_video", "quiet_ffmpeg", "track_faces",
]
