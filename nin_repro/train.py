"""The training loop: data on the device, SGD with the paper's step schedule,
bf16 autocast + channels_last, evaluation, a checkpoint each epoch (see
`checkpoint.py`), resume, and a run record and the trained weights at the end.

Read top to bottom: `train()` is the whole recipe; what it trains is one
resolved `Run` (see `run_config.py`); below it come its steps (checks,
resume, give-up, record), then one epoch (`train_epoch`) and its parts.
"""

from __future__ import annotations

import functools
import math
import os
import platform
import subprocess
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import checkpoint, distributed, lock, paths, results
from .atomic import DiskFullError
from .clock import running_seconds
from .errors import NinReproError
from .device import (apply_cpu_settings, autocast, available_cores, bf16_is_native, device_name, machine_name,
                     resolve_precision)
from .experiments import TrainConfig
from .loader import TensorLoader
from .model import NiN, count_parameters
from .preprocess import load_inputs
from .run_config import Run


class GaveUpError(NinReproError, RuntimeError):
    """A run that cannot go on as it is (resumed, it would fail again): `train`
    gives it up (`_give_up`). `reason`: what happened, for its file."""

    def __init__(self, message: str, reason: str | None = None):
        super().__init__(message)
        self.reason = reason or message


class DivergedError(GaveUpError):
    """The loss became NaN or infinite."""


class StalledError(GaveUpError):
    """A whole epoch after the warm-up at chance level (see `_stalled`)."""


class FinishedError(NinReproError, ValueError):
    """The run has a record already: nothing to train without --restart."""


# A NiN without BatchNorm can stall: every image gets the same scores and the
# training loss sits at ln(classes) for good (the first full-length CIFAR-10
# run did, without a warm-up: test error 90%, one class predicted). A whole
# epoch there after the warm-up stops the run, rather than let it spend days
# at chance; an epoch of fewer steps (a smoke run) is too short to tell.
STALL_MIN_STEPS = 50
STALL_TOLERANCE = 0.01  # of the training loss, around ln(classes)

RESUME_AND_RESTART = ("--resume continues a run from its checkpoint and --restart deletes it to start the run "
                      "again: pass one of them, not both")


