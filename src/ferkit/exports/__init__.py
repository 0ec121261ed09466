"""Exports for annotation tools: ELAN, Praat, BORIS and an OpenFace-style per-frame table."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path

from ferkit.episodes import Episode, Recording
from ferkit.exports.boris import boris_rows, boris_tsv, boris_xlsx
from ferkit.exports.elan import eaf_bytes
from ferkit.exports.frames import frames_csv
from ferkit.exports.praat import textgrid_bytes
from ferkit.outputs import atomic_write_many
from ferkit.rows import to_csv


def tier_name(track_id: int) -> str:
    """The tier / subject name of a face in every export."""
    return f"face {track_id}"


#: Each export's file name after the video's stem, by kind.
EXPORT_SUFFIXES = {"elan": ".eaf", "praat": ".TextGrid", "boris_tsv": ".boris.tsv",
                   "boris_xlsx": ".boris.xlsx", "frames": ".frames.csv",
                   "episodes": ".episodes.csv"}


def export_paths(out_dir: Path, stem: str) -> dict[str, Path]:
    """Where `write_exports` puts each file, by kind: BORIS .xlsx only where openpyxl (the
    `xlsx` extra) is installed, so only files that will be written are checked for overwrites."""
    xlsx = importlib.util.find_spec("openpyxl") is not None
    return {kind: Path(out_dir) / f"{stem}{suffix}" for kind, suffix in EXPORT_SUFFIXES.items()
            if xlsx or kind != "boris_xlsx"}


def export_bytes(recording: Recording, episodes: Sequence[Episode], media_path: Path,
                 paths: dict[str, Path]) -> dict[str, bytes]:
    """The bytes of every export in `paths`, by kind; where openpyxl is not installed (no
    "boris_xlsx" in `paths`), a notice on stderr says BORIS .xlsx is left out."""
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
        if "boris_xlsx" not in paths:
            raise ImportError("it needs openpyxl: pip install 'ferkit[xlsx]'")
        data["boris_xlsx"] = boris_xlsx(boris)
    except ImportError as exc:  # also an openpyxl installed but broken
        print(f"ferkit: BORIS .xlsx skipped (the .tsv has the same events): {exc}",
              file=sys.stderr)
    return data


EPISODE_COLUMNS = ("face_id", "label", "start_s", "end_s", "duration_s", "first_frame",
                   "last_frame", "frames", "mean_probability")


def write_exports(out_dir: Path, recording: Recording, episodes: Sequence[Episode],
                  media_path: Path, *, stem: str | None = None) -> dict[str, Path]:
    """Write every export of one video into `out_dir` (atomically, as one set, never over
    the video); return the paths written, by kind."""
    media_path = Path(media_path)
    paths = export_paths(out_dir, stem or media_path.stem)
    data = export_bytes(recording, episodes, media_path, paths)
    atomic_write_many({paths[kind]: content for kind, content in data.items()},
                      protect=[media_path])
    return {kind: paths[kind] for kind in data}


__all__ = ["EPISODE_COLUMNS", "EXPORT_SUFFIXES", "export_bytes", "export_paths", "tier_name",
           "write_exports"]
