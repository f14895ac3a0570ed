"""Files only the bot's own user can read: 0600 files in 0700 folders, whatever the umask.

The database holds every prompt, the work folder every first frame and video before it
reaches Slack: none of it is for other users of the machine. ``os.open`` with a mode is
still narrowed by the umask, so each helper also sets the mode explicitly afterwards.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Iterable
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> Path:
    """Create ``path`` (and its parents, with the default mode) and make it 0700."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new 0600 file inside a 0700 folder."""
    private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), FILE_MODE)
        handle.write(data)


def create_private(path: Path) -> None:
    """Create ``path`` empty and 0600 unless it exists; make it 0600 either way. SQLite then
    opens it as a new database and gives its -wal and -shm files the same mode."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def make_private(paths: Iterable[Path]) -> None:
    """chmod 0600 each path that exists (files made by code that does not know the mode)."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.chmod(path, FILE_MODE)


def sweep(
    directory: Path, pattern: re.Pattern[str], keep: Iterable[Path], *, older_than: float
) -> int:
    """Remove the files in ``directory`` whose name matches ``pattern``, that are not in
    ``keep`` and were not written in the last ``older_than`` seconds (another process on
    the same folder may be writing them); returns how many. Other names are left alone."""
    kept = {Path(p).resolve() for p in keep}
    cutoff = time.time() - older_than
    removed = 0
    with contextlib.suppress(FileNotFoundError):
        for entry in directory.iterdir():
            if not (pattern.fullmatch(entry.name) and entry.is_file()):
                continue
            with contextlib.suppress(FileNotFoundError):
                if entry.resolve() not in kept and entry.stat().st_mtime < cutoff:
                    entry.unlink()
                    removed += 1
    return removed
