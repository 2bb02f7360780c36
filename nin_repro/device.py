"""Where a run computes and in what precision: the device, its name, the
precision `auto` picks for it, and the CPU speed settings the package applies
itself, so users need no environment variables.

Measured on this project's 2-core machines (see ../shared/compute.md and the
book's engineering notes): by default glibc returns every large freed buffer
to the OS, so each training step page-faults its activations in again; telling
malloc to keep freed memory (no mmap for large blocks, a high trim threshold)
speeds the NiN step up by ~1.5x.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

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
    """Keep freed memory in the process and use `threads` (default: every
    core); returns what was set."""
    if not _applied.get("malloc"):
        _applied["malloc"] = set_malloc_tuning(True)
    n = threads or available_cores()
    torch.set_num_threads(n)
    _applied["threads"] = torch.get_num_threads()
    return dict(_applied)


def amd_generation(family: int, model: int) -> str | None:
    """The Zen generation of an AMD CPU family and model (AMD's processor
    programming references), None for one this table does not know."""
    if family == 0x19:  # Zen 3 and Zen 4 share a family; the model ranges tell them apart
        zen4 = 0x10 <= model <= 0x1F or 0x60 <= model <= 0x7F or 0xA0 <= model <= 0xAF
        return "Zen 4" if zen4 else "Zen 3"
    if family == 0x1A and model <= 0x4F:
        return "Zen 5"
    return None


def cpuinfo_fields(cpuinfo: str | None = None) -> dict[str, str] | None:
    """The first processor's fields in /proc/cpuinfo (or in the text given),
    None where there is no such file."""
    if cpuinfo is None:
        try:
            with open("/proc/cpuinfo") as f:
                cpuinfo = f.read()
        except OSError:
            return None
    fields: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            if fields:  # the first processor's block is enough
                break
            continue
        fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_name(cpuinfo: str | None = None) -> str:
    """The CPU's model name from /proc/cpuinfo (or the text given). A virtual
    machine may show a bare brand, "AMD EPYC", for CPUs of different
    generations: there the generation is added ("AMD EPYC Zen 5"). The
    records name the machine each epoch ran on, and generations differ in
    speed (`reproduce` predicts an epoch's time from earlier epochs on the
    same kind of machine)."""
    fields = cpuinfo_fields(cpuinfo) or {}
    name = fields.get("model name") or platform.processor() or "unknown CPU"
    if fields.get("vendor_id") == "AuthenticAMD" and not any(c.isdigit() for c in name):
        try:
            generation = amd_generation(int(fields["cpu family"]), int(fields["model"]))
        except (KeyError, ValueError):
            generation = None
        name += f" {generation}" if generation else ""
    return name


def parse_device(device: str) -> torch.device | None:
    """The device a name means, its spelling checked but not whether this
    machine has it (None for "auto"): what a page that trains nothing checks."""
    if device == "auto":
        return None
    if not isinstance(device, (str, torch.device)):  # torch reads a bare number as a GPU's index
        raise ValueError(f"device must be a name ('cpu', 'cuda', 'cuda:N' or 'auto'), got {device!r}")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ValueError(f"unknown device {device!r}; use 'cpu', 'cuda', 'cuda:N' or 'auto'") from e
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(f"unsupported device {device!r}; use 'cpu', 'cuda' or 'auto'")
    if dev.type == "cpu" and dev.index is not None:  # one CPU device: its cores are threads, not indexes
        raise ValueError(f"device {device!r}: the CPU takes no index; use 'cpu'")
    return dev


def resolve_device(device: str) -> torch.device:
    """The device to train on: `parse_device`'s, present on this machine."""
    dev = parse_device(device)
    if dev is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' requested, but this machine has no CUDA GPU "
                         "(torch.cuda.is_available() is False); use --device cpu")
    if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
        count = torch.cuda.device_count()
        raise ValueError(f"device {str(dev)!r} requested, but this machine has {count} GPU{'s' * (count != 1)} "
                         f"(cuda:0 to cuda:{count - 1}); use one of those, 'cuda' or 'auto'")
    return dev


def device_name(dev: torch.device) -> str:
    if dev.type == "cuda":
        return torch.cuda.get_device_name(dev)
    return f"cpu ({cpu_name()})"


def machine_name(dev: torch.device) -> str:
    """The device and, for a CPU, the instruction set torch uses on it: the
    same CPU name covers machines of different speed (AVX2 vs AVX512)."""
    return device_name(dev) + (f", {torch.backends.cpu.get_cpu_capability()}" if dev.type == "cpu" else "")


def cpu_flags() -> set[str] | None:
    """The CPU's feature flags from /proc/cpuinfo (None where there is none)."""
    flags = (cpuinfo_fields() or {}).get("flags")
    return None if flags is None else set(flags.split())


def bf16_is_native(dev: torch.device) -> bool:
    """Whether the device computes bf16 natively. On a CPU without bf16
    instructions oneDNN emulates them, and the NiN step measured 13x slower
    in bf16 than in fp32 on an AVX2 CPU (8 vs 108 img/s). oneDNN's own check
    (`_is_mkldnn_bf16_supported`) also says yes on AVX-512 CPUs without bf16
    instructions (Skylake to Ice Lake), which emulate it, so on Linux the
    instructions themselves decide: AVX-512 bf16 or AMX. A GPU that only
    emulates bf16 (before Ampere) counts as without."""
    if dev.type == "cuda":
        try:
            return torch.cuda.is_bf16_supported(including_emulation=False)
        except TypeError:  # a torch before that argument
            return torch.cuda.is_bf16_supported()
    flags = cpu_flags()
    if flags is not None:
        return bool(flags & {"avx512_bf16", "amx_bf16"})
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch without that check: assume emulation
        return False


PRECISIONS = ("bf16", "fp32")  # what a run trains in; "auto" resolves to one of them


def resolve_precision(precision: str, dev: torch.device) -> str:
    """"auto" becomes "bf16" where the device has it natively, else "fp32"."""
    if precision == "auto":
        return "bf16" if bf16_is_native(dev) else "fp32"
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use 'auto', 'bf16' or 'fp32'")
    return precision


def autocast(dev: torch.device, precision: str):
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; use 'bf16' or 'fp32'")
    return torch.autocast(dev.type, dtype=torch.bfloat16, enabled=precision == "bf16")