def train(run: Run, *, resume: bool = False, restart: bool = False, write: bool = True, progress: bool = True,
          stop_after_epoch: int | None = None, deadline: float | None = None, log=print,
          before_training=None) -> dict | None:
    """Train a run (`run_config.resolve_run`) and return (and write) its record.

    `stop_after_epoch` / `deadline` (a `time.time()` value) end the call early
    after a completed, checkpointed epoch (for the deadline: the last epoch
    expected to end before it, at the pace of the epoch just run); it then
    returns None, leaves the run's snapshot in `results/checkpoints/` (so
    does Ctrl-C, SIGTERM or any error but a stall or a divergence, which
    give the run up: `_give_up`), and the run continues with `resume=True`,
    on this machine or another;
    `restart=True` deletes the run's checkpoint and snapshot and starts it
    again, once the data is loaded and every check has passed (a bad data
    folder deletes nothing); without either, an unfinished run is refused,
    and one whose checkpoint holds its last epoch but that has no record yet
    is completed: its record and weights are written from that checkpoint.
    `write=False` leaves the repository as it is (no record, weights,
    snapshot or given-up file written, none deleted); the cache is written.
    `before_training()`, if given, is called at that same point, before
    anything is deleted (`reproduce` moves an earlier protocol's record out
    of the way there: a bad data folder leaves it in place). Each epoch
    trains in the precision this machine computes fastest (with
    `precision="auto"`), and its history row says which. Under `torchrun`
    the run is data-parallel (see `distributed.py`); every rank returns the
    record, rank 0 writes it."""
    cfg, name, dev = run.train, run.name, run.device
    if resume and restart:
        raise ValueError(RESUME_AND_RESTART)
    ctx = distributed.setup(dev)
    log = log if ctx.is_main else (lambda *_: None)
    # The configuration keeps the precision as asked ("auto"); each epoch's
    # row records the one it trained in here.
    precision = resolve_precision(cfg.precision, dev)
    ckpt, snapshot = checkpoint.cache_path(name, run.cache_dir), checkpoint.snapshot_path(name, run.results_dir)
    if ctx.is_main:  # refuse an unwritable folder now, not after the first epoch
        _check_folders(run, ckpt, write)
    # One process per run: a second one would write (or --restart delete) the
    # same checkpoint and record.
    with lock.run_lock(ckpt.with_suffix(".lock"), enabled=ctx.is_main):
        found = _found_checkpoint(run, resume, restart, log)
        if found and not resume and not _unfinished(found[1]):
            # Its last epoch is trained: trained again from scratch, days of compute would be lost
            log(f"[{name}] {found[0]} holds all {found[1]['epoch']} epochs of the run, whose record is not "
                f"written yet: writing its record and weights from it, training nothing")
            resume = True
        threads, commit = _use_cores(dev, ctx), git_commit()
        train_loader, test_loader, n_train, n_test, source = _loaders(run, ctx)
        model, opt, step_fn = _model_and_optimizer(run, ctx)
        history, start_epoch, wall_before = [], 0, 0.0
        resumable = None  # the checkpoint this run can continue from: what a stop copies into the repository
        if resume and found:
            resumable, history, start_epoch, wall_before = _resume(found, run, model, opt, train_loader, ctx, log)
        elif resume:
            log(f"[{name}] no checkpoint at {ckpt} or {snapshot}: starting from scratch")
        # Everything that can fail on a bad input has been checked: only now is anything moved or deleted.
        if before_training is not None and ctx.is_main:
            before_training()
        if restart:
            _delete_state(run, (ckpt, snapshot) if write else (ckpt,), ctx.is_main, log)
        _announce(run, model, n_train, n_test, threads, precision, source, ctx, log)
        # Each epoch names its machine and precision: a run resumed in a later
        # session may finish on another kind of CPU, at another speed.
        machine = machine_name(dev)
        provenance = {"data_source": source, "torch_version": str(torch.__version__), "git_commit": commit,
                      "threads": threads}  # of this segment of the run, stored in each checkpoint it writes
        writes = write and ctx.is_main  # this process writes into the repository
        t_start = running_seconds()
        try:
            for epoch in range(start_epoch, cfg.epochs):
                row = train_epoch(run, step_fn, model, opt, train_loader, test_loader, epoch=epoch,
                                  precision=precision, ctx=ctx, resumable=resumable, progress=progress)
                row["machine"] = machine
                history.append(row)
                wall = wall_before + running_seconds() - t_start
                log(f"[{name}] epoch {epoch + 1}/{cfg.epochs}: train loss {row['train_loss']:.4f}, "
                    f"train error {row['train_error']:.2f}%, {_test_words(row, cfg)}, lr {row['lr']:.4g}, "
                    f"{row['train_images_per_second']:.0f} img/s, {row['seconds']:.0f} s, {precision}")
                with checkpoint.signals_held():  # a stop during the save finds `resumable` naming it
                    _save_checkpoint(ckpt, run, epoch + 1, history, wall, model, opt, train_loader, ctx, provenance)
                    resumable = ckpt
                _raise_if_stalled(run, row, epoch, len(train_loader))
                pace = results.recent_epoch_seconds(history, cfg.test_every)
                if _stop_now(epoch, cfg.epochs, pace, stop_after_epoch, deadline, ctx):
                    where = _leave_snapshot(resumable, snapshot, writes, log)
                    log(f"[{name}] stopped after epoch {epoch + 1}/{cfg.epochs}; snapshot {where}; "
                        "continue with --resume")
                    return None
        except GaveUpError as e:  # resumed, it would fail again
            kept = _give_up(run, e.reason, history, wall_before + running_seconds() - t_start, provenance,
                            resumable, ckpt, snapshot, writes, ctx.is_main)
            raise type(e)(f"{e}; {kept}. Lower the rate or lengthen the warm-up (experiments.py): `nin-repro "
                          "reproduce` then trains the run again from scratch, as does `nin-repro train "
                          f"--experiment {run.experiment.name} --seed {run.seed} --restart`", e.reason) from None
        except BaseException as e:  # Ctrl-C, SIGTERM through the CLI's handler, or any other failure
            kept = _keep_last_epoch(e, name, resumable, snapshot, writes, log)
            if kept is not None:
                raise kept from e
            raise

        wall = wall_before + running_seconds() - t_start
        if start_epoch == cfg.epochs and resumable is not None:  # nothing trained here: a finished checkpoint
            source, commit, threads = _trained_with(resumable, source, commit, threads)
        record = _record(run, model, history, wall, threads, commit, source)
        if writes:
            _write_results(run, record, model, resumable, snapshot, log)
        return record


