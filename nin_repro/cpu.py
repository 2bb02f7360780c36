"""CPU speed settings the package applies itself, so users need no
environment variables.

Measured on this project's 2-core machines (see ../shared/compute.md and the
book's performance page): by default glibc returns every large freed buffer
to the OS, so each training step page-faults its activations in again; telling
malloc to keep freed memory (no mmap for large blocks, a high trim threshold)
speeds the NiN step up by ~1.5x.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

import torch

M_TRIM_THRESHOLD = -1  # from glibc's malloc.h
M_MMAP_THRESHOLD = -3
M_MMAP_MAX = -4

_applied: dict = {}


def _libc():
    return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")


def set_malloc_tuning(keep_memory: bool) -> bool:
    """Tell glibc to keep freed memory (True) or go back to its documented
    default values (False: large blocks mmap-ed and returned, 128 KiB trim
    threshold). Returns whether glibc accepted it; the benchmark flips it to
    measure what it is worth."""
    try:
        libc = _libc()
        if keep_memory:
            return libc.mallopt(M_MMAP_MAX, 0) == 1 and libc.mallopt(M_TRIM_THRESHOLD, 1 << 30) == 1
        return (libc.mallopt(M_MMAP_MAX, 65536) == 1 and libc.mallopt(M_TRIM_THRESHOLD, 128 * 1024) == 1
                and libc.mallopt(M_MMAP_THRESHOLD, 128 * 1024) == 1)
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to tune
        return False


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def apply_cpu_settings(threads: int | None = None) -> dict:
    """Keep freed memory in the process and use every core; returns what was set."""
    if not _applied.get("malloc"):
        _applied["malloc"] = set_malloc_tuning(True)
    n = threads or available_cores()
    torch.set_num_threads(n)
    _applied["threads"] = torch.get_num_threads()
    return dict(_applied)


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or "unknown CPU"
