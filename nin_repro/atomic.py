"""Write files so that a crash never leaves a half-written one behind.

The content goes to a temporary file in the same folder, is flushed to disk
(fsync), and only then renamed over the target: readers see the old file or
the new one, never a torn mix.
"""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from pathlib import Path
from typing import Iterator


class DiskFullError(OSError):
    """No space left on the device: names the file that could not be
    written, not the temporary file the system's error names."""

    def __init__(self, path: str | os.PathLike, then: str = ""):
        super().__init__(errno.ENOSPC, f"no space left on device writing {path}" + (f"; {then}" if then else ""),
                         str(path))
        self.path = Path(path)

    def __str__(self) -> str:
        return self.strerror


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it replaces `path`.
    A full disk on the way is a `DiskFullError` naming `path`."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise (DiskFullError(path) if e.errno == errno.ENOSPC else e) from e
    os.close(fd)
    tmp = Path(tmp)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        # mkstemp's file is its owner's alone (0600): give it the mode the file
        # had, or a new file's, so a rewritten notebook or record stays readable
        os.chmod(tmp, path.stat().st_mode & 0o7777 if path.exists() else _new_file_mode())
        os.replace(tmp, path)
        # Make the rename itself durable.
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as e:
        if e.errno == errno.ENOSPC and not isinstance(e, DiskFullError):
            raise DiskFullError(path) from e
        raise
    finally:
        if tmp.exists():
            tmp.unlink()


def _new_file_mode() -> int:
    umask = os.umask(0)  # read it the only way there is: set it, then put it back
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)
