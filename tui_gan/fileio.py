"""Atomic file writes: a crash mid-write never damages the file that was there before; appends
that land whole or not at all; a failed write said in words."""

from __future__ import annotations

import errno
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

# atomic_write's temp files: `.NAME.XXXXXXXX.tmp` beside NAME (mkstemp's 8 random characters)
_TEMP_SUFFIX = ".tmp"
_TEMP_NAME = re.compile(r"\..+\.[a-z0-9_]{8}" + re.escape(_TEMP_SUFFIX))


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None], durable: bool = True) -> Path:
    """Call write(f) on a temp file beside `path`, fsync it, then os.replace it into place.

    durable=False skips the fsyncs: a crash of the process still never leaves a torn file, but
    a power cut may lose the newest version (for files rewritten every second)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TEMP_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if durable:
        _fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda f: f.write(data))


def _fsync_dir(folder: Path) -> None:
    # Makes the rename itself durable; not possible on every platform/filesystem.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def temp_files(folder: str | os.PathLike) -> list[Path]:
    """atomic_write's temp files anywhere under `folder`: what a process killed mid-write (kill -9,
    a power cut) leaves behind. Only safe to delete when no process writes there any more."""
    found = []
    for parent, _, names in os.walk(folder):  # symlinked folders are not followed
        found += [Path(parent, n) for n in names if _TEMP_NAME.fullmatch(n)]
    return found


# What a failed write means to the person at the terminal, by errno (else the OS's own words).
_REASONS = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EIO: "input/output error (a failing disk or a lost network mount)",
    errno.EACCES: "permission denied",
}


def reason(exc: OSError) -> str:
    return _REASONS.get(exc.errno, exc.strerror or str(exc))


def append_whole(path: str | os.PathLike, data: bytes) -> int:
    """Append `data` to `path` entirely or not at all: a write that fails midway (a full disk)
    is cut back off, so a CSV never keeps a torn last line. Returns the file's new length."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except OSError:
            try:
                os.ftruncate(fd, size)
            except OSError:
                pass  # the reader skips a torn line; the write's own error is what to say
            raise
        return size + len(data)
    finally:
        os.close(fd)
