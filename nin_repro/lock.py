"""One process per run: a lock file beside the run's cache checkpoint,
holding the process id and host of the run training it."""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path


@contextlib.contextmanager
def run_lock(path: Path, enabled: bool = True):
    """Hold `path` (a run's lock file, beside its cache checkpoint) while the
    run trains. A lock whose process is alive on this host refuses a second
    run; one left by a process that died (kill -9) is taken over."""
    if not enabled:
        yield
        return
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    me = f"{os.getpid()} {socket.gethostname()}"
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            holder = _lock_holder(path)
            if holder and _alive(holder):
                raise _held(path, holder) from None
            path.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(fd, "w") as f:
            f.write(me + "\n")
        break
    else:
        raise ValueError(f"could not take the lock {path}; delete it if no run of {path.stem} is training")
    try:
        yield
    finally:
        if path.exists() and path.read_text().strip() == me:
            path.unlink()


def check_free(path: Path) -> None:
    """Refuse now, as `run_lock` would, if a live process holds the lock
    `path`: for a run that trains after another (`train --seed 0 1`).
    Does not take the lock."""
    path = Path(path)
    holder = _lock_holder(path) if path.exists() else []
    if holder and _alive(holder):
        raise _held(path, holder)


def _held(path: Path, holder: list[str]) -> ValueError:
    return ValueError(f"{path.stem} is already training in process {holder[0]} on {holder[1]} (lock {path}); "
                      "wait for it to finish or stop it first (if no such process trains it any more, e.g. the "
                      "machine restarted, delete the lock)")


def _lock_holder(path: Path) -> list[str]:
    """[pid, host] of a lock file; empty if it is gone, or empty still a
    moment later: a lock is created empty and written just after, so an
    empty one read once may be a run taking it this instant, not a stale one."""
    for wait in (0.0, 0.5):
        time.sleep(wait)
        try:
            holder = path.read_text().split()
        except FileNotFoundError:
            return []
        if holder:
            return holder
    return []


def _alive(holder: list[str]) -> bool:
    """Whether the lock's process still runs (a lock from another host counts as alive)."""
    if len(holder) < 2 or not holder[0].isdigit():
        return False
    if holder[1] != socket.gethostname():
        return True
    try:
        os.kill(int(holder[0]), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