def _announce(run: Run, model, n_train: int, n_test: int, threads: int, precision: str, source: str, ctx,
              log) -> None:
    """The run's first lines: what trains, on what, in which precision, from which data."""
    dev = run.device
    log(f"[{run.name}] {run.experiment.description}; {count_parameters(model):,} parameters; "
        f"{n_train:,} train / {n_test:,} test images; device {device_name(dev)}"
        f"{f' x {ctx.world_size} processes' if ctx.active else ''}, {threads} threads, {precision}; "
        f"data {source}")
    if precision == "bf16" and not bf16_is_native(dev):
        log(f"[{run.name}] warning: bf16 on {device_name(dev)}, which has no native bf16: expect it to be "
            "several times slower than --precision fp32 (or auto)")


def _raise_if_stalled(run: Run, row: dict, epoch: int, steps: int) -> None:
    """Give the run up (`StalledError`) if epoch `epoch` (from 0) trained at chance level."""
    cfg, classes = run.train, run.experiment.model.num_classes
    if _stalled(row, epoch, cfg, classes, steps):
        reason = (f"stalled at chance level: training loss {row['train_loss']:.4f} through epoch {epoch + 1}, "
                  f"after a {cfg.warmup_epochs:g}-epoch warm-up (ln {classes} = {math.log(classes):.4f})")
        raise StalledError(f"[{run.name}] {reason}, {_test_words(row, cfg)}", reason)


def _keep_last_epoch(e: BaseException, name: str, resumable: Path | None, snapshot: Path, write: bool,
                     log) -> DiskFullError | None:
    """A run stopped by `e` (Ctrl-C, SIGTERM, a full disk, a GPU error...):
    its last complete epoch goes into the repository either way, since a
    cache may not outlive the machine. Returns the error to raise in place
    of `e` (a full disk, told where the state is), or None to raise `e`."""
    if resumable is None:
        if isinstance(e, DiskFullError):
            return DiskFullError(e.path, "no epoch had completed, so nothing is kept; free some space and rerun")
        return None
    what = "interrupted" if isinstance(e, KeyboardInterrupt) else f"stopped by {type(e).__name__}"
    where = resumable
    try:
        where = _leave_snapshot(resumable, snapshot, write, log)
        log(f"[{name}] {what}; the last complete epoch is kept in {where}; continue with --resume")
    except (checkpoint.CheckpointError, OSError) as bad:  # report it, and still say what stopped the run
        log(f"[{name}] {what}; its state could not be left in the repository: {bad}")
    if isinstance(e, DiskFullError):
        return DiskFullError(e.path, f"the last epoch is kept in {where}; free some space, then rerun with --resume")
    return None


def _trained_with(resumable: Path, source: str, commit: str, threads: int) -> tuple[str, str, int]:
    """(data source, commit, threads) of the segment that trained a run
    completed here from its finished checkpoint, as that checkpoint stored
    them: the record names what the run trained on and with, not this call."""
    trained = checkpoint.load(resumable).get("provenance") or {}
    return trained.get("data_source", source), trained.get("git_commit", commit), trained.get("threads", threads)


def preflight(run: Run, *, resume: bool = False, restart: bool = False) -> None:
    """The checks `train` makes before it reads any data, asked of a run
    that trains later: `nin-repro train --seed 0 1` refuses a bad seed 1
    (an unfinished checkpoint without --resume, one of another
    configuration, a finished record, a run training elsewhere, an
    unwritable folder) before seed 0 trains for hours. Writes nothing in the repository."""
    # train()'s own checks before its data loads, in its order; the lock only looked at, not taken
    if resume and restart:
        raise ValueError(RESUME_AND_RESTART)
    ckpt = checkpoint.cache_path(run.name, run.cache_dir)
    _check_folders(run, ckpt, write=True)
    lock.check_free(ckpt.with_suffix(".lock"))
    _found_checkpoint(run, resume, restart, log=lambda *_: None)


def _found_checkpoint(run: Run, resume: bool, restart: bool, log) -> tuple[Path, dict] | None:
    """The checkpoint the run continues from (`_checkpoint_to_resume`;
    none with --restart), checked to be of this run's configuration."""
    found = None if restart else _checkpoint_to_resume(run, resume, log)
    if found:
        checkpoint.check_config(found[0], found[1], run.config)
    return found


