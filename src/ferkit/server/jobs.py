"""Video jobs for the HTTP server: uploads wait on disk in a bounded queue for one worker thread."""

from __future__ import annotations

import logging
import queue
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ferkit.episodes import Episode, EpisodeOptions, Recording
from ferkit.errors import FerkitError, ImageError
from ferkit.exports import EXPORT_SUFFIXES, export_bytes, export_paths
from ferkit.imageio import MAX_PIXELS
from ferkit.labels import label_names
from ferkit.rows import columns, frame_rows, to_csv
from ferkit.server.uploads import make_upload_dir
from ferkit.video.io import VideoInfo, open_video
from ferkit.video.pipeline import StreamOptions, analyze_video

log = logging.getLogger("ferkit.server")

#: Job states, in the order a job goes through them.
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"


class QueueFull(Exception):
    """Every place in the video queue is taken."""


class VideoTooLarge(ImageError):
    """A video whose frames have more pixels than ferkit decodes (`imageio.MAX_PIXELS`)."""


@dataclass
class VideoJob:
    """One uploaded video: its options, where it stands, and its rows once analysed.

    The worker thread writes the fields and the event loop reads them; each write is one
    attribute assignment (atomic under the GIL) and `status` is set to done only after
    `rows` is complete, so a reader never sees half a result.
    """

    id: str
    path: Path
    options: StreamOptions
    filename: str | None = None
    frames_total: int | None = None
    #: Frames per second from the container's header (0 when it does not say).
    fps: float = 0.0
    episode_options: EpisodeOptions = field(default_factory=EpisodeOptions)
    status: str = QUEUED
    frames_done: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    tracks: int = 0
    created: float = field(default_factory=time.time)
    finished: float | None = None
    #: What the episodes, exports and report are made of: the same frames as `rows`.
    recording: Recording | None = None
    #: The recording's episodes, segmented once when the job finishes.
    episodes: list[Episode] = field(default_factory=list)
    settings: dict[str, object] = field(default_factory=dict)
    model: dict[str, str] = field(default_factory=dict)

    @property
    def video_name(self) -> str:
        """The uploaded file's name (without folders), or one made of the job id."""
        return Path(self.filename).name if self.filename else f"{self.id}.mp4"

    @property
    def progress(self) -> float | None:
        """Share of frames analysed, 0 to 1; None while running a video of unknown length."""
        if self.status == DONE:
            return 1.0
        if not self.frames_total:
            return 0.0 if self.status == QUEUED else None
        # Container frame counts are approximate: never claim 100 % before the job ends.
        return round(min(self.frames_done / self.frames_total, 0.99), 4)

    def summary(self) -> dict[str, Any]:
        """Everything but the rows: what GET /v1/videos/{id} answers while the job runs."""
        out: dict[str, Any] = {
            "id": self.id, "status": self.status, "progress": self.progress,
            "frames_done": self.frames_done, "frames_total": self.frames_total,
            "label_set": self.options.label_set, "detector": self.options.detector_for("video"),
            "every": self.options.every, "redetect_every": self.options.redetect_every,
            "min_episode": self.episode_options.min_duration_s,
            "margin": self.episode_options.margin,
            "uncertain_below": self.episode_options.uncertain_below,
            "filename": self.filename,
        }
        if self.status == FAILED:
            out["error"] = self.error
        if self.status == DONE:
            out["faces"] = len(self.rows)
            out["tracks"] = self.tracks
        return out


