"""What a batch run does: its settings and their fingerprint, its inputs, and the jobs they make."""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

import cv2

from ferkit.episodes import EpisodeOptions
from ferkit.errors import FerkitError
from ferkit.imageio import IMAGE_SUFFIXES
from ferkit.outputs import expand_inputs
from ferkit.video import StreamOptions, TrackerConfig, probe_video

VIDEO_SUFFIXES = {".mp4", ".m4v", ".mov", ".avi", ".mkv", ".webm", ".mpg", ".mpeg", ".wmv",
                  ".flv", ".ts", ".3gp"}
#: A file argument with this suffix is a manifest: one input path per line.
MANIFEST_SUFFIX = ".txt"
#: Frames (analysed ones, after --every) per video job unless told otherwise.
DEFAULT_CHUNK_FRAMES = 300


@dataclass(frozen=True)
class BatchSettings(StreamOptions):
    """How each input is analysed: the stream options, with one ONNX Runtime thread per
    worker's model by default (one worker per core fills the cores), and how its frames are
    cut into episodes. All but `threads` can change result rows or episodes, so all but
    `threads` go into the fingerprint that guards an output folder against mixed results."""

    threads: int | None = 1
    episodes: EpisodeOptions = field(default_factory=EpisodeOptions)

    def identity(self) -> dict[str, object]:
        """The settings that decide the rows, with the model by content, not by path."""
        from ferkit.model import model_sha256, shipped_model_path

        model = Path(self.model) if self.model is not None else shipped_model_path()
        digest = model_sha256(model)
        return {"label_set": self.label_set, "every": self.every,
                "detector": {kind: self.detector_for(kind) for kind in ("image", "video")},
                "smooth": self.smooth, "redetect_every": self.redetect_every,
                # What each kind of input gets, not the setting: equal rows, equal prints.
                "tta": {kind: self.tta_for(kind) for kind in ("image", "video")},
                "model_sha256": digest,
                "tracker": asdict(TrackerConfig()), "episodes": asdict(self.episodes)}


def fingerprint(identity: dict[str, object]) -> str:
    """A short stable hash of `BatchSettings.identity()`."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def table_text(text: str) -> str:
    """`text` as Parquet strings can hold it: the bytes of a file name that are not UTF-8
    (kept by Python as lone surrogates) become U+FFFD."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


@dataclass(frozen=True)
class InputItem:
    """One photo or video to analyse: its absolute path and kind ("image" or "video")."""

    path: Path
    kind: str

    @property
    def text(self) -> str:
        """The path as the tables hold it (`table_text`)."""
        return table_text(str(self.path))

    @property
    def key(self) -> str:
        """A file-name-safe, readable and unique name: the stem plus a hash of the full path
        (two `clip.mp4` in different folders must not share a result file)."""
        digest = hashlib.sha1(os.fsencode(self.path)).hexdigest()[:12]  # the bytes of any name
        stem = re.sub(r"[^A-Za-z0-9._-]+", "_", self.path.stem).strip("._")[:60] or "input"
        return f"{stem}-{digest}"


@dataclass(frozen=True)
class Job:
    """One unit of work for a worker: a whole image, or the video frames start <= i < stop
    (`stop` None: to the end), part `part` of `parts` for its input."""

    item: InputItem
    part: int = 0
    parts: int = 1
    start: int = 0
    stop: int | None = None


def media_kind(path: Path) -> str:
    """The kind of `path`, image or video, by its suffix; with an unknown suffix, an image if
    OpenCV recognises its signature as one, else a video (which fails if it is neither)."""
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        return "image"
    if suffix in VIDEO_SUFFIXES:
        return "video"
    try:
        return "image" if path.is_file() and cv2.haveImageReader(str(path)) else "video"
    except cv2.error:
        return "video"


def find_inputs(arguments: list[Path], out: Path | None = None) -> list[InputItem]:
    """Inputs from files, folders (recursive: images and videos by suffix) and manifests.

    A manifest is a .txt file listing one path per line (blank lines and '#' comments skipped;
    relative paths count from the manifest's folder). An argument that does not exist is an
    error (a typo should not start a long job); a manifest line that does not exist becomes an
    input that fails, like any unreadable file, without stopping the others. Each file appears
    once, in the order first named. Folders searched skip `out`, the batch's own folder.
    """
    found: list[InputItem] = []
    seen: set[Path] = set()

    def add(path: Path) -> None:
        for file, _ in expand_inputs([path], IMAGE_SUFFIXES | VIDEO_SUFFIXES, skip=[out]):
            file = Path(os.path.abspath(file))  # absolute, '..' folded: one name per file
            if file not in seen:
                seen.add(file)
                found.append(InputItem(file, media_kind(file)))

    for argument in arguments:
        if not argument.exists():
            raise FerkitError(f"{argument}: no such file or folder")
        if argument.is_file() and argument.suffix.lower() == MANIFEST_SUFFIX:
            for line in _manifest_lines(argument):
                listed = Path(line).expanduser()
                add(listed if listed.is_absolute() else argument.parent / listed)
        else:
            add(argument)
    if not found:
        raise FerkitError("no images or videos found in " + ", ".join(map(str, arguments)))
    return found


def _manifest_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise FerkitError(f"cannot read manifest {path}: {exc}") from None
    return [line.strip() for line in text.splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


def chunk_size(chunk_frames: int, redetect_every: int) -> int:
    """`chunk_frames` rounded up to a multiple of `redetect_every` (0 stays 0): every range
    then starts with a whole-frame search, as the same frame does in one whole pass."""
    return -(-chunk_frames // redetect_every) * redetect_every


def plan_jobs(item: InputItem, every: int, chunk_frames: int) -> tuple[list[Job], int | None]:
    """The jobs for `item` and the frames they will analyse (None when the video cannot say).

    A video is split into ranges of `chunk_frames` analysed frames (0: never split) so one
    long video keeps many workers busy. Splitting cannot change a result: workers only detect
    and classify (`ferkit.video.pipeline.detect_frames`, whose whole-frame searches fall on the
    same frames when `chunk_frames` comes from `chunk_size`); tracking and smoothing run over the
    stitched frames in order. The last range is open-ended because container frame counts
    are estimates. Raises ImageError for a video that cannot be opened.
    """
    if item.kind == "image":
        return [Job(item)], 1
    info = probe_video(item.path)
    expected = info.analysed_frames(every)
    span = chunk_frames * every
    if not chunk_frames or not info.frame_count or info.frame_count <= span:
        return [Job(item)], expected
    starts = list(range(0, info.frame_count, span))
    jobs = [Job(item, k, len(starts), start, start + span if k + 1 < len(starts) else None)
            for k, start in enumerate(starts)]
    return jobs, expected
