"""A run's state on disk: where it lives, how it is written and checked.

Three kinds of file, each one `torch.save`d dict with its SHA-256 in a
`<file>.sha256` line beside it (the format `sha256sum -c` reads), checked
before the file is loaded with `torch.load(weights_only=True)`:

- the **cache checkpoint** (`~/.cache/nin_repro/checkpoints/<run>.pt`),
  written after every epoch: fp32 weights, momentum, random streams, history;
- the **snapshot** (`results/checkpoints/<run>.pt`), the same state copied
  into the repository when a run stops before its end, so that a run outlives
  the machine (a cache does not survive a change of machine); it leaves the
  tree when the run finishes;
- the **weights** (`results/weights/<run>.pt`), a finished run's final weights
  in fp16 (about 2 MB for CIFAR-10), which `nin-repro evaluate` checks against
  the run's record.

A run resumes from whichever of its cache checkpoint and snapshot holds more
epochs (from the snapshot, saying so, if the cache checkpoint is corrupt; a
corrupt snapshot is an error that names the git command restoring it). A file and its
checksum are written with Ctrl-C and SIGTERM held back, so a stop never
leaves a file beside another file's checksum.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import os
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path

import torch

from . import paths
from .atomic import DiskFullError, atomic_path
from .data import sha256
from .errors import NinReproError
from .experiments import recipe_changes


class CheckpointError(NinReproError, RuntimeError):
    """A checkpoint is corrupt, torn, or belongs to another configuration."""


def cache_path(run_name: str, cache_dir=None) -> Path:
    return paths.cache_dir(cache_dir) / "checkpoints" / f"{run_name}.pt"


def snapshot_path(run_name: str, results_dir=None) -> Path:
    return paths.results_dir(results_dir) / "checkpoints" / f"{run_name}.pt"


def weights_path(run_name: str, results_dir=None) -> Path:
    return paths.results_dir(results_dir) / "weights" / f"{run_name}.pt"


def _sum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


@contextlib.contextmanager
def signals_held():
    """Hold Ctrl-C and SIGTERM back until the block ends, then act on the
    first one that came: a file and its checksum, or a finished run's weights
    and record, are written as a pair. (Blocking the signals with
    `pthread_sigmask` would not do: torch's worker threads would still take
    them, and Python runs the handler in the main thread all the same.)
    Outside the main thread, a no-op."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    came: list[int] = []
    old = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    old = {sig: h for sig, h in old.items() if h is not None}  # None: a handler not set from Python, left alone
    for sig in old:
        signal.signal(sig, lambda signum, frame: came.append(signum))
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
        for sig in dict.fromkeys(came):  # each once, in order; one whose handler ignores it gives way
            if old[sig] is not signal.SIG_IGN:
                signal.raise_signal(sig)


def save(path: Path, state: dict) -> None:
    """Write `state` and its checksum, each atomically, signals held back
    between them (a crash between the two still leaves a mismatch, reported
    as such, never a silent load of a torn file)."""
    # Both written to temporary files first, then renamed (the checksum first): a full disk stops
    # the writing before either file is replaced, since a rename needs no space. Serialized in
    # memory first: torch's own file writer reports a full disk as "unexpected pos", naming no file.
    with signals_held(), atomic_path(path) as tmp, atomic_path(_sum_path(path)) as tmp_sum:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        _write(tmp, buffer.getbuffer(), path)
        _write(tmp_sum, f"{hashlib.sha256(buffer.getbuffer()).hexdigest()}  {path.name}\n".encode(),
               _sum_path(path))


def _write(tmp: Path, data, target: Path) -> None:
    """Write `data` to `tmp`; a full disk is said of `target`, the file being written."""
    try:
        with open(tmp, "wb") as f:
            f.write(data)
    except OSError as e:
        if e.errno == errno.ENOSPC and not isinstance(e, DiskFullError):
            raise DiskFullError(target) from e
        raise


def _recorded_sum(path: Path) -> str | None:
    sums = _sum_path(path)
    # bytes that are no text make no checksum either: a mismatch, said as one, not a decoding error
    words = sums.read_bytes().decode("ascii", errors="replace").split() if sums.exists() else []
    return words[0] if words else None


def verify(path: Path, then: str) -> None:
    """Raise a CheckpointError naming `path`, followed by `then` (what
    happens or what to do), unless its SHA-256 matches the one beside it."""
    sums = _sum_path(path)
    if not sums.exists():
        raise CheckpointError(f"{path} has no checksum file {sums.name} beside it, so it cannot be trusted; {then}")
    expected, actual = _recorded_sum(path) or "", sha256(path)
    if actual != expected:
        raise CheckpointError(f"{path} is corrupt: its SHA-256 is {actual[:12]}..., {sums.name} says "
                              f"{expected[:12]}...; {then}")


