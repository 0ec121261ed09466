"""Video coding outputs in one folder: a video's episodes, every export, and its report."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from ferkit.episodes import Episode, EpisodeOptions, Recording, segment
from ferkit.exports import export_bytes, export_paths, write_exports
from ferkit.labels import label_names
from ferkit.outputs import atomic_write_bytes
from ferkit.report import Download, render_report

if TYPE_CHECKING:
    from ferkit.video.pipeline import FrameResult, StreamOptions

#: What each export is, as the report's download list says it.
DESCRIPTIONS = {
    "elan": ("ELAN annotation file, one tier per face", "application/xml"),
    "praat": ("Praat TextGrid, one interval tier per face", "text/plain"),
    "boris_tsv": ("BORIS events (start/stop per episode), tab-separated",
                  "text/tab-separated-values"),
    "boris_xlsx": ("BORIS events as an Excel sheet",
                   "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "frames": ("per-frame table, one row per face per frame (OpenFace column names)", "text/csv"),
    "episodes": ("episodes table, one row per episode", "text/csv"),
}
#: Exports larger than this are linked, not embedded in the report.
EMBED_LIMIT_BYTES = 4_000_000


def coding_output_paths(out_dir: Path, media_path: Path, stem: str | None = None
                        ) -> dict[str, Path]:
    """Where `write_coding_outputs` may write, by kind ("report" included), to check
    before any work."""
    stem = stem or Path(media_path).stem
    return {**export_paths(out_dir, stem), "report": Path(out_dir) / f"{stem}.report.html"}


def new_recording(labels: Sequence[str], every: int, fps: float | None) -> Recording:
    """A Recording of a stream at `fps` analysed every `every` frames."""
    return Recording(tuple(labels), nominal_step_s=every / fps if fps else 0.04)


def coding_settings(video: str, fps: float | None, stream: StreamOptions, episodes
                    ) -> dict[str, object]:
    """The settings a report lists: the video's, its `StreamOptions`' as a video applies them,
    and an `EpisodeOptions`'."""
    return {"video": video, "frame rate": f"{fps:g} fps" if fps else "unknown",
            "label set": stream.label_set, "detector": stream.detector_for("video"),
            "every": stream.every, "smooth": stream.smooth,
            "redetect every": stream.redetect_every, "tta": stream.tta_for("video"),
            "episode margin": episodes.margin,
            "minimum episode": f"{episodes.min_duration_s:g} s",
            "uncertain below": episodes.uncertain_below}


class VideoCoding:
    """One video's analysed frames gathered for coding, as `ferkit video --episodes`, `ferkit
    report` and the server's video jobs gather them: `add` each tracked FrameResult, then
    read `recording`, `settings` (what a report lists) and `episodes()`."""

    def __init__(self, video: str, fps: float | None, stream: StreamOptions,
                 episodes: EpisodeOptions) -> None:
        self.episode_options = episodes
        self.recording = new_recording(label_names(stream.label_set), stream.every, fps)
        self.settings = coding_settings(video, fps, stream, episodes)

    def add(self, result: FrameResult) -> None:
        self.recording.add(result.index, result.time_s, result.faces, result.frame_bgr)

    def episodes(self) -> list[Episode]:
        return segment(self.recording, self.episode_options)


def write_coding_outputs(out_dir: Path, recording: Recording, episodes: Sequence[Episode],
                         media_path: Path, *, settings: Mapping[str, object],
                         model: Mapping[str, str], stem: str | None = None) -> dict[str, Path]:
    """Every export and `<stem>.report.html` into `out_dir`, atomically, never over the
    video; the report links the files beside it. Returns the paths by kind."""
    media_path = Path(media_path)
    written = write_exports(out_dir, recording, episodes, media_path, stem=stem)
    report = coding_output_paths(out_dir, media_path, stem)["report"]
    # A relative URL: "take#2.mp4" or "50%.eaf" must not be read as a fragment or an escape.
    downloads = [Download(path.name, DESCRIPTIONS[kind][0], href=quote(path.name),
                          mime=DESCRIPTIONS[kind][1]) for kind, path in written.items()]
    write_report(report, recording, episodes, title=media_path.name, settings=settings,
                 model=model, downloads=downloads, protect=[media_path])
    return {**written, "report": report}


def embedded_downloads(recording: Recording, episodes: Sequence[Episode], media_path: Path,
                       report_path: Path) -> list[Download]:
    """Every export as a download inside the report itself (a file that travels alone);
    large ones are left out."""
    paths = export_paths(Path(report_path).parent, Path(media_path).stem)
    data = export_bytes(recording, episodes, media_path, paths)
    return [Download(paths[kind].name, DESCRIPTIONS[kind][0], data=content,
                     mime=DESCRIPTIONS[kind][1])
            for kind, content in data.items() if len(content) <= EMBED_LIMIT_BYTES]


def write_report(path: Path, recording: Recording, episodes: Sequence[Episode], *, title: str,
                 settings: Mapping[str, object], model: Mapping[str, str],
                 downloads: Sequence[Download] = (), protect: Sequence[Path] = ()) -> Path:
    """The HTML report at `path`, atomically."""
    page = render_report(recording, episodes, title=title, settings=settings, model=model,
                         downloads=downloads)
    atomic_write_bytes(Path(path), page.encode("utf-8"), protect=protect)
    return Path(path)