def _test_words(row: dict, cfg: TrainConfig) -> str:
    if row["test_error"] is None:
        return f"not tested (the test split is evaluated every {cfg.test_every} epochs at the base rate)"
    return f"test error {row['test_error']:.2f}%"


def _stalled(row: dict, epoch: int, cfg: TrainConfig, classes: int, steps: int) -> bool:
    """Whether epoch `epoch` (from 0), a whole epoch past the warm-up, trained at chance level."""
    return (epoch + 1 > math.ceil(cfg.warmup_epochs) and steps >= STALL_MIN_STEPS
            and abs(row["train_loss"] - math.log(classes)) < STALL_TOLERANCE)


def _give_up(run: Run, reason: str, history: list[dict], wall: float, provenance: dict, resumable: Path | None,
             ckpt: Path, snapshot: Path, write: bool, is_main: bool) -> str:
    """A run that cannot go on: its epochs go to results/stalls/ (`write`),
    where the book shows it as given up and `reproduce` passes over it until
    its recipe changes; its state after its last epoch (for a divergence, the
    last finite one) stays in the cache only (moved there if the repository's
    snapshot held it), since a snapshot would show it as in progress. Returns
    where each now is, in words."""
    if resumable is None:
        return "no epoch had completed, so nothing is kept"
    if not is_main:
        return f"its state after epoch {len(history)} is kept in {ckpt}"
    with checkpoint.signals_held():
        if resumable != ckpt:  # it resumed from the snapshot and failed in its first epoch here
            checkpoint.copy(resumable, ckpt)
        words = f"its state after epoch {len(history)} is kept in {ckpt}"
        if not write:
            return words
        try:
            kept = results.write_given_up({"run": run.name, "config": run.config, "history": history,
                                           "wall_seconds": wall, "epochs_trained": len(history),
                                           "given_up_because": reason, "provenance": provenance}, run.results_dir)
        except OSError as e:  # the failure is still what the user hears about
            return f"{words}; its history could not be kept in {results.stalls_dir(run.results_dir)} ({e})"
        if snapshot.exists():
            checkpoint.remove(snapshot)
    return f"{words}, its history in {kept}, which the book shows as given up"


def _check_folders(run: Run, ckpt: Path, write: bool) -> None:
    checkpoint.writable_folder(ckpt.parent, "checkpoints")
    if write:
        for folder, what in ((results.runs_dir(run.results_dir), "run records"),
                             (checkpoint.snapshot_path(run.name, run.results_dir).parent, "snapshots"),
                             (checkpoint.weights_path(run.name, run.results_dir).parent, "trained weights")):
            checkpoint.writable_folder(folder, what)


def _delete_state(run: Run, files: tuple[Path, ...], is_main: bool, log) -> None:
    """--restart: delete the run's checkpoint and snapshot, unread (a corrupt
    one is no reason to refuse); a record stays until the new one replaces it."""
    for path in files if is_main else ():  # one process deletes (under torchrun: rank 0)
        if path.exists():
            log(f"[{run.name}] --restart: deleting {path}")
            checkpoint.remove(path)
    if results.record_path(run.name, run.results_dir).exists():
        log(f"[{run.name}] --restart: training a finished run again; its record is replaced at the end")


def _checkpoint_to_resume(run: Run, resume: bool, log) -> tuple[Path, dict] | None:
    """The newer of the run's checkpoint in the cache and its snapshot in the
    repository, if any; refused unless `resume` when the run it holds is
    unfinished. A run that has a record is trained again only with
    --restart, or resumed where its checkpoint is a later training of it
    (`redo_in_progress`): never from a checkpoint older than its record,
    nor from scratch over it."""
    found = checkpoint.newest(run.name, run.cache_dir, run.results_dir, warn=log)
    record_path = results.record_path(run.name, run.results_dir)
    if record_path.exists():
        record = results.read_record(record_path)
        if not redo_in_progress(record, found[1] if found else None):
            older = (f"; its checkpoint at {found[0]} is from before that record"
                     if found and _unfinished(found[1]) else "")
            raise FinishedError(f"{run.name} has finished already ({record['test_error']:.2f}% after "
                                f"{record['epochs']} epochs, record {record_path}){older}: nothing to resume; pass "
                                "--restart to train it again")
        if not resume and _unfinished(found[1]):  # a redo under way (one that finished is completed)
            raise ValueError(f"{run.name} is being trained again (after epoch {found[1]['epoch']}, at {found[0]}; "
                             f"its earlier record {record_path} stays until the redo ends): pass --resume to "
                             "continue it, or --restart to start it again")
    if found and not resume and _unfinished(found[1]):
        raise ValueError(f"{run.name} has an unfinished checkpoint (after epoch {found[1]['epoch']}) at "
                         f"{found[0]}: pass --resume to continue it, or --restart to start it again")
    return found