def load(path: Path, then: str | None = None) -> dict:
    """The dict in `path`, after its SHA-256 matched the one beside it.
    `then`: what to do if it is corrupt or cannot be loaded (default:
    `_repair_hint`), said in the error's one line."""
    path = Path(path)
    then = then or _repair_hint(path)
    verify(path, then)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises several types for a file it cannot unpickle
        # Only the first words of torch's message: its advice to load the file with weights_only=False
        # (which runs whatever code the file holds) is never this study's answer.
        words = (str(e).strip().splitlines() or [""])[0][:200]
        if words.startswith("Weights only load failed") or "weights_only" in words:
            words = "it holds objects other than tensors and plain data, which this study never loads"
        raise CheckpointError(f"{path} matches its checksum but is not a checkpoint this study can load "
                              f"({type(e).__name__}: {words}); {then}") from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} holds a {type(state).__name__}, not a checkpoint dict; {then}")
    return state


# What every report of a run in progress reads of a training checkpoint
# (train._save_checkpoint), and what says that it is one.
STATE_TYPES = {"config": dict, "epoch": int, "history": list, "wall_seconds": (int, float)}


def load_state(path: Path, then: str | None = None) -> dict:
    """A training checkpoint (`load`), after checking it holds what resuming
    it reads: a weights file or another dict in its place is one line here,
    not a KeyError deep in a resume or a report."""
    state = load(path, then)
    wrong = [k for k, typ in STATE_TYPES.items() if not isinstance(state.get(k), typ)]
    train = state["config"].get("train") if "config" not in wrong else None
    if not (isinstance(train, dict) and isinstance(train.get("epochs"), int)):
        wrong.append("config.train.epochs")
    if wrong:
        raise CheckpointError(f"{path} matches its checksum but is no training checkpoint (its {', '.join(wrong)} "
                              f"missing or of another type: a weights file?); {then or _repair_hint(path)}")
    return state


def _repair_hint(path: Path) -> str:
    """What to do about a corrupt file: a committed one comes back from git;
    another is deleted (or replaced by a sound copy)."""
    try:
        inside = Path(path).resolve().relative_to(paths.REPO_ROOT)
    except ValueError:
        return "delete it and its .sha256, or replace both with a sound copy"
    return f"restore both from git (git checkout -- {inside} {inside}.sha256) or delete them"


def remove(path: Path) -> None:
    """Delete a checkpoint and its checksum (no error if absent)."""
    for p in (Path(path), _sum_path(Path(path))):
        if p.exists():
            p.unlink()


def same_file(a: Path, b: Path) -> bool:
    """Whether two checkpoints record the same checksum (one is a copy of the other)."""
    return _recorded_sum(Path(a)) is not None and _recorded_sum(Path(a)) == _recorded_sum(Path(b))


def copy(src: Path, dst: Path) -> None:
    """Copy a checkpoint and its checksum, each atomically, signals held back
    between them; `src` is checked first, so a damaged file never replaces a
    good copy."""
    src, dst = Path(src), Path(dst)
    verify(src, f"it was not copied to {dst}, which is left as it was")
    with signals_held(), atomic_path(dst) as tmp, atomic_path(_sum_path(dst)) as tmp_sum:
        shutil.copyfile(src, tmp)  # both copied before either is renamed, as in `save`
        tmp_sum.write_text(f"{_recorded_sum(src)}  {dst.name}\n")  # the line names the copy (`sha256sum -c`)


def newest(run_name: str, cache_dir=None, results_dir=None, warn=None) -> tuple[Path, dict] | None:
    """The checkpoint to resume `run_name` from: of its cache checkpoint and
    its repository snapshot, the one with more epochs (the cache on a tie:
    it is the one this machine wrote). None if neither exists. A corrupt
    cache checkpoint is passed over for a sound snapshot, and `warn`
    (default: a line on stderr) says so and why; with no snapshot, its error
    is raised. A corrupt snapshot (the repository's copy) always raises,
    with the git command that restores it: passed over, it would be
    overwritten at the next stop. Never skipped in silence."""
    cache, snapshot = cache_path(run_name, cache_dir), snapshot_path(run_name, results_dir)
    found, errors = [], []
    for path in (cache, snapshot):
        if not path.exists():
            continue
        if found and same_file(path, found[0][0]):
            continue  # a copy of the sound one already read (7.7 MB for CIFAR-10): read once
        try:
            found.append((path, load_state(path, _newest_hint(path, cache, snapshot))))
        except CheckpointError as e:
            if path == snapshot:  # the repository's copy can be restored from git: stop and say how
                raise
            errors.append(e)
    if errors and not found:
        raise errors[0]
    if not found:
        return None
    best = max(found, key=lambda pair: pair[1]["epoch"])
    for e in errors:
        (warn or _stderr)(f"warning: {e}; using {best[0]} (after epoch {best[1].get('epoch')}) instead")
    return best


