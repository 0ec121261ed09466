"""The folder a server keeps video uploads in, named after its process, and the cleanup of
folders that killed servers left behind."""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

log = logging.getLogger("ferkit.server")

PREFIX = "ferkit-videos-"
#: ferkit-videos-<pid>-<random>: the pid says whether the server that made it still runs.
FOLDER_NAME = re.compile(re.escape(PREFIX) + r"(\d+)-")
#: A folder named with our pid but older than this module is a killed server's whose pid was
#: reused (containers give a server the same small pid every start).
_LOADED = time.time()


def make_upload_dir() -> Path:
    """A new private folder for this server's uploads."""
    return Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))


def remove_stale_upload_dirs(root: Path | None = None) -> int:
    """Delete the upload folders (in `root`, default the temp folder) of servers that no
    longer run; returns how many were removed. Folders of other users and of live processes
    are left alone."""
    root = Path(tempfile.gettempdir()) if root is None else root
    removed = 0
    try:
        entries = list(root.glob(PREFIX + "*"))
    except OSError:
        return 0
    for folder in entries:
        match = FOLDER_NAME.match(folder.name)
        if match is None:
            continue
        try:
            info = folder.lstat()
        except OSError:
            continue
        if not folder.is_dir() or folder.is_symlink() or info.st_uid != os.getuid():
            continue
        pid = int(match.group(1))
        if pid == os.getpid():
            if info.st_mtime >= _LOADED:  # made by this process
                continue
        elif _alive(pid):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            removed += 1
    if removed:
        log.info("removed %d upload folder(s) left by stopped servers", removed)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. PermissionError: someone else's live process
        return True
    return True
