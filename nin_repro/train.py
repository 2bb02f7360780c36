"""The training loop: data on the device, SGD with the paper's step schedule,
bf16 autocast + channels_last, evaluation, a checkpoint each epoch (see
`checkpoint.py`), resume, and a run record and the trained weights at the end.

Read top to bottom: `train()` is the whole recipe.
"""

from __future__ import annotations

import functools
import math
import os
import platform
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from . import checkpoint, distributed, paths, results
from .device import (apply_cpu_settings, autocast, available_cores, bf16_is_native, device_name, machine_name,
                     resolve_device, resolve_precision)
from .experiments import Experiment, TrainConfig, get as get_experiment, learning_rate
from .loader import TensorLoader
from .model import NiN, count_parameters
from .preprocess import load_inputs


class DivergedError(RuntimeError):
    """The loss became NaN or infinite."""


@functools.lru_cache(maxsize=None)
def git_commit() -> str:
    """The commit of the code this process runs: read once, at the first run,
    so later runs of a long-lived process do not pick up a newer checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=paths.REPO_ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "nin_repro"],
                               cwd=paths.REPO_ROOT, capture_output=True, text=True).stdout.strip()
        return head + ("-dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


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


def evaluate(model, loader: TensorLoader, dev: torch.device, precision: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(summed loss, number wrong) over the loader's split, as device tensors."""
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
    torch.set_rng_state(state["torch"])
    if dev.type == "cuda" and state.get("cuda") is not None:
        torch.cuda.set_rng_state(state["cuda"], dev)
    loader.generator.set_state(state["loader"])


MAX_SEED = 2**31 - 1