def check_video(path: Path) -> VideoInfo:
    """What the container of an uploaded file says (frame count and fps 0 if unknown), after
    decoding its first frame.

    ImageError when the content is not a video OpenCV can decode (still images are refused
    too: they belong to /v1/analyze); VideoTooLarge, before decoding, when the frames are
    over `MAX_PIXELS`.
    """
    from PIL import Image

    try:
        with Image.open(path) as im:
            still = not getattr(im, "is_animated", False)
            kind = im.format
    except Image.DecompressionBombError:
        raise VideoTooLarge("this is a huge still image, not a video") from None
    except Exception:  # not an image Pillow knows: a candidate video
        still = False
    if still:
        raise ImageError(f"this is a still image ({kind}), not a video: send photos to "
                         "/v1/analyze")
    cap, info = open_video(path)
    try:
        width, height = info.size_wh  # from the container's header: check before decoding
        if width * height > MAX_PIXELS:
            raise VideoTooLarge(f"video frames are {width}x{height}, over the "
                                f"{MAX_PIXELS / 1e6:.0f} MP limit")
        ok, frame = cap.read()
    finally:
        cap.release()
    if not ok or frame is None:
        raise ImageError("not a readable video: no frame could be decoded")
    return info


def video_csv(job: VideoJob) -> str:
    """The job's rows as CSV, the columns of every ferkit row, header even without faces."""
    return to_csv(job.rows, columns(label_names(job.options.label_set)))


#: The export names of GET /v1/videos/{id}/episodes/{name}: each file's suffix after the stem.
EXPORT_NAMES = {suffix.removeprefix("."): kind for kind, suffix in EXPORT_SUFFIXES.items()}


def _coding(job: VideoJob):
    """The job's episodes, where its media "lives" and the export paths (for their names).

    The server has no copy of the user's video: exports link it by name, as a file beside
    them (ELAN finds it there through the relative media URL)."""
    media = Path(Path.cwd().anchor) / job.video_name
    return job.episodes, media, export_paths(media.parent, media.stem)


def video_export(job: VideoJob, name: str) -> tuple[bytes, str, str]:
    """One export of a finished job (a key of EXPORT_NAMES): its bytes, file name and media
    type; KeyError when it cannot be made (BORIS XLSX without openpyxl)."""
    from ferkit.coding import DESCRIPTIONS

    episodes, media, paths = _coding(job)
    kind = EXPORT_NAMES[name]
    data = export_bytes(job.recording, episodes, media, paths)[kind]  # KeyError: no openpyxl
    return data, paths[kind].name, DESCRIPTIONS[kind][1]


def video_report(job: VideoJob) -> str:
    """The self-contained HTML report of a finished job, the page `ferkit report` writes."""
    from ferkit.coding import embedded_downloads
    from ferkit.report import render_report

    episodes, media, _ = _coding(job)
    downloads = embedded_downloads(job.recording, episodes, media,
                                   media.parent / f"{media.stem}.report.html")
    return render_report(job.recording, episodes, title=job.video_name, settings=job.settings,
                         model=job.model, downloads=downloads)


