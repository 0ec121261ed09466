"""Exports for annotation tools: ELAN, Praat, BORIS and an OpenFace-style per-frame table."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from ferkit.episodes import Episode, Recording
from ferkit.exports.boris import boris_rows, boris_tsv, boris_xlsx
from ferkit.exports.elan import eaf_bytes
from ferkit.exports.frames import frames_csv
from ferkit.exports.praat import textgrid_bytes
from ferkit.outputs import atomic_write_bytes
from ferkit.rows import to_csv


def tier_name(track_id: int) -> str:
    """The tier / subject name of a face in every export."""
    return f"face {track_id}"


def export_paths(out_dir: Path, stem: str) -> dict[str, Path]:
    """Where `write_exports` puts each file, by kind."""
    out_dir = Path(out_dir)
    return {"elan": out_dir / f"{stem}.eaf", "praat": out_dir / f"{stem}.TextGrid",
            "boris_tsv": out_dir / f"{stem}.boris.tsv",
            "boris_xlsx": out_dir / f"{stem}.boris.xlsx",
            "frames": out_dir / f"{stem}.frames.csv",
            "episodes": out_dir / f"{stem}.episodes.csv"}


def export_bytes(recording: Recording, episodes: Sequence[Episode], media_path: Path,
                 paths: dict[str, Path]) -> dict[str, bytes]:
    """The bytes of every export, by kind; BORIS XLSX is left out (with a notice on stderr)
    when openpyxl is not installed."""
    from ferkit.episodes import episodes_to_records

    tracks = recording.track_ids
    boris = boris_rows(episodes)
    data = {
        "elan": eaf_bytes(episodes, tracks, media_path, paths["elan"].parent),
        "praat": textgrid_bytes(episodes, tracks, recording.end_s()),
        "boris_tsv": boris_tsv(boris),
        "frames": frames_csv(recording),
        "episodes": to_csv(episodes_to_records(episodes), EPISODE_COLUMNS).encode("utf-8"),
    }
    try:
        data["boris_xlsx"] = boris_xlsx(boris)
    except ImportError as exc:
        print(f"ferkit: {paths['boris_xlsx'].name} skipped: {exc}", file=sys.stderr)
    return data


EPISODE_COLUMNS = ("face_id", "label", "start_s", "end_s", "duration_s", "first_frame",
                   "last_frame", "frames", "mean_probability")


def write_exports(out_dir: Path, recording: Recording, episodes: Sequence[Episode],
                  media_path: Path, *, stem: str | None = None) -> dict[str, Path]:
    """Write every export of one video into `out_dir` (atomically, never over the video);
    return the paths written, by kind."""
    media_path = Path(media_path)
    paths = export_paths(out_dir, stem or media_path.stem)
    written = {}
    for kind, data in export_bytes(recording, episodes, media_path, paths).items():
        atomic_write_bytes(paths[kind], data, protect=[media_path])
        written[kind] = paths[kind]
    return written


__all__ = ["EPISODE_COLUMNS", "export_bytes", "export_paths", "tier_name", "write_exports"]