def _check_arguments(seed, epochs, subset, batch_size) -> None:
    """Bad numbers are refused before any data is read, each with one line."""
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be an integer from 0 to {MAX_SEED}, got {seed!r}")
    for name, value in (("epochs", epochs), ("subset", subset), ("batch size", batch_size)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def train(experiment: str | Experiment, seed: int = 0, device: str = "cpu", *, epochs: int | None = None,
          subset: int | None = None, data_dir=None, cache_dir=None, results_dir=None, download: bool = False,
          resume: bool = False, restart: bool = False, precision: str | None = None,
          compile: bool | None = None,
          batch_size: int | None = None, write: bool = True, progress: bool = True,
          stop_after_epoch: int | None = None, deadline: float | None = None, log=print) -> dict | None:
    """Train one run of an experiment and return (and write) its record.

    `stop_after_epoch` / `deadline` (a `time.time()` value) end the call early
    after a completed, checkpointed epoch (for the deadline: the last epoch
    expected to end before it, at the pace of the epoch just run); it then
    returns None, leaves the run's snapshot in `results/checkpoints/` (also
    on Ctrl-C or SIGTERM), and the run continues with `resume=True`, on this
    machine or another; `restart=True` deletes an unfinished run's state and
    starts it again (without either, an unfinished run is refused). Each epoch trains in the precision this machine
    computes fastest (with `precision="auto"`), and its history row says which.
    Under `torchrun` the run is data-parallel (see `distributed.py`); every
    rank returns the record, rank 0 writes it."""
    exp = get_experiment(experiment) if isinstance(experiment, str) else experiment
    _check_arguments(seed, epochs, subset, batch_size)
    overrides = {k: v for k, v in dict(epochs=epochs, subset=subset, batch=batch_size).items()
                 if v is not None and not (k == "epochs" and v == exp.train.epochs)}
    cfg = replace(exp.train, epochs=epochs or exp.train.epochs, batch_size=batch_size or exp.train.batch_size,
                  precision=precision or exp.train.precision,
                  compile=exp.train.compile if compile is None else compile)
    dev = resolve_device(device)
    if distributed.launched_by_torchrun() and dev.type == "cuda":
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
        torch.cuda.set_device(dev)
    # The configuration keeps the precision as asked ("auto"); each epoch's
    # row records the one it trained in here.
    epoch_precision = resolve_precision(cfg.precision, dev)
    ctx = distributed.setup(dev)
    if cfg.batch_size % ctx.world_size:
        raise ValueError(f"batch size {cfg.batch_size} is not divisible by the {ctx.world_size} processes")
    local_batch = cfg.batch_size // ctx.world_size
    log = log if ctx.is_main else (lambda *_: None)
    config = {"experiment": exp.name, "dataset": exp.dataset, "preprocess": exp.preprocess,
              "paper_key": exp.paper_key, "model": exp.model.to_dict(), "train": cfg.to_dict(),
              "seed": seed, "overrides": overrides, "description": exp.description}
    if ctx.active:
        config["world_size"] = ctx.world_size
    run_name = results.run_name(exp.name, seed, overrides)
    ckpt = checkpoint.cache_path(run_name, cache_dir)
    snapshot = checkpoint.snapshot_path(run_name, results_dir)
    if ctx.is_main:  # refuse an unwritable folder now, not after the first epoch
        checkpoint.writable_folder(ckpt.parent, "checkpoints")
        if write:
            for folder, what in ((results.runs_dir(results_dir), "run records"), (snapshot.parent, "snapshots"),
                                 (checkpoint.weights_path(run_name, results_dir).parent, "trained weights")):
                checkpoint.writable_folder(folder, what)
    # One process per run: a second one would write (or --restart delete) the
    # same checkpoint and record.
    with checkpoint.run_lock(ckpt.with_suffix(".lock"), enabled=ctx.is_main):
        found = checkpoint.newest(run_name, cache_dir, results_dir)
        if found and restart:
            log(f"[{run_name}] --restart: deleting its checkpoint after epoch {found[1].get('epoch')} ({found[0]})")
            for path in (ckpt, snapshot):
                checkpoint.remove(path)
            found = None
        if found and not resume and found[1]["epoch"] < found[1]["config"]["train"]["epochs"]:
            raise ValueError(f"{run_name} has an unfinished checkpoint (after epoch {found[1]['epoch']}) at "
                             f"{found[0]}: pass --resume to continue it, or --restart to start it again")

        # Under torchrun on a CPU, the processes share the cores.
        threads = max(1, available_cores() // int(os.environ.get("LOCAL_WORLD_SIZE", ctx.world_size)))
        settings = apply_cpu_settings(threads) if dev.type == "cpu" else {"threads": torch.get_num_threads()}
        commit = git_commit()
        torch.manual_seed(seed)  # the same initial weights on every rank
        train_x, train_y, test_x, test_y, source = load_inputs(exp, data_dir, cache_dir, download, subset)
        n_train, n_test = len(train_y), len(test_y)
        train_x, train_y, test_x, test_y = (distributed.shard(t, ctx) for t in (train_x, train_y, test_x, test_y))
        train_loader = TensorLoader(train_x, train_y, local_batch, train=True, translate=cfg.translate,
                                    flip=cfg.flip, seed=seed + 1_000_003 * ctx.rank, device=dev,
                                    channels_last=cfg.channels_last)
        test_loader = TensorLoader(test_x, test_y, cfg.eval_batch_size, train=False, device=dev,
                                   channels_last=cfg.channels_last)
        if len(train_loader) == 0:
            raise ValueError(f"{n_train} training images is fewer than one batch of {cfg.batch_size}")

        model = NiN(exp.model).to(dev)
        if cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if ctx.active:
            torch.manual_seed(seed + 1_000_003 * ctx.rank)  # each rank its own dropout masks
        opt = torch.optim.SGD(param_groups(model, cfg), lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov)
        ddp_model = torch.nn.parallel.DistributedDataParallel(model) if ctx.active else model
        step_fn = torch.compile(ddp_model) if cfg.compile else ddp_model

        history, start_epoch, wall_before = [], 0, 0.0
        resumable = None  # the checkpoint this run can continue from: what a stop copies into the repository
        if resume and found:
            resumable, state = found
            checkpoint.check_config(resumable, state, config)
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["optimizer"])
            set_rng_state(state["rng"][ctx.rank], dev, train_loader)
            history, start_epoch, wall_before = state["history"], state["epoch"], state["wall_seconds"]
            log(f"[{run_name}] resumed from {resumable} after epoch {start_epoch}")
        elif resume:
            log(f"[{run_name}] no checkpoint at {ckpt} or {snapshot}: starting from scratch")

        log(f"[{run_name}] {exp.description}; {count_parameters(model):,} parameters; "
            f"{n_train:,} train / {n_test:,} test images; device {device_name(dev)}"
            f"{f' x {ctx.world_size} processes' if ctx.active else ''}, "
            f"{settings.get('threads')} threads, {epoch_precision}; data {source}")
        if epoch_precision == "bf16" and not bf16_is_native(dev):
            log(f"[{run_name}] warning: bf16 on {device_name(dev)}, which has no native bf16: expect it to be "
                "several times slower than --precision fp32 (or auto)")
        # Each epoch names its machine and precision: a run resumed in a later
        # session may finish on another kind of CPU, at another speed.
        machine = machine_name(dev)
        t_start = time.perf_counter()
        try:
            for epoch in range(start_epoch, cfg.epochs):
                row = train_epoch(step_fn, model, opt, train_loader, test_loader, cfg, epoch_precision, epoch, dev,
                                  ctx, run_name, resumable, progress)
                row["machine"] = machine
                history.append(row)
                wall = wall_before + time.perf_counter() - t_start
                log(f"[{run_name}] epoch {epoch + 1}/{cfg.epochs}: train loss {row['train_loss']:.4f}, "
                    f"train error {row['train_error']:.2f}%, test error {row['test_error']:.2f}%, lr {row['lr']:.4g}, "
                    f"{row['train_images_per_second']:.0f} img/s, {row['seconds']:.0f} s, {epoch_precision}")
                rngs = distributed.all_gather_object(rng_state(dev, train_loader), ctx)
                if ctx.is_main:
                    checkpoint.save(ckpt, {"config": config, "epoch": epoch + 1, "history": history,
                                           "wall_seconds": wall, "model": model.state_dict(),
                                           "optimizer": opt.state_dict(), "rng": rngs})
                resumable = ckpt
                distributed.barrier(ctx)
                # Stop before an epoch that, at the pace just measured, would end past
                # the deadline: a budget sized to a session then never loses an epoch.
                stop = epoch + 1 < cfg.epochs and (
                    (stop_after_epoch is not None and epoch + 1 >= stop_after_epoch)
                    or (deadline is not None and time.time() + row["seconds"] > deadline))
                if distributed.all_sum(torch.tensor(float(stop)), ctx).item() > 0:  # rank clocks may disagree
                    where = _leave_snapshot(resumable, snapshot, write and ctx.is_main)
                    log(f"[{run_name}] stopped after epoch {epoch + 1}/{cfg.epochs}; snapshot {where}; "
                        "continue with --resume")
                    return None
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM through the CLI's handler
            if resumable is not None:
                where = _leave_snapshot(resumable, snapshot, write and ctx.is_main)
                log(f"[{run_name}] interrupted; the last complete epoch is kept in {where}; continue with --resume")
            raise

        wall = wall_before + time.perf_counter() - t_start
        record = {
            "experiment": exp.name, "dataset": exp.dataset, "seed": seed,
            "test_error": history[-1]["test_error"], "epochs": cfg.epochs,
            "device": device_name(dev), "threads": int(settings.get("threads", torch.get_num_threads())),
            "world_size": ctx.world_size,
            "torch_version": torch.__version__, "python_version": platform.python_version(),
            "git_commit": commit, "wall_seconds": wall,
            "images_per_second": sum(h["train_images_per_second"] for h in history) / len(history),
            "parameters": count_parameters(model), "data_source": source,
            "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "config": config, "history": history,
        }
        if write and ctx.is_main:
            path = results.write_record(record, results_dir)
            weights = checkpoint.weights_path(run_name, results_dir)
            checkpoint.save_weights(weights, model.state_dict(), run_name)
            checkpoint.remove(snapshot)  # finished: its weights and record replace it in the repository
            log(f"[{run_name}] test error {record['test_error']:.2f}% after {cfg.epochs} epochs; record {path}; "
                f"weights {weights}")
        return record


def _leave_snapshot(resumable: Path, snapshot: Path, write: bool) -> Path:
    """Copy the checkpoint a stopped run continues from into the repository
    (unless it is that copy already); return where the run's state now is."""
    if write and resumable != snapshot:
        checkpoint.copy(resumable, snapshot)
        return snapshot
    return resumable


def train_epoch(step_fn, model, opt, train_loader: TensorLoader, test_loader: TensorLoader, cfg: TrainConfig,
                precision: str, epoch: int, dev: torch.device, ctx, run_name: str, resumable, progress: bool
                ) -> dict:
    """One epoch of SGD, then evaluation on the test split: the history row."""
    model.train()
    loss_sum = torch.zeros((), device=dev)
    wrong = torch.zeros((), device=dev, dtype=torch.long)
    steps = len(train_loader)
    t0 = time.perf_counter()
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
                kept = (f"the last good checkpoint (after epoch {epoch}) is kept at {resumable}"
                        if resumable else "no epoch had completed, so nothing is kept")
                raise DivergedError(f"[{run_name}] loss became {total} in epoch {epoch + 1} (step {step + 1}); "
                                    f"{kept}. Lower the learning rate or lengthen the warm-up.")
            if progress and ctx.is_main:
                seen = (step + 1) * cfg.batch_size
                bar.set_postfix(loss=f"{total / ctx.world_size / (step + 1):.3f}",
                                img_s=f"{seen / (time.perf_counter() - t0):.0f}")
    train_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    test_loss_sum, test_wrong = evaluate(model, test_loader, dev, precision)
    eval_seconds = time.perf_counter() - t1
    sums = distributed.all_sum(torch.stack([loss_sum.double(), wrong.double(), test_loss_sum.double(),
                                            test_wrong.double()]), ctx).tolist()
    n_seen, n_tested = steps * cfg.batch_size, len(test_loader.labels) * ctx.world_size
    return {"epoch": epoch + 1, "lr": lr, "train_loss": sums[0] / (steps * ctx.world_size),
            "train_error": 100.0 * sums[1] / n_seen,
            "test_loss": sums[2] / n_tested, "test_error": 100.0 * sums[3] / n_tested,
            "seconds": train_seconds + eval_seconds,
            "train_images_per_second": n_seen / train_seconds,
            "eval_images_per_second": n_tested / eval_seconds,
            "precision": precision}