def _newest_hint(path: Path, cache: Path, snapshot: Path) -> str:
    """What to do about a damaged cache checkpoint or snapshot of a run: the
    other copy is what the run resumes from then; a snapshot in the
    repository comes back from git."""
    if path == cache:
        return f"delete it and its .sha256 (the run then resumes from its snapshot {snapshot}, if any)"
    hint = _repair_hint(path)
    if hint.startswith("restore"):
        return hint
    return (f"it is outside the repository, so git cannot restore it: replace it and its .sha256 with a sound "
            f"copy, or delete both (the run then resumes from its cache checkpoint {cache}, if any, or pass "
            "--restart to start it again)")


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


# What a checkpoint's configuration holds besides its recipe
# (`experiments.recipe_changes`) that must match for it to resume: which run
# it is, and how many processes share its random streams. The rest (the
# description, the paper's key) are words for the book.
SAME_RUN = ("experiment", "seed", "overrides", "world_size")


def config_differences(saved: dict | None, current: dict) -> list[str]:
    """Where a checkpoint's (or a given-up attempt's) configuration and this
    run's differ in what is trained, each "setting: theirs there, this
    run's here"; empty where a checkpoint resumes."""
    if not isinstance(saved, dict):
        return ["the checkpoint stores none"]
    diffs = [f"{key}: {saved.get(key)!r} there, {current.get(key)!r} here" for key in SAME_RUN
             if saved.get(key) != current.get(key)]
    diffs += [f"{part}: none there" for part in ("train", "model")
              if isinstance(current.get(part), dict) and not isinstance(saved.get(part), dict)]
    return diffs + [f"{part + '.' if part else ''}{key}: {was!r} there, {now!r} here"
                    for part, key, was, now in recipe_changes(saved, current)]


def check_config(path: Path, state: dict, config: dict) -> dict:
    """`state`, after checking it was written by a run that trains the same
    thing (`config_differences`: a reworded description, another precision
    or a setting added to the code since, at its default, still resumes)."""
    differences = config_differences(state.get("config"), config)
    if differences:
        raise CheckpointError(f"{path} was written by a run with another configuration "
                              f"({'; '.join(differences)}); delete it or resume with "
                              "the same experiment, seed, overrides and number of processes")
    return state


def save_weights(path: Path, model_state: dict, run_name: str) -> None:
    """A finished run's weights in fp16 (floating tensors; others as they are)."""
    half = {k: v.detach().to("cpu", torch.float16) if v.is_floating_point() else v.detach().cpu()
            for k, v in model_state.items()}
    save(path, {"run": run_name, "dtype": "float16", "model": half})


def load_weights(path: Path) -> dict:
    """The fp32 state dict of a weights file written by `save_weights`."""
    state = load(path)
    if not isinstance(state.get("model"), dict):
        raise CheckpointError(f"{path} holds no 'model' weights; it is not a weights file of this study: "
                              f"{_repair_hint(path)}")
    return {k: v.float() if v.is_floating_point() else v for k, v in state["model"].items()}


def writable_folder(path: Path, what: str) -> None:
    """Fail now, with one line, if `path` could not be created or written:
    better than after an epoch of training. Leaves nothing behind."""
    path = Path(path).resolve()
    existing = path
    while not existing.exists():
        existing = existing.parent
    if not existing.is_dir():
        raise ValueError(f"cannot use {path} for {what}: {existing} is a file, not a folder; move it away or "
                         "point the setting elsewhere")
    refused = "" if os.access(existing, os.W_OK | os.X_OK) else "no write permission"
    if not refused:
        # os.access says yes to root where the filesystem still refuses (/proc, a squashed network mount):
        # make a folder there and remove it, as training would make its own
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".nin-repro-probe-", dir=existing))
        except OSError as e:
            refused = f"making a folder there failed: {e.strerror or type(e).__name__}"
    if refused:
        raise ValueError(f"cannot write {what} to {path}: {existing} is not writable ({refused}); point the "
                         "setting to a folder you can write")
