"""The batch output folder: a settings lock, one atomic Parquet file per input, summary, report."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ferkit.batch.plan import InputItem, table_text
from ferkit.episodes import EpisodeOptions
from ferkit.errors import FerkitError
from ferkit.outputs import AtomicFile, write_json
from ferkit.rows import COLUMN_TYPES, columns, frame_rows
from ferkit.video import FrameResult

#: Parquet key-value metadata key under which each per-input file describes itself.
META_KEY = b"ferkit.batch"
SETTINGS_FILE = "batch.json"
#: Held by the run writing into DIR (a dot-file: readers of the folder skip it).
LOCK_FILE = ".ferkit-batch.lock"
#: What a run writes at DIR's top level besides SETTINGS_FILE.
SUMMARY, FACES_SUMMARY = "summary.parquet", "faces_summary.parquet"
FAILURES, REPORT = "failures.parquet", "report.json"
SUMMARY_FILES = (SUMMARY, FACES_SUMMARY, FAILURES, REPORT)


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise FerkitError("ferkit batch writes Parquet and needs pyarrow: "
                          "pip install 'ferkit[batch]'") from None
    return pa, pq


@dataclass(frozen=True)
class InputSummary:
    """One input at a glance. `shares`: the fraction of its face rows (one per face per
    analysed frame, so equally spaced in time) whose label is each emotion."""

    input: str
    kind: str
    frames: int
    frames_with_faces: int
    faces: int
    tracks: int
    duration_s: float
    shares: dict[str, float]

    def row(self) -> dict[str, Any]:
        fields = {k: v for k, v in self.__dict__.items() if k != "shares"}
        return {**fields, **{f"share_{name}": v for name, v in self.shares.items()}}


@dataclass(frozen=True)
class Failure:
    """An input that could not be analysed, and why."""

    input: str
    kind: str
    error: str

    def __post_init__(self) -> None:
        # An error message may quote a file name that is not UTF-8.
        object.__setattr__(self, "error", table_text(self.error))


class BatchStore:
    """Owns DIR: `faces/<stem>-<hash>.parquet` per finished input and its
    `episodes/<stem>-<hash>.parquet`, `batch.json` (the settings fingerprint every file in DIR
    was made with), `summary.parquet`, `faces_summary.parquet` (each face's share of time per
    label), `failures.parquet` and `report.json`. Every file is written to a hidden temporary
    name and renamed into place, so a killed run leaves only whole files (readers skip the
    dot-files, as pyarrow does)."""

    def __init__(self, root: Path, identity: dict[str, object], fingerprint: str,
                 labels: Sequence[str], episode_options: EpisodeOptions | None = None) -> None:
        self.root = Path(root)
        self.faces_dir = self.root / "faces"
        self.episodes_dir = self.root / "episodes"
        self.identity, self.fingerprint, self.labels = identity, fingerprint, tuple(labels)
        self.episode_options = episode_options or EpisodeOptions()
        self._lock = None

    # -- the settings lock -----------------------------------------------------------------
    def open(self) -> None:
        """Create DIR or check it holds results of these same settings (FerkitError if not)."""
        _pyarrow()  # a missing extra is said before any folder is made or input analysed
        if self.root.exists() and not self.root.is_dir():
            raise FerkitError(f"--out {self.root}: is a file, not a folder")
        lock = self.root / SETTINGS_FILE
        if lock.is_file():
            try:
                recorded = json.loads(lock.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                raise FerkitError(f"{lock}: unreadable ({exc}); use another --out") from None
            if not isinstance(recorded, dict) or not isinstance(recorded.get("settings", {}),
                                                                dict):
                raise FerkitError(f"{lock}: not a ferkit batch settings file; use another "
                                  "--out")
            if recorded.get("fingerprint") != self.fingerprint:
                changed = sorted(k for k in set(self.identity) | set(recorded.get("settings", {}))
                                 if self.identity.get(k) != recorded.get("settings", {}).get(k))
                raise FerkitError(
                    f"{self.root} holds results made with other settings (changed: "
                    f"{', '.join(changed) or 'unknown'}); use another --out or remove it")
        elif self.faces_dir.exists():
            raise FerkitError(f"{self.root} has a faces/ folder but no {SETTINGS_FILE}: not a "
                              "ferkit batch output; use another --out")
        else:  # a new output folder: never over files of the user's that share our names
            taken = [name for name in SUMMARY_FILES if (self.root / name).exists()]
            if taken:
                raise FerkitError(f"{self.root} already holds {', '.join(taken)} but no "
                                  f"{SETTINGS_FILE}: not a ferkit batch output; use another "
                                  "--out")
        try:
            self.faces_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FerkitError(f"--out {self.root}: cannot write ({exc.strerror or exc})") from None
        if not os.access(self.faces_dir, os.W_OK | os.X_OK):
            raise FerkitError(f"--out {self.root}: cannot write (permission denied)")
        self._take_lock()
        try:
            if not lock.is_file():
                write_json(lock, {"fingerprint": self.fingerprint, "settings": self.identity})
            for folder in (self.root, self.faces_dir, self.episodes_dir):  # a killed run's
                for pattern in (".*.parquet.*.tmp", ".*.json.*.tmp"):  # temporary files
                    for stale in folder.glob(pattern):
                        stale.unlink(missing_ok=True)
        except BaseException:
            self.close()
            raise

    def _take_lock(self) -> None:
        """Hold DIR's lock file until `close()`: a second run into DIR would remove this
        run's temporary files and write the same results twice."""
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; one run per folder is on the user
            return
        self._lock = open(self.root / LOCK_FILE, "a")  # held until close()
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.close()
            raise FerkitError(f"another ferkit batch is writing to {self.root}; wait for it "
                              "to end or use another --out") from None
        except OSError:  # a file system without locks (NFS mounted nolock): run unguarded
            pass

    def close(self) -> None:
        """Let another run into DIR (the lock also goes when the process ends)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    # -- per-input results -----------------------------------------------------------------
    def path_for(self, item: InputItem) -> Path:
        return self.faces_dir / f"{item.key}.parquet"

    def is_done(self, item: InputItem) -> bool:
        """Whether `item` has a complete result from this same input file (size and mtime)."""
        meta = self._meta(self.path_for(item))
        return meta is not None and meta.get("input") == str(item.path) and \
            meta.get("source") == _source_stamp(item.path)

    def write_input(self, item: InputItem, results: Iterable[FrameResult]) -> InputSummary:
        """Write the tracked faces of `item` as its Parquet file, atomically, after its
        episodes (`episodes/`, cut with `episode_options`); its summary."""
        from ferkit.episodes import Recording

        pa, pq = _pyarrow()
        recording = Recording(self.labels)
        columns: dict[str, list] = {name: [] for name in self.schema().names}
        frames = frames_with_faces = 0
        tracks: set[int] = set()
        for result in results:
            recording.add(result.index, result.time_s, result.faces)
            frames += 1
            frames_with_faces += bool(result.faces)
            for row in frame_rows(result, self.labels, input=item.text):
                for name, values in columns.items():
                    values.append(row[name])
                tracks.add(row["track_id"])
        labels = columns["label"]
        summary = InputSummary(
            input=item.text, kind=item.kind, frames=frames,
            frames_with_faces=frames_with_faces, faces=len(labels), tracks=len(tracks),
            # A video lasts until its last analysed frame ends; a photo has no duration.
            duration_s=recording.end_s() - recording.frames[0][1]
            if item.kind == "video" and recording.frames else 0.0,
            shares={n: (labels.count(n) / len(labels) if labels else 0.0) for n in self.labels})
        meta = {"input": str(item.path), "kind": item.kind, "fingerprint": self.fingerprint,
                "source": _source_stamp(item.path), "summary": summary.row(),
                "face_shares": self._write_episodes(item, recording)}
        table = pa.table(columns, schema=self.schema()).replace_schema_metadata(
            {META_KEY: json.dumps(meta).encode()})
        self._write_parquet(self.path_for(item), table)
        return summary

    def _write_episodes(self, item: InputItem, recording) -> list[dict[str, Any]]:
        """`episodes/<key>.parquet`, one row per episode; each face's share of time per
        label (rows of faces_summary.parquet)."""
        from ferkit.episodes import emotion_shares, episodes_to_records, segment

        pa, _ = _pyarrow()
        episodes = segment(recording, self.episode_options)
        table = pa.Table.from_pylist(
            [{"input": item.text, **row} for row in episodes_to_records(episodes)],
            schema=self.episode_schema())
        self.episodes_dir.mkdir(parents=True, exist_ok=True)
        self._write_parquet(self.episodes_dir / f"{item.key}.parquet", table)
        return [{"input": item.text, "face_id": track_id,
                 **{column: shares.get(name, 0.0)
                    for name, column in self.share_columns().items()}}
                for track_id, shares in sorted(emotion_shares(episodes).items())]

    def share_columns(self) -> dict[str, str]:
        """The per-face summary's column of each label and gap ("no face" -> share_no_face)."""
        from ferkit.episodes import GAPS

        return {name: f"share_{name.replace(' ', '_')}" for name in (*self.labels, *GAPS)}

    def episode_schema(self):
        """Columns of the per-input episode files (ferkit.episodes.episodes_to_records)."""
        pa, _ = _pyarrow()
        return pa.schema([("input", pa.string()), ("face_id", pa.int64()), ("label", pa.string()),
                          ("start_s", pa.float64()), ("end_s", pa.float64()),
                          ("duration_s", pa.float64()), ("first_frame", pa.int64()),
                          ("last_frame", pa.int64()), ("frames", pa.int64()),
                          ("mean_probability", pa.float64())])

    def schema(self):
        """Columns of the per-input files, one row per face per analysed frame: "input", then
        the columns of every ferkit row (`ferkit.rows.columns`)."""
        pa, _ = _pyarrow()
        kinds = {int: pa.int64(), float: pa.float64(), str: pa.string()}
        return pa.schema([(name, kinds[COLUMN_TYPES.get(name, float)])
                          for name in columns(self.labels, leading=("input",))])

    # -- tables over the whole folder ------------------------------------------------------
    def write_summary(self) -> int:
        """summary.parquet: one row per finished input in DIR (this run's and earlier ones'),
        leaving out results of an input that has changed since (they wait for a rerun)."""
        pa, _ = _pyarrow()
        rows, face_rows = [], []
        for file in sorted(self.faces_dir.glob("*.parquet")):
            meta = self._meta(file)
            if meta is not None and meta.get("fingerprint") == self.fingerprint \
                    and not _changed_since(meta):
                rows.append(meta["summary"])
                face_rows += meta.get("face_shares", [])
        rows.sort(key=lambda r: r["input"])
        face_rows.sort(key=lambda r: (r["input"], r["face_id"]))
        shares = list(self.share_columns().values())
        self._write_parquet(self.root / FACES_SUMMARY, pa.Table.from_pylist(
            face_rows, schema=pa.schema([("input", pa.string()), ("face_id", pa.int64())]
                                        + [(name, pa.float64()) for name in shares])))
        schema = pa.schema(
            [("input", pa.string()), ("kind", pa.string()), ("frames", pa.int64()),
             ("frames_with_faces", pa.int64()), ("faces", pa.int64()), ("tracks", pa.int64()),
             ("duration_s", pa.float64())]
            + [(f"share_{name}", pa.float64()) for name in self.labels])
        self._write_parquet(self.root / SUMMARY,
                            pa.Table.from_pylist(rows, schema=schema))
        return len(rows)

    def write_failures(self, failures: Sequence[Failure]) -> None:
        """failures.parquet: this run's failed inputs (a rerun tries them again)."""
        pa, _ = _pyarrow()
        schema = pa.schema([("input", pa.string()), ("kind", pa.string()),
                            ("error", pa.string())])
        table = pa.Table.from_pylist([f.__dict__ for f in failures], schema=schema)
        self._write_parquet(self.root / FAILURES, table)

    def write_report(self, report: dict[str, Any]) -> Path:
        path = self.root / REPORT
        write_json(path, report)
        return path

    # -- helpers ---------------------------------------------------------------------------
    def _meta(self, path: Path) -> dict[str, Any] | None:
        """A result file's own description, or None if it is missing or unreadable."""
        if not path.is_file():
            return None
        _, pq = _pyarrow()
        try:
            raw = (pq.read_schema(path).metadata or {}).get(META_KEY)
            return json.loads(raw) if raw else None
        except (OSError, ValueError):  # pyarrow's ArrowInvalid is a ValueError
            return None  # a damaged file counts as not done: it is recomputed and replaced

    def _write_parquet(self, path: Path, table) -> None:
        _, pq = _pyarrow()
        with AtomicFile(path, fsync=True) as file:  # fsync: on disk before it counts as done
            try:
                pq.write_table(table, file.tmp)
            except OSError as exc:
                raise FerkitError(f"{path}: cannot write ({exc.strerror or exc})") from None


def _changed_since(meta: dict[str, Any]) -> bool:
    """Whether the input of a result file is still there but no longer the file analysed
    (a moved or deleted input's result still stands for what it was)."""
    stamp = _source_stamp(Path(meta.get("input", "")))
    return stamp is not None and stamp != meta.get("source")


def _source_stamp(path: Path) -> list[int] | None:
    """(size, mtime in ns) of an input, so a changed file is analysed again on resume."""
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]