def _unfinished(state: dict) -> bool:
    return state["epoch"] < state["config"]["train"]["epochs"]


def redo_in_progress(record: dict, state: dict | None) -> bool:
    """Whether `state` (a run's newest checkpoint) is a later training of a
    run that has `record` whose own record is not written yet: its epochs
    are not the record's (a checkpoint left from before the record, e.g. in
    the cache of a machine the run has since moved off, repeats them; so
    does the checkpoint the record was written from). A redo that finished
    but could not write its record (a full disk) counts: resumed, it only
    writes it."""
    if state is None:
        return False
    return state["history"] != record["history"][:len(state["history"])]


def _use_cores(dev: torch.device, ctx) -> int:
    """Set (on a CPU) and return the number of threads this process computes with."""
    # Under torchrun on a CPU, the processes share the cores.
    threads = max(1, available_cores() // int(os.environ.get("LOCAL_WORLD_SIZE", ctx.world_size)))
    return apply_cpu_settings(threads)["threads"] if dev.type == "cpu" else torch.get_num_threads()


def _loaders(run: Run, ctx) -> tuple[TensorLoader, TensorLoader, int, int, str]:
    """This rank's share of the preprocessed data, on the device, as (train,
    test) loaders; the sizes of the whole splits; where the data came from."""
    cfg = run.train
    train_x, train_y, test_x, test_y, source = load_inputs(run.experiment, run.data_dir, run.cache_dir,
                                                           run.download, run.subset)
    n_train, n_test = len(train_y), len(test_y)
    if run.subset and n_train < run.subset:  # official files that are a user's own smaller set
        raise ValueError(f"subset {run.subset} is more than the {n_train:,} training images in the data ({source}): "
                         f"pass at most {n_train}")
    train_x, train_y, test_x, test_y = (distributed.shard(t, ctx) for t in (train_x, train_y, test_x, test_y))
    train_loader = TensorLoader(train_x, train_y, cfg.batch_size // ctx.world_size, train=True,
                                translate=cfg.translate, flip=cfg.flip, seed=run.seed + 1_000_003 * ctx.rank,
                                device=run.device, channels_last=cfg.channels_last)
    test_loader = TensorLoader(test_x, test_y, cfg.eval_batch_size, train=False, device=run.device,
                               channels_last=cfg.channels_last)
    if len(train_loader) == 0:
        raise ValueError(f"{n_train} training images is fewer than one batch of {cfg.batch_size}")
    return train_loader, test_loader, n_train, n_test, source


def _model_and_optimizer(run: Run, ctx):
    """The freshly initialised net, its SGD optimizer, and the function a
    training step calls (the net, wrapped for data parallelism and compiled
    where asked)."""
    cfg = run.train
    torch.manual_seed(run.seed)  # the same initial weights on every rank
    model = NiN(run.experiment.model).to(run.device)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if ctx.active:
        torch.manual_seed(run.seed + 1_000_003 * ctx.rank)  # each rank its own dropout masks
    opt = torch.optim.SGD(param_groups(model, cfg), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
    ddp_model = torch.nn.parallel.DistributedDataParallel(model) if ctx.active else model
    step_fn = torch.compile(ddp_model) if cfg.compile else ddp_model
    return model, opt, step_fn


def _resume(found: tuple[Path, dict], run: Run, model, opt, train_loader: TensorLoader, ctx, log
            ) -> tuple[Path, list[dict], int, float]:
    """Load a checkpoint of this run's configuration (`_found_checkpoint`)
    into the net, the optimizer and the random streams: (its path, the
    history, the epochs done, the seconds spent)."""
    path, state = found
    try:  # its config matched this run's; a file of another version (its checksum sound) may still not fit
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
    except (RuntimeError, KeyError, ValueError, TypeError) as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else ""
        raise checkpoint.CheckpointError(
            f"{path}: its weights and optimizer state do not fit this run's net ({type(e).__name__}: {first}); "
            "start the run again with --restart") from e
    try:
        set_rng_state(state["rng"][ctx.rank], run.device, train_loader)
    except (RuntimeError, KeyError, TypeError) as e:
        raise checkpoint.CheckpointError(
            f"{path}: its random streams cannot be restored here ({type(e).__name__}: {e}); it may come from a "
            "version whose loader drew on the GPU; start the run again with --restart") from e
    log(f"[{run.name}] resumed from {path} after epoch {state['epoch']}")
    return path, state["history"], state["epoch"], state["wall_seconds"]


def _save_checkpoint(path: Path, run: Run, epochs_done: int, history: list[dict], wall: float, model, opt,
                     train_loader: TensorLoader, ctx, provenance: dict) -> None:
    """Everything a later call needs to continue after this epoch, every
    rank's random streams included (rank 0 writes it), and the provenance of
    the segment that wrote it (data copy, torch, commit, threads), which the
    book shows for a run in progress."""
    rngs = distributed.all_gather_object(rng_state(run.device, train_loader), ctx)
    if ctx.is_main:
        checkpoint.save(path, {"config": run.config, "epoch": epochs_done, "history": history,
                               "wall_seconds": wall, "model": model.state_dict(),
                               "optimizer": opt.state_dict(), "rng": rngs, "provenance": provenance})
    distributed.barrier(ctx)


def _stop_now(epoch: int, epochs: int, epoch_seconds: float, stop_after_epoch: int | None,
              deadline: float | None, ctx) -> bool:
    # Stop before an epoch that, at the pace just measured, would end past
    # the deadline: a budget sized to a session then never loses an epoch.
    stop = epoch + 1 < epochs and (
        (stop_after_epoch is not None and epoch + 1 >= stop_after_epoch)
        or (deadline is not None and time.time() + epoch_seconds > deadline))
    return distributed.all_sum(torch.tensor(float(stop)), ctx).item() > 0  # rank clocks may disagree


def _record(run: Run, model, history: list[dict], wall: float, threads: int, commit: str, source: str) -> dict:
    """The finished run's record: its result, where and with what it ran, its
    configuration and its history."""
    return {
        "experiment": run.experiment.name, "dataset": run.experiment.dataset, "seed": run.seed,
        "test_error": history[-1]["test_error"], "epochs": run.train.epochs,
        "device": device_name(run.device), "threads": threads, "world_size": run.world_size,
        "torch_version": torch.__version__, "python_version": platform.python_version(),
        "git_commit": commit, "wall_seconds": wall,
        "images_per_second": results.mean_train_speed(history),
        "parameters": count_parameters(model), "data_source": source,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": run.config, "history": history,
    }


def _write_results(run: Run, record: dict, model, resumable: Path, snapshot: Path, log) -> None:
    """The weights first, then the record (which marks the run done), then
    the snapshot leaves: a stop or a full disk on the way never leaves a run
    marked done without its weights. Ctrl-C and SIGTERM wait until the end.
    If the weights or the record cannot be written, the finished state
    (`resumable`) goes into the repository as the snapshot, where `reproduce`
    sees it even beside an earlier record (a redo) and resumes it, to write
    only what is missing."""
    weights = checkpoint.weights_path(run.name, run.results_dir)
    with checkpoint.signals_held():
        try:
            checkpoint.save_weights(weights, model.state_dict(), run.name)
            path = results.write_record(record, run.results_dir)
        except Exception as e:
            where = resumable
            try:
                where = _leave_snapshot(resumable, snapshot, True, log)
            except (OSError, checkpoint.CheckpointError) as bad:
                log(f"[{run.name}] its finished state could not be left in the repository either: {bad}")
            if isinstance(e, DiskFullError):
                raise DiskFullError(e.path, f"the last epoch is kept in {where}; free some space, then rerun: its "
                                            "record and weights are written from it") from e
            raise
        checkpoint.remove(snapshot)  # finished: its weights and record replace it in the repository
    log(f"[{run.name}] test error {record['test_error']:.2f}% after {run.train.epochs} epochs; record {path}; "
        f"weights {weights}")


def _leave_snapshot(resumable: Path, snapshot: Path, write: bool, log=print) -> Path:
    """Copy the checkpoint a stopped run continues from into the repository
    (unless it is that copy already, or the repository's holds more epochs:
    one brought back from another machine while this one trained, or cannot
    be read: git can restore it); return where the run's state now is.
    Ctrl-C and SIGTERM wait until it is done: a second Ctrl-C is common."""
    if not write or resumable == snapshot:
        return resumable
    with checkpoint.signals_held():
        if snapshot.exists():
            if checkpoint.same_file(resumable, snapshot):
                return snapshot
            try:
                theirs = checkpoint.load_state(snapshot)["epoch"]
            except checkpoint.CheckpointError as e:
                log(f"warning: {e}; it is left as it is, and this run's state stays in {resumable}")
                return resumable
            mine = checkpoint.load(resumable)["epoch"]
            if theirs > mine:
                log(f"warning: {snapshot} holds {theirs} epochs, more than the {mine} of this run's {resumable}; "
                    "left as it is (two trainings of one run: keep the longer)")
                return resumable
        checkpoint.copy(resumable, snapshot)
    return snapshot


def learning_rate(cfg: TrainConfig, epoch: int, step: int, steps_per_epoch: int) -> float:
    """Linear warm-up, then the base rate divided by 10 at each milestone
    (the paper's), or, for `schedule="onecycle"`, linear decay to 0."""
    progress = epoch + step / steps_per_epoch
    if cfg.schedule == "onecycle":
        up = max(cfg.warmup_epochs, 1 / steps_per_epoch)
        now = progress + 1 / steps_per_epoch  # the rate after this step
        if now <= up:
            return cfg.lr * now / up
        return cfg.lr * max(0.0, (cfg.epochs - now) / (cfg.epochs - up)) if cfg.epochs > up else 0.0
    if cfg.schedule != "step":
        raise ValueError(f"unknown schedule {cfg.schedule!r}; use 'step' or 'onecycle'")
    lr = cfg.lr * 0.1 ** sum(epoch >= m for m in cfg.milestones())
    if cfg.warmup_epochs and progress < cfg.warmup_epochs:
        lr *= (progress + 1 / steps_per_epoch) / cfg.warmup_epochs
    return lr


def train_epoch(run: Run, step_fn, model, opt, train_loader: TensorLoader, test_loader: TensorLoader, *,
                epoch: int, precision: str, ctx, resumable: Path | None, progress: bool) -> dict:
    """One epoch (`epoch`, from 0) of SGD, then evaluation on the test split
    where `TrainConfig.tests_after` says so: the history row (its test
    fields None where not). `resumable` is the checkpoint a divergence would
    leave."""
    cfg, dev, run_name = run.train, run.device, run.name
    model.train()
    loss_sum = torch.zeros((), device=dev)
    wrong = torch.zeros((), device=dev, dtype=torch.long)
    steps = len(train_loader)
    wall0, t0 = time.perf_counter(), running_seconds()  # running: a pause (SIGSTOP) is not the epoch's time
    bar = tqdm(train_loader, total=steps, desc=f"epoch {epoch + 1}/{cfg.epochs}", unit="batch",
               disable=not (progress and ctx.is_main), leave=False, mininterval=2.0)
    for step, (x, y) in enumerate(bar):
        lr = learning_rate(cfg, epoch, step, steps)
        for group in opt.param_groups:
            group["lr"] = lr * group["lr_mult"]
        with autocast(dev, precision):
            logits = step_fn(x)
            loss = F.cross_entropy(logits.float(), y, label_smoothing=cfg.label_smoothing)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        loss_sum += loss.detach()
        wrong += (logits.detach().argmax(1) != y).sum()
        # Check for divergence every 50 steps (a check forces a GPU sync);
        # summed over ranks, so all of them stop together.
        if (step + 1) % 50 == 0 or step + 1 == steps:
            total = distributed.all_sum(loss_sum, ctx).item()
            if not math.isfinite(total):
                reason = f"loss became {total} in epoch {epoch + 1} (step {step + 1})"
                raise DivergedError(f"[{run_name}] {reason}", reason)
            if progress and ctx.is_main:
                seen = (step + 1) * cfg.batch_size
                bar.set_postfix(loss=f"{total / ctx.world_size / (step + 1):.3f}",
                                img_s=f"{seen / (running_seconds() - t0):.0f}")
    train_seconds = running_seconds() - t0
    t1 = running_seconds()
    tested = cfg.tests_after(epoch)
    if tested:
        test_loss_sum, test_wrong = evaluate_split(model, test_loader, dev, precision)
    else:
        test_loss_sum = test_wrong = torch.zeros((), device=dev)
    eval_seconds = running_seconds() - t1
    stopped_seconds = max(0.0, (time.perf_counter() - wall0) - (train_seconds + eval_seconds))
    sums = distributed.all_sum(torch.stack([loss_sum.double(), wrong.double(), test_loss_sum.double(),
                                            test_wrong.double()]), ctx).tolist()
    n_seen, n_tested = steps * cfg.batch_size, len(test_loader.labels) * ctx.world_size
    return {"epoch": epoch + 1, "lr": lr, "train_loss": sums[0] / (steps * ctx.world_size),
            "train_error": 100.0 * sums[1] / n_seen,
            "test_loss": sums[2] / n_tested if tested else None,
            "test_error": 100.0 * sums[3] / n_tested if tested else None,
            "seconds": train_seconds + eval_seconds,
            "train_images_per_second": n_seen / train_seconds,
            "eval_images_per_second": n_tested / eval_seconds if tested else None,
            "stopped_seconds": round(stopped_seconds, 1), "precision": precision}


@functools.lru_cache(maxsize=None)
def git_commit() -> str:
    """The commit of the code this process runs: read once, at the first run,
    so later runs of a long-lived process do not pick up a newer checkout.
    A copy of the tree without its git folder (a lent GPU machine gets one)
    takes the commit its launcher recorded in `NIN_GIT_COMMIT`."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=paths.REPO_ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "nin_repro"],
                               cwd=paths.REPO_ROOT, capture_output=True, text=True).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return os.environ.get("NIN_GIT_COMMIT") or "unknown"


def param_groups(model: NiN, cfg: TrainConfig) -> list[dict]:
    """The optimizer's parameter groups, each with its `lr_mult` on the
    schedule's rate and its weight decay: biases at `bias_lr_mult` (and
    without decay unless `bias_decay`), the class-map convolution at
    `class_map_lr_mult`, as the layers of the published Caffe recipe set them
    (with the defaults: one group, every parameter alike)."""
    class_maps = {id(p) for p in model.class_map_layer().parameters()}
    groups: dict[tuple, list] = {}
    for name, p in model.named_parameters():
        bias = name.endswith("bias")
        mult = (cfg.bias_lr_mult if bias else 1.0) * (cfg.class_map_lr_mult if id(p) in class_maps else 1.0)
        decay = 0.0 if bias and not cfg.bias_decay else cfg.weight_decay
        groups.setdefault((mult, decay), []).append(p)
    return [{"params": ps, "lr_mult": mult, "weight_decay": decay} for (mult, decay), ps in groups.items()]


def evaluate_split(model, loader: TensorLoader, dev: torch.device, precision: str
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed loss, number wrong) over the loader's split, as device tensors
    (`nin_repro.evaluate` scores a finished run's weights with it)."""
    model.eval()
    loss_sum = torch.zeros((), device=dev)
    wrong = torch.zeros((), device=dev, dtype=torch.long)
    with torch.no_grad(), autocast(dev, precision):
        for x, y in loader:
            logits = model(x).float()
            loss_sum += F.cross_entropy(logits, y, reduction="sum")
            wrong += (logits.argmax(1) != y).sum()
    return loss_sum, wrong


def rng_state(dev: torch.device, loader: TensorLoader) -> dict:
    """This process's random state: dropout (torch) and data order/augmentation (loader)."""
    return {"torch": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state(dev) if dev.type == "cuda" else None,
            "loader": loader.generator.get_state()}


def set_rng_state(state: dict, dev: torch.device, loader: TensorLoader) -> None:
    """Restore `rng_state`'s streams, also on another kind of device: the
    loader's stream lives on the CPU, so it continues anywhere; a run that
    moves onto a GPU seeds the GPU's dropout stream from its CPU stream (a
    CPU snapshot holds none), one that moves off a GPU leaves it behind."""
    torch.set_rng_state(state["torch"])
    if dev.type == "cuda":
        if state.get("cuda") is not None:
            torch.cuda.set_rng_state(state["cuda"], dev)
        else:
            torch.cuda.manual_seed(int(torch.randint(2**62, (1,))))
    loader.generator.set_state(state["loader"])