class VideoJobs:
    """A bounded queue of uploaded videos, analysed one at a time by a worker thread.

    `get_recognizer(detector_spec)` returns the shared Recognizer. Uploads live in a private
    temporary folder and each is deleted once analysed (or refused); `close()` stops the worker
    and removes the folder. Finished jobs are kept for lookup, the oldest forgotten beyond
    `keep_finished` jobs or, the newest excepted, `keep_rows` rows in all (each row with its
    frame's share of the episodes' data: about 2 KB; a million rows is about an hour of
    30 fps video with one face analysed every frame).
    """

    def __init__(self, get_recognizer: Callable[[str], Any], *, max_queued: int = 8,
                 keep_finished: int = 100, keep_rows: int = 1_000_000):
        if max_queued < 1:
            raise FerkitError("the video queue needs at least one place")
        self._get_recognizer = get_recognizer
        self._queue: queue.Queue[VideoJob | None] = queue.Queue(maxsize=max_queued)
        self._keep_finished, self._keep_rows = keep_finished, keep_rows
        self._jobs: OrderedDict[str, VideoJob] = OrderedDict()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._dir: Path | None = None
        self.max_queued = max_queued

    @property
    def upload_dir(self) -> Path:
        """The folder uploads wait in, made on first use so idle servers leave nothing behind."""
        with self._lock:
            if self._dir is None:
                self._dir = make_upload_dir()
            return self._dir

    def waiting(self) -> int:
        """Videos queued and not yet started."""
        return self._queue.qsize()

    def new_upload_path(self) -> Path:
        return self.upload_dir / uuid.uuid4().hex

    def submit(self, path: Path, options: StreamOptions, *, filename: str | None = None,
               frames_total: int | None = None, fps: float = 0.0,
               episode_options: EpisodeOptions | None = None) -> VideoJob:
        """Queue the video at `path` (which the job then owns); QueueFull when no place is
        free, in which case the caller still owns, and must delete, the file."""
        job = VideoJob(uuid.uuid4().hex, path, options, filename, frames_total, fps,
                       episode_options or EpisodeOptions())
        with self._lock:
            if self._stop.is_set():
                raise QueueFull
            try:
                self._queue.put_nowait(job)
            except queue.Full:
                raise QueueFull from None
            self._jobs[job.id] = job
            self._forget_old()
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="ferkit-video-jobs",
                                                daemon=True)
                self._thread.start()
        return job

    def get(self, job_id: str) -> VideoJob | None:
        with self._lock:
            return self._jobs.get(job_id)

    def close(self, timeout_s: float = 10.0) -> None:
        """Stop after the current frame, drop queued jobs and delete every upload."""
        with self._lock:
            self._stop.set()
            thread = self._thread
        if thread is not None:
            try:
                self._queue.put_nowait(None)  # wake a worker waiting on an empty queue
            except queue.Full:
                pass  # the worker is busy and will see the stop flag after this frame
            thread.join(timeout_s)
        while True:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                self._finish(job, FAILED, "the server shut down before analysing this video")
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)

    def _forget_old(self) -> None:
        """Forget finished jobs, oldest first, beyond `keep_finished` or `keep_rows` (the
        caller holds the lock)."""
        finished = [j for j in self._jobs.values() if j.status in (DONE, FAILED)]
        kept = rows = 0
        for job in reversed(finished):  # newest first
            rows += len(job.rows)
            if kept and (kept >= self._keep_finished or rows > self._keep_rows):
                del self._jobs[job.id]
            else:
                kept += 1

    def _work(self) -> None:
        while not self._stop.is_set():
            job = self._queue.get()
            if job is None:
                break
            self._process(job)

    def _process(self, job: VideoJob) -> None:
        job.status = RUNNING
        try:
            from ferkit.coding import VideoCoding
            from ferkit.report import model_summary

            names = label_names(job.options.label_set)
            recognizer = self._get_recognizer(job.options.detector_for("video"))
            coding = VideoCoding(job.video_name, job.fps, job.options, job.episode_options)
            rows: list[dict[str, Any]] = []
            job.rows = rows
            for result in analyze_video(job.path, job.options, recognizer=recognizer):
                if self._stop.is_set():
                    raise FerkitError("the server shut down while analysing this video")
                rows.extend(frame_rows(result, names))
                coding.add(result)
                job.frames_done += 1
            job.tracks = len({row["track_id"] for row in rows})
            job.settings = coding.settings
            model = getattr(recognizer, "model", None)
            job.model = model_summary(model) if model is not None else {}
            job.episodes = coding.episodes()
            job.recording = coding.recording
        except FerkitError as exc:
            # Messages name the file by its temporary path, which means nothing to the client.
            message = str(exc).replace(str(job.path), "the upload").splitlines()[0]
            self._finish(job, FAILED, message)
        except Exception:  # a bug, not the client's fault: log it, keep the worker alive
            log.exception("unexpected error analysing video job %s", job.id)
            self._finish(job, FAILED, "internal server error while analysing the video")
        else:
            self._finish(job, DONE)

    def _finish(self, job: VideoJob, status: str, error: str | None = None) -> None:
        job.path.unlink(missing_ok=True)
        job.error = error
        job.finished = time.time()
        if status == FAILED:
            job.rows = []
            job.recording = None
            job.episodes = []
        with self._lock:
            job.status = status
            self._forget_old()
